import assert from "node:assert/strict";
import { join } from "node:path";
import { createDetector } from "../shared/detector/detector.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import { type ModelManifest, ModelManifestSchema } from "../shared/models/manifest.ts";
import { sha256Hex } from "../shared/onnx/model_file.ts";
import { buildRawHeadFixture } from "./support/onnx_fixture.ts";

// A 3-class raw-head "RTMDet" on a 64x64 input whose logits shift by the mean input value.
// Normalisation mean 0 / std 255 makes a black frame shift 0 and a white frame shift 1.
const FIXTURE = buildRawHeadFixture({
  inputSize: 64,
  numClasses: 3,
  cells: [
    // prior (24, 16): person 2, car 1; box (16, 8, 32, 32)
    { stride: 8, row: 2, col: 3, logits: [2, 1, -10], distances: [8, 8, 8, 16] },
    // prior (32, 16): person 1.5; box (20, 8, 36, 32) overlaps the first at IoU 0.6 -> suppressed
    { stride: 8, row: 2, col: 4, logits: [1.5, -10, -10], distances: [12, 8, 4, 16] },
    // prior (16, 16): dog 0; box (0, 0, 32, 32)
    { stride: 16, row: 1, col: 1, logits: [-10, -10, 0], distances: [16, 16, 16, 16] },
  ],
});

async function fixtureManifest(): Promise<ModelManifest> {
  return ModelManifestSchema.parse({
    id: "fixture-raw-head",
    task: "object_detection",
    file: "fixture-raw-head.onnx",
    sha256: await sha256Hex(FIXTURE),
    download: null,
    source: { license: "test" },
    input: { name: "input", size: 64, sizes: [64], dynamic_batch: true },
    preprocess: {
      resize: "letterbox",
      pad_value: 114,
      channel_order: "bgr",
      mean: [0, 0, 0],
      std: [255, 255, 255],
    },
    output: {
      format: "rtmdet_raw_head",
      strides: [8, 16, 32],
      scores: ["cls_8", "cls_16", "cls_32"],
      boxes: ["reg_8", "reg_16", "reg_32"],
      nms_iou: 0.5,
    },
    classes: ["person", "car", "dog"],
  });
}

const frame = (value: number): RawFrame => ({
  data: new Uint8Array(128 * 128 * 3).fill(value),
  width: 128,
  height: 128,
  channels: 3,
  layout: "rgb",
});

// Hand-computed: boxes x2 (128 -> 64 letterbox), scores sigmoid(logit + shift).
const EXPECTED_BLACK = [
  ["person", 0.8808, [32, 16, 64, 64]],
  ["car", 0.7311, [32, 16, 64, 64]],
  ["dog", 0.5, [0, 0, 64, 64]],
];
const EXPECTED_WHITE = [
  ["person", 0.9526, [32, 16, 64, 64]],
  ["car", 0.8808, [32, 16, 64, 64]],
  ["dog", 0.7311, [0, 0, 64, 64]],
];

for (const backend of ["native", "wasm", "webgpu"] as const) {
  Deno.test(`raw-head model on ${backend}: batch of 2 decoded, sigmoid + class-aware NMS, boxes in frame pixels`, async () => {
    const dir = await Deno.makeTempDir();
    await Deno.writeFile(join(dir, "fixture-raw-head.onnx"), FIXTURE);
    const detector = await createDetector({
      modelsDir: dir,
      manifest: await fixtureManifest(),
      backend,
      scoreThreshold: 0.3,
      logger: silentLogger,
    });
    try {
      assert.equal(detector.backend, backend);
      assert.equal(detector.model.format, "rtmdet_raw_head");
      const [black, white] = await detector.detect([frame(0), frame(255)]);
      assert.equal(black!.batch_size, 2, "both frames went through one session run");
      const simple = (r: typeof black) =>
        r!.detections.map((
          d,
        ) => [d.class_name, d.score, [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2]]);
      assert.deepEqual(simple(black), EXPECTED_BLACK);
      assert.deepEqual(simple(white), EXPECTED_WHITE);
    } finally {
      await detector.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("raw-head model: per-class thresholds and the allow-list filter decoded detections", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(join(dir, "fixture-raw-head.onnx"), FIXTURE);
  const manifest = await fixtureManifest();
  try {
    const thresholds = await createDetector({
      modelsDir: dir,
      manifest,
      backend: "native",
      scoreThreshold: 0.3,
      classThresholds: { dog: 0.6 },
      logger: silentLogger,
    });
    const [black, white] = await thresholds.detect([frame(0), frame(255)]);
    assert.deepEqual(black!.detections.map((d) => d.class_name), ["person", "car"]);
    assert.deepEqual(white!.detections.map((d) => d.class_name), ["person", "car", "dog"]);
    await thresholds.close();
    const allow = await createDetector({
      modelsDir: dir,
      manifest,
      backend: "native",
      classAllowList: ["car"],
      maxBatch: 1,
      logger: silentLogger,
    });
    const results = await allow.detect([frame(0), frame(255)]);
    assert.deepEqual(results.map((r) => [r.batch_size, r.detections.map((d) => d.class_name)]), [[
      1,
      [
        "car",
      ],
    ], [1, ["car"]]]);
    await allow.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
