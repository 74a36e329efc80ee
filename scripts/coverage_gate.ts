/**
 * Prints the line-coverage table of the last `deno task test` run (`.coverage/`) and fails
 * below the threshold (default 85%, `FESS_COVERAGE_MIN`). Tests, benches and scripts are not
 * product code and are excluded.
 *
 * @module
 */
const min = Number(Deno.env.get("FESS_COVERAGE_MIN") ?? "85");
const out = await new Deno.Command(Deno.execPath(), {
  args: ["coverage", ".coverage", "--exclude=(tests|bench|scripts)/"],
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "inherit",
}).output();
const table = new TextDecoder().decode(out.stdout);
const enc = new TextEncoder();
await Deno.stdout.write(enc.encode(table));
if (!out.success) Deno.exit(out.code || 1);
// Row: "| All files | branch% | line% |" (Deno 2 prints branch then line coverage).
const row = table.split("\n").find((l) => /All files/.test(l));
const cells = row?.split("|").map((c) => c.trim()).filter((c) => c !== "");
const line = cells ? Number(cells[cells.length - 1]) : NaN;
if (!Number.isFinite(line)) {
  await Deno.stderr.write(enc.encode("coverage: could not read the 'All files' row\n"));
  Deno.exit(1);
}
const verdict = line >= min ? "ok" : "FAILED";
await Deno.stdout.write(
  enc.encode(`coverage: ${line.toFixed(1)}% of lines (minimum ${min}%) ${verdict}\n`),
);
if (line < min) Deno.exit(1);
