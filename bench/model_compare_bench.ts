/**
 * Per-frame model latency of RTMDet-nano (person, mmdeploy end2end with NMS in the graph)
 * against YOLOv8n (80 classes, and a one-class build like the person model; no NMS in the
 * graph) at 320 and 640, on onnxruntime-node and onnxruntime-web (wasm) in Deno, through the
 * product's own session wrapper. Input is a real vtest frame, letterboxed with nearest
 * sampling (the model's run time does not depend on the resampling, only on the picture's
 * content through RTMDet's in-graph NMS). Times are `session.run` only; YOLOv8n's NMS outside
 * the graph is not counted, which favours YOLOv8n slightly.
 *
 * YOLOv8n comes from bench/yolo/export_yolov8n.py (random weights from yolov8n.yaml):
 *
 *   bash bench/yolo/setup_venv.sh && .cache/yolo-venv/bin/python bench/yolo/export_yolov8n.py
 *   deno run -A bench/model_compare_bench.ts [--quick] [--backends native,wasm] [--yolo-dir DIR]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { silentLogger } from "../shared/logger.ts";
import type { OnnxBackend } from "../shared/onnx/backend.ts";
import { createOnnxSession } from "../shared/onnx/session.ts";
import {
  modelsDir,
  repoRoot,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
} from "../tests/support/media.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    backends: { type: "string", default: "native,wasm" },
    sizes: { type: "string", default: "320,640" },
    "yolo-dir": { type: "string" },
  },
});
const yoloDir = values["yolo-dir"] ?? join(repoRoot(), ".cache/yolo");
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));

interface ModelSpec {
  readonly name: string;
  readonly path: (size: number) => string;
  /** BGR with mmdeploy mean/std, or RGB / 255. */
  readonly norm: "rtmdet" | "yolo";
}

const MODELS: ModelSpec[] = [
  {
    name: "rtmdet-nano-person",
    path: () => join(modelsDir(), "rtmdet-nano-person.onnx"),
    norm: "rtmdet",
  },
  { name: "yolov8n (80 classes)", path: (s) => join(yoloDir, `yolov8n-${s}.onnx`), norm: "yolo" },
  {
    name: "yolov8n (1 class)",
    path: (s) => join(yoloDir, `yolov8n-1cls-${s}.onnx`),
    norm: "yolo",
  },
];

/** Nearest-sampled top-left letterbox of a BGR frame into a CHW float tensor. */
function tensorOf(bgr: Uint8Array, size: number, norm: ModelSpec["norm"]): Float32Array {
  const out = new Float32Array(3 * size * size);
  const scale = Math.min(size / VTEST_WIDTH, size / VTEST_HEIGHT);
  const w = Math.round(VTEST_WIDTH * scale);
  const h = Math.round(VTEST_HEIGHT * scale);
  const mean = norm === "rtmdet" ? [103.53, 116.28, 123.675] : [0, 0, 0];
  const std = norm === "rtmdet" ? [57.375, 57.12, 58.395] : [255, 255, 255];
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    // RTMDet takes BGR planes, YOLO RGB planes.
    const src = norm === "rtmdet" ? c : 2 - c;
    const pad = (114 - mean[c]!) / std[c]!;
    for (let y = 0; y < size; y++) {
      const sy = Math.min(VTEST_HEIGHT - 1, Math.floor(y / scale));
      for (let x = 0; x < size; x++) {
        const i = c * plane + y * size + x;
        if (x >= w || y >= h) {
          out[i] = pad;
          continue;
        }
        const sx = Math.min(VTEST_WIDTH - 1, Math.floor(x / scale));
        out[i] = (bgr[(sy * VTEST_WIDTH + sx) * 3 + src]! - mean[c]!) / std[c]!;
      }
    }
  }
  return out;
}

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

function iterations(backend: OnnxBackend, size: number): number {
  const base = backend === "native" ? 40 : 10;
  const n = size >= 640 ? Math.ceil(base / 3) : base;
  return values.quick ? Math.max(3, Math.ceil(n / 4)) : n;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  if (!(await exists(MODELS[1]!.path(320)))) {
    throw new Error(
      `YOLOv8n ONNX not found in ${yoloDir}: run bash bench/yolo/setup_venv.sh && ` +
        `.cache/yolo-venv/bin/python bench/yolo/export_yolov8n.py`,
    );
  }
  const [frame] = await vtestFramesBgr([200]);
  const sizes = values.sizes.split(",").map(Number);
  const backends = values.backends.split(",") as OnnxBackend[];
  write(
    `vtest frame 200 letterboxed; session.run only, batch 1; ${navigator.hardwareConcurrency} cores; ms`,
  );
  write("| model | size | backend | runs | p50 ms | p95 ms | p50 ÷ rtmdet-nano |");
  write("|---|---|---|---|---|---|---|");
  for (const backend of backends) {
    for (const size of sizes) {
      let base: number | undefined;
      for (const m of MODELS) {
        const path = m.path(size);
        if (!(await exists(path))) {
          write(`| ${m.name} | ${size} | ${backend} | - | missing ${path} | | |`);
          continue;
        }
        const session = await createOnnxSession({ modelPath: path, backend, logger: silentLogger });
        const feeds = {
          [session.inputNames[0]!]: {
            data: tensorOf(frame!, size, m.norm),
            dims: [1, 3, size, size],
          },
        };
        for (let i = 0; i < 3; i++) await session.run(feeds);
        const times: number[] = [];
        const n = iterations(backend, size);
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          await session.run(feeds);
          times.push(performance.now() - t);
        }
        await session.close();
        const p50 = pct(times, 50);
        base ??= m.norm === "rtmdet" ? p50 : undefined;
        write(
          `| ${m.name} | ${size} | ${backend} | ${n} | ${p50.toFixed(2)} | ${
            pct(times, 95).toFixed(2)
          } | ${base ? (p50 / base).toFixed(2) + "x" : "-"} |`,
        );
      }
    }
  }
}
