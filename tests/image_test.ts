/**
 * The image's size, estimated without a Docker engine: docker/prune_node_modules.sh runs on a
 * copy of this checkout's node_modules (what the Dockerfile's build stage installs), the pruned
 * copy must still run both inference backends and sharp exactly as before from a fresh DENO_DIR
 * with `--cached-only` (as the runtime stage does), and the layers' files are summed: the base
 * image (debian slim + deno + tini) plus what the Dockerfile copies.
 */
import assert from "node:assert/strict";
import { mediaPath, modelsDir } from "./support/media.ts";
import { runTool } from "./support/tools.ts";

const root = new URL("../", import.meta.url).pathname;
const MiB = 1024 * 1024;
/** debian:bookworm-slim (amd64), uncompressed, as `docker images` reports it. */
const DEBIAN_SLIM_BYTES = 74.8e6;
/** tini static binary added by denoland/deno:debian. */
const TINI_BYTES = 0.9e6;
const LIMIT_BYTES = 2e9;

/** Sum of the sizes of regular files under `path` (symlinks not followed), as a layer holds. */
async function treeBytes(path: string): Promise<number> {
  const info = await Deno.lstat(path);
  if (info.isFile) return info.size;
  if (!info.isDirectory) return 0;
  let sum = 0;
  for await (const e of Deno.readDir(path)) sum += await treeBytes(`${path}/${e.name}`);
  return sum;
}

async function findAll(path: string, test: (p: string) => boolean, out: string[] = []) {
  for await (const e of Deno.readDir(path)) {
    const p = `${path}/${e.name}`;
    if (test(p)) out.push(p);
    if (e.isDirectory && !e.isSymlink) await findAll(p, test, out);
  }
  return out;
}

// Runs both backends on one photo and decodes it with sharp: what the service loads.
const SMOKE = `
import { getModelManifest } from "./models/registry.ts";
import { createDetector } from "./shared/detector/detector.ts";
import { decodeImage } from "./shared/image/decode.ts";
import { silentLogger } from "./shared/logger.ts";
const frame = await decodeImage(await Deno.readFile(Deno.args[0]), { expect: "jpeg" });
const out = {};
for (const backend of ["native", "wasm"]) {
  const d = await createDetector({ modelsDir: Deno.args[1], manifest: getModelManifest("rtmdet-nano-person"),
    backend, logger: silentLogger, warmup: false });
  const [r] = await d.detect([frame]);
  out[d.backend] = r.detections.map((x) => x.class_name + ":" + x.score.toFixed(3)).sort();
  await d.close();
}
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(out)));
`;

/** A copy of the runtime stage's files and node_modules (hard links where possible). */
async function checkoutCopy(dir: string, files: readonly string[]): Promise<string> {
  await Deno.mkdir(`${dir}/scripts`, { recursive: true });
  await Deno.mkdir(`${dir}/docker`);
  for (const p of files) {
    const cp = await runTool("cp", ["-a", `${root}${p}`, `${dir}/${p}`]);
    assert.equal(cp.code, 0, cp.output);
  }
  let nm = await runTool("cp", ["-al", `${root}node_modules`, `${dir}/node_modules`]);
  if (nm.code !== 0) {
    await Deno.remove(`${dir}/node_modules`, { recursive: true }).catch(() => {});
    nm = await runTool("cp", ["-a", `${root}node_modules`, `${dir}/node_modules`]);
  }
  assert.equal(nm.code, 0, nm.output);
  await Deno.writeTextFile(`${dir}/smoke.ts`, SMOKE);
  return dir;
}

async function smoke(dir: string, env: Record<string, string> = {}): Promise<unknown> {
  const out = await runTool(
    Deno.execPath(),
    ["run", "-A", "--cached-only", "smoke.ts", await mediaPath("group-13-people.jpg"), modelsDir()],
    // The copies are deleted afterwards: their coverage would only be noise in the report.
    { cwd: dir, env, unset: ["DENO_COVERAGE_DIR"] },
  );
  assert.equal(out.code, 0, out.output);
  return JSON.parse(out.output.slice(out.output.indexOf("{")));
}

Deno.test(
  "the pruned node_modules runs both backends like the full one, and the image stays far below 2 GB",
  {
    sanitizeResources: false,
  },
  async () => {
    const tmp = await Deno.makeTempDir({ prefix: "fess-image-" });
    try {
      // The files the runtime stage copies (besides node_modules).
      const copied = [
        "deno.json",
        "deno.lock",
        "main.ts",
        "functions",
        "shared",
        "models",
        "scripts/models.ts",
        "docker/entrypoint.sh",
      ];
      const full = await checkoutCopy(`${tmp}/full`, copied);
      const app = await checkoutCopy(`${tmp}/app`, copied);
      const fullBytes = await treeBytes(`${app}/node_modules`);
      const prune = await runTool("sh", [
        `${root}docker/prune_node_modules.sh`,
        `${app}/node_modules`,
      ]);
      assert.equal(prune.code, 0, prune.output);
      const prunedBytes = await treeBytes(`${app}/node_modules`);

      const leftovers = await findAll(
        `${app}/node_modules/.deno`,
        (p) =>
          /\/bin\/napi-v\d+\/(darwin|win32)$/.test(p) || /linuxmusl-[^/]*\/lib$/.test(p) ||
          /onnxruntime-web\/dist\/.*\.map$/.test(p),
      );
      assert.deepEqual(leftovers, [], "other platforms' binaries survived the prune");

      // Same detections before and after, the pruned copy from an empty DENO_DIR, offline.
      const before = await smoke(full);
      const denoDir = `${tmp}/deno-dir`;
      const after = await smoke(app, { DENO_DIR: denoDir });
      assert.deepEqual(after, before);
      const b = before as { native: string[]; wasm: string[] };
      assert.ok(b.native.length > 5 && b.wasm.length > 5, JSON.stringify(before));

      const denoBytes = (await Deno.stat(Deno.execPath())).size;
      let appBytes = 0;
      for (const p of copied) appBytes += await treeBytes(`${app}/${p}`);
      const cacheBytes = await treeBytes(denoDir);
      const rows: [string, number][] = [
        ["debian:bookworm-slim (base)", DEBIAN_SLIM_BYTES],
        ["deno binary (base)", denoBytes],
        ["tini (base)", TINI_BYTES],
        ["node_modules, pruned", prunedBytes],
        ["sources and manifests", appBytes],
        ["DENO_DIR compile cache", cacheBytes],
      ];
      const total = rows.reduce((s, [, n]) => s + n, 0);
      const table = [
        `node_modules before prune: ${(fullBytes / MiB).toFixed(1)} MiB`,
        ...rows.map(([k, n]) => `${k.padEnd(30)} ${(n / MiB).toFixed(1).padStart(8)} MiB`),
        `${"estimated image".padEnd(30)} ${(total / MiB).toFixed(1).padStart(8)} MiB`,
      ].join("\n");
      // deno-lint-ignore no-console
      console.log(table);
      assert.ok(prunedBytes < fullBytes / 2, "the prune should at least halve node_modules");
      assert.ok(total < LIMIT_BYTES, `estimated image ${total} bytes is over 2 GB`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
);
