/**
 * `deno task models`: makes sure every model in `models/*.json` is present in FESS_MODELS_DIR
 * (default `./models`; CI uses `../shared/models`) with the right sha256,
 * downloading what is missing with a progress bar.
 *
 *   deno run -A scripts/models.ts [--check] [--dir DIR] [id ...]
 *   deno run -A scripts/models.ts --config     # the models the settings name (container start)
 *
 * Exit status 0 when every requested model is OK (or present but unverifiable), 1 otherwise.
 * Models without a download URL (COCO exports made by hand) are skipped unless named.
 *
 * `--config` reads the settings like the service does (FESS_* variables, FESS_CONFIG_FILE) and
 * ensures the models they name in `detector.models_dir`: the detector model must be there
 * (exit 1 otherwise); face models are needed only with `faces.enabled`, and one that cannot be
 * had is reported and left to the service, which starts with face recognition unavailable and
 * says so on /health. A file with the wrong sha256 always fails. Every failure line names the
 * file and where it comes from (URL), so `docker logs` tells the operator what to fix.
 *
 * @module
 */
import { getModelManifest, listModelManifests } from "../models/registry.ts";
import { ConfigError, loadConfig } from "../shared/config.ts";
import type { ModelManifest } from "../shared/models/manifest.ts";
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

/** The models the settings name: the detector's (required) and, with faces on, the faces'. */
function modelsOfConfig(): { dir: string; required: string[]; optional: string[] } | null {
  try {
    const config = loadConfig(Deno.env.toObject());
    const faces = config.faces.enabled
      ? [config.faces.detector_model_id, config.faces.embedder_model_id]
      : [];
    return {
      dir: config.detector.models_dir,
      required: [config.detector.model_id],
      optional: faces,
    };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    write(`fess: ${err.message}\n`);
    return null;
  }
}

function sourceOf(m: ModelManifest): string {
  return m.download ? m.download.url : "no download URL: copy the file in (docs/DETECTOR_SETUP.md)";
}

async function ensureFromConfig(checkOnly: boolean): Promise<number> {
  const wanted = modelsOfConfig();
  if (!wanted) return 78; // EX_CONFIG, as the service exits on bad settings
  write(`models dir: ${wanted.dir}\n`);
  let bad = 0;
  for (
    const [id, required] of [
      ...wanted.required.map((id) => [id, true] as const),
      ...wanted.optional.map((id) => [id, false] as const),
    ]
  ) {
    let manifest: ModelManifest;
    try {
      manifest = getModelManifest(id);
    } catch (err) {
      write(`FAIL ${id}: ${(err as Error).message}\n`);
      bad++;
      continue;
    }
    const result = await ensureModel({ manifest, modelsDir: wanted.dir, checkOnly });
    const fine = result.status === "ok" || result.status === "downloaded" ||
      result.status === "unverified";
    const fatal = !fine && (required || result.status === "mismatch");
    if (fatal) bad++;
    const mark = fine ? "OK  " : fatal ? "FAIL" : "WARN";
    const named = result.message.includes(manifest.download?.url ?? "no download URL");
    const tail = (fine || named ? "" : ` (source: ${sourceOf(manifest)})`) +
      (fine || fatal ? "" : " (face recognition will be unavailable)");
    write(`${mark} ${id.padEnd(20)} ${result.status.padEnd(10)} ${result.message}${tail}\n`);
  }
  return bad === 0 ? 0 : 1;
}

async function main(args: string[]): Promise<number> {
  let dir = Deno.env.get("FESS_MODELS_DIR") ?? "models";
  let checkOnly = false;
  let fromConfig = false;
  const ids: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--check") checkOnly = true;
    else if (a === "--config") fromConfig = true;
    else if (a === "--dir") dir = args[++i] ?? dir;
    else if (a === "--help" || a === "-h") {
      write("usage: deno task models [--check] [--dir DIR] [model-id ...] | [--check] --config\n");
      return 0;
    } else ids.push(a);
  }
  if (fromConfig) return await ensureFromConfig(checkOnly);
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
