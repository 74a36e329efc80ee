/**
 * Aligned plain-text tables for benchmarks that print columns rather than Markdown.
 *
 * @module
 */

/** Writes `rows` (the first is the header) to stdout, each column right-aligned. */
export function printTable(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const out = rows.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join("  ")).join("\n");
  Deno.stdout.writeSync(new TextEncoder().encode(out + "\n"));
}
