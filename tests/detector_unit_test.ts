import assert from "node:assert/strict";
import { createClassFilter } from "../shared/detector/class_filter.ts";
import { decodeEnd2End } from "../shared/detector/decode_end2end.ts";
import { decodeRawHead, logit } from "../shared/detector/decode_raw_head.ts";
import {
  channelSources,
  computeLetterbox,
  letterboxInto,
  type Normalization,
} from "../shared/detector/letterbox.ts";
import { classAwareNms, iouAt } from "../shared/detector/nms.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import type { OnnxTensor } from "../shared/onnx/session.ts";

const RTMDET: Normalization = {
  channelOrder: "bgr",
  mean: [103.53, 116.28, 123.675],
  std: [57.375, 57.12, 58.395],
  padValue: 114,
};
const close = (a: number, b: number, eps = 1e-5) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

Deno.test("letterbox of a 768x576 vtest frame into 320 keeps the aspect ratio: 320x240, scale 5/12", () => {
  const g = computeLetterbox(768, 576, 320, 320);
  assert.equal(g.resizedWidth, 320);
  assert.equal(g.resizedHeight, 240);
  close(g.scaleX, 320 / 768);
  close(g.scaleY, 240 / 576);
});

Deno.test("letterbox rounds sizes half-up like mmcv and recomputes per-axis scales from them", () => {
  // 1024x707 at 320: scale 0.3125, 707*0.3125 = 220.94 -> 221.
  const g = computeLetterbox(1024, 707, 320, 320);
  assert.deepEqual([g.resizedWidth, g.resizedHeight], [320, 221]);
  close(g.scaleY, 221 / 707);
  // Portrait frames are limited by height; small frames are upscaled.
  const p = computeLetterbox(300, 600, 640, 640);
  assert.deepEqual([p.resizedWidth, p.resizedHeight], [320, 640]);
  const u = computeLetterbox(100, 50, 1280, 1280);
  assert.deepEqual([u.resizedWidth, u.resizedHeight], [1280, 640]);
});

Deno.test("preprocessing writes BGR, normalised, CHW, with 114 padding bottom/right", () => {
  // A 2x1 RGB frame (red, blue) letterboxed into 4x4: resized to 4x2 (bilinear), rows 2-3 padded.
  const frame: RawFrame = {
    data: Uint8Array.from([255, 0, 0, 0, 0, 255]),
    width: 2,
    height: 1,
    channels: 3,
    layout: "rgb",
  };
  const out = new Float32Array(3 * 16).fill(NaN);
  const g = letterboxInto(frame, 4, 4, RTMDET, out);
  assert.deepEqual([g.resizedWidth, g.resizedHeight], [4, 2]);
  // cv2 INTER_LINEAR, 2 -> 4 columns: source x = (x+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25
  // -> weights of the right pixel 0 (clamped), 0.25, 0.75, 1 (clamped) -> red 255, 191, 64, 0.
  const red = [255, 191, 64, 0]; // Math.round(255*0.75)=191, round(63.75)=64
  const blue = red.map((r) => 255 - r);
  const plane = 16;
  for (let y = 0; y < 2; y++) {
    for (let x = 0; x < 4; x++) {
      close(out[0 * plane + y * 4 + x]!, (blue[x]! - 103.53) / 57.375, 1e-4); // B first
      close(out[1 * plane + y * 4 + x]!, (0 - 116.28) / 57.12, 1e-4); // G
      close(out[2 * plane + y * 4 + x]!, (red[x]! - 123.675) / 58.395, 1e-4); // R last
    }
  }
  for (let i = 8; i < 16; i++) {
    close(out[i]!, (114 - 103.53) / 57.375, 1e-5);
    close(out[plane + i]!, (114 - 116.28) / 57.12, 1e-5);
    close(out[2 * plane + i]!, (114 - 123.675) / 58.395, 1e-5);
  }
});

Deno.test("preprocessing pads the right side of portrait frames and writes at a batch offset", () => {
  const frame: RawFrame = {
    data: new Uint8Array(1 * 2).fill(200),
    width: 1,
    height: 2,
    channels: 1,
    layout: "gray",
  };
  const out = new Float32Array(2 * 3 * 4).fill(NaN);
  letterboxInto(frame, 2, 2, RTMDET, out, 12); // second image of a batch
  assert.ok(out.slice(0, 12).every(Number.isNaN), "first batch slot untouched");
  // column 0 = gray 200 in every channel, column 1 = pad
  close(out[12]!, (200 - 103.53) / 57.375, 1e-5);
  close(out[13]!, (114 - 103.53) / 57.375, 1e-5);
  close(out[12 + 8 + 2]!, (200 - 123.675) / 58.395, 1e-5);
});

Deno.test("channel sources swap RGB<->BGR, keep matching orders, and replicate gray", () => {
  assert.deepEqual(channelSources("rgb", "bgr"), [2, 1, 0]);
  assert.deepEqual(channelSources("rgba", "bgr"), [2, 1, 0]);
  assert.deepEqual(channelSources("bgr", "bgr"), [0, 1, 2]);
  assert.deepEqual(channelSources("rgb", "rgb"), [0, 1, 2]);
  assert.deepEqual(channelSources("gray", "bgr"), [0, 0, 0]);
});

Deno.test("IoU of hand-computed boxes", () => {
  const boxes = [0, 0, 10, 10, 5, 0, 15, 10, 20, 20, 30, 30];
  close(iouAt(boxes, 0, 1), 50 / 150);
  assert.equal(iouAt(boxes, 0, 2), 0);
  close(iouAt(boxes, 0, 0), 1);
});

Deno.test("NMS keeps the best of overlapping boxes and never suppresses across classes", () => {
  // 0 and 1 overlap at IoU 0.818 (same class 0): 1 is suppressed. 2 is the same box as 0 but class 1.
  // 3 overlaps 0 at IoU 1/3 < 0.5: kept.
  const boxes = [0, 0, 10, 10, 0, 0, 10, 11, 0, 0, 10, 10, 5, 0, 15, 10];
  const scores = [0.9, 0.95, 0.5, 0.6];
  const classes = [0, 0, 1, 0];
  const kept = classAwareNms(boxes, scores, classes, { iouThreshold: 0.5, maxDetections: 100 });
  assert.deepEqual(kept, [1, 3, 2]);
  assert.deepEqual(classAwareNms(boxes, scores, classes, { iouThreshold: 0.5, maxDetections: 2 }), [
    1,
    3,
  ]);
});

const tensor = (dims: number[], values: number[]): OnnxTensor => ({
  type: "float32",
  dims,
  data: Float32Array.from(values),
});

Deno.test("raw-head decoding: priors at x*s, sigmoid scores, distances, multi-class, NMS, mapping back", () => {
  // Input 16x16, strides 8 (2x2 grid) and 16 (1x1 grid), 2 classes, frame 32x32 (scale 0.5).
  const filter = createClassFilter({ classes: ["person", "car"], scoreThreshold: 0.3 });
  const bg = -10;
  // stride 8: cell (row 0, col 1) -> prior (8, 0): person logit 2 (0.8808), car logit 0 (0.5).
  //           cell (row 1, col 1) -> prior (8, 8): person logit 1 (0.7311), overlapping box.
  const cls8 = [bg, 2, bg, 1, /* car: */ bg, 0, bg, bg];
  // distances (l, t, r, b) per plane: cell1 = (4, 0, 4, 8) -> box (4, 0, 12, 8);
  // cell3 = (4, 8, 4, 0) -> box (4, 0, 12, 8) identical -> suppressed for person.
  const reg8 = [1, 4, 1, 4, /* t */ 1, 0, 1, 8, /* r */ 1, 4, 1, 4, /* b */ 1, 8, 1, 0];
  // stride 16: one cell prior (0, 0), car logit 3 (0.9526), distances in strides (0,0,1,1) -> (0,0,16,16).
  const cls16 = [bg, 3];
  const reg16 = [0, 0, 1, 1];
  const g = computeLetterbox(32, 32, 16, 16);
  const dets = decodeRawHead(
    [
      {
        stride: 8,
        scores: tensor([1, 2, 2, 2], cls8),
        boxes: tensor([1, 4, 2, 2], reg8.map((v) => v / 8)),
      },
      { stride: 16, scores: tensor([1, 2, 1, 1], cls16), boxes: tensor([1, 4, 1, 1], reg16) },
    ],
    0,
    g,
    filter,
    { scoreActivation: "sigmoid", distanceUnit: "strides", iouThreshold: 0.6, maxDetections: 10 },
  );
  assert.deepEqual(dets, [
    { class_id: 1, class_name: "car", score: 0.9526, bbox: { x1: 0, y1: 0, x2: 32, y2: 32 } },
    { class_id: 0, class_name: "person", score: 0.8808, bbox: { x1: 8, y1: 0, x2: 24, y2: 16 } },
    { class_id: 1, class_name: "car", score: 0.5, bbox: { x1: 8, y1: 0, x2: 24, y2: 16 } },
  ]);
});

Deno.test("raw-head decoding reads the right batch item and honours per-class thresholds", () => {
  const filter = createClassFilter({
    classes: ["a", "b"],
    scoreThreshold: 0.5,
    classThresholds: { b: 0.99 },
  });
  // Batch of 2, one stride-8 cell in an 8x8 input; item 1 has higher logits.
  const scores = tensor([2, 2, 1, 1], [0.1, 3, /* item 1 */ 2, 5]);
  const boxes = tensor([2, 4, 1, 1], [0, 0, 8, 8, /* item 1 */ 0, 0, 4, 4]);
  const g = computeLetterbox(8, 8, 8, 8);
  const opts = {
    scoreActivation: "sigmoid",
    distanceUnit: "pixels",
    iouThreshold: 0.5,
    maxDetections: 5,
  } as const;
  const d0 = decodeRawHead([{ stride: 8, scores, boxes }], 0, g, filter, opts);
  assert.deepEqual(d0.map((d) => [d.class_name, d.score]), [["a", 0.525]]);
  const d1 = decodeRawHead([{ stride: 8, scores, boxes }], 1, g, filter, opts);
  assert.deepEqual(d1.map((d) => [d.class_name, d.score, d.bbox.x2]), [["b", 0.9933, 4], [
    "a",
    0.8808,
    4,
  ]]);
});

Deno.test("logit inverts the sigmoid and handles the 0/1 edges", () => {
  close(1 / (1 + Math.exp(-logit(0.3))), 0.3, 1e-12);
  assert.equal(logit(0), -Infinity);
  assert.equal(logit(1), Infinity);
});

Deno.test("end2end decoding filters by score, maps boxes by the letterbox scale and clips to the frame", () => {
  const filter = createClassFilter({ classes: ["person"], scoreThreshold: 0.3 });
  const g = computeLetterbox(768, 576, 320, 320); // scale 5/12
  const dets = tensor([1, 3, 5], [
    10,
    20,
    110,
    220,
    0.8, // -> 24, 48, 264, 528
    300,
    200,
    330,
    260,
    0.6, // x2 beyond the frame (792) and y2 in the padding -> clipped
    0,
    0,
    0,
    0,
    0, // the graph's "nothing found" row
  ]);
  const labels: OnnxTensor = {
    type: "int64",
    dims: [1, 3],
    data: BigInt64Array.from([0n, 0n, 0n]),
  };
  assert.deepEqual(decodeEnd2End(dets, labels, 0, g, filter), [
    { class_id: 0, class_name: "person", score: 0.8, bbox: { x1: 24, y1: 48, x2: 264, y2: 528 } },
    { class_id: 0, class_name: "person", score: 0.6, bbox: { x1: 720, y1: 480, x2: 768, y2: 576 } },
  ]);
});

Deno.test("class filter: allow-list blocks other classes, unknown class names are rejected", () => {
  const f = createClassFilter({
    classes: ["person", "car", "dog"],
    scoreThreshold: 0.4,
    classAllowList: ["car", "dog"],
    classThresholds: { dog: 0.7 },
  });
  assert.deepEqual([...f.thresholds], [Infinity, 0.4, 0.7]);
  assert.equal(f.minThreshold, 0.4);
  assert.equal(f.threshold(5), Infinity);
  assert.equal(f.label(5), "class_5");
  assert.throws(
    () => createClassFilter({ classes: ["person"], scoreThreshold: 0.3, classAllowList: ["cat"] }),
    /unknown class name\(s\) cat/,
  );
});
