/**
 * `deno task models`: makes sure every model in `models/*.json` is present in FESS_MODELS_DIR
 * (default `./models`; CI uses `../shared/models`) with the right sha256,
 * downloading what is missing with a progress bar.
 *
 *   deno run -A scripts/models.ts [--check] [--dir DIR] [id ...]
 *
 * Exit status 0 when every requested model is OK (or present but unverifiable), 1 otherwise.
 * Models without a download URL (COCO exports made by hand) are skipped unless named.
 *
 * @module
 */
import { listModelManifests } from "../models/registry.ts";
import { ensureModel, type Progress } from "../shared/models/ensure.ts";

const encoder = new TextEncoder();
const write = (s: string) => Deno.stderr.writeSync(encoder.encode(s));

function bar(p: Progress): void {
  const mb = (n: number) => (n / 1048576).toFixed(1);
  if (p.total) {
    const f = Math.min(1, p.received / p.total);
    const filled = Math.round(f * 30);
    write(
      `\r  ${p.id} [${"#".repeat(filled)}${"-".repeat(30 - filled)}] ${(f * 100).toFixed(0)}% ${
        mb(p.received)
      }/${mb(p.total)} MiB`,
    );
  } else {
    write(`\r  ${p.id} ${mb(p.received)} MiB`);
  }
}

async function main(args: string[]): Promise<number> {
  let dir = Deno.env.get("FESS_MODELS_DIR") ?? "models";
  let checkOnly = false;
  const ids: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--check") checkOnly = true;
    else if (a === "--dir") dir = args[++i] ?? dir;
    else if (a === "--help" || a === "-h") {
      write("usage: deno task models [--check] [--dir DIR] [model-id ...]\n");
      return 0;
    } else ids.push(a);
  }
  const manifests = listModelManifests().filter((m) => ids.length === 0 || ids.includes(m.id));
  const unknown = ids.filter((id) => !manifests.some((m) => m.id === id));
  if (unknown.length) {
    write(`unknown model id(s): ${unknown.join(", ")}\n`);
    return 1;
  }
  write(`models dir: ${dir}\n`);
  let bad = 0;
  for (const manifest of manifests) {
    let drew = false;
    const result = await ensureModel({
      manifest,
      modelsDir: dir,
      checkOnly,
      onProgress: (p) => {
        drew = true;
        bar(p);
      },
    });
    if (drew) write("\n");
    // Export-only models (no URL) are optional unless asked for by id.
    const optionalMissing = result.status === "missing" && !manifest.download && ids.length === 0;
    const mark = result.status === "ok" || result.status === "downloaded"
      ? "OK  "
      : result.status === "unverified"
      ? "??  "
      : optionalMissing
      ? "SKIP"
      : "FAIL";
    if (mark === "FAIL") bad++;
    write(`${mark} ${manifest.id.padEnd(20)} ${result.status.padEnd(10)} ${result.message}\n`);
  }
  return bad === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
