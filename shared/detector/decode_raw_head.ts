/**
 * Decoding a raw RTMDet head (an export without NMS): per stride `s`, class scores
 * `[N, C, H/s, W/s]` and distances `[N, 4, H/s, W/s]` (left, top, right, bottom) from the prior
 * point `(x*s, y*s)` — mmdet's `MlvlPointGenerator` with offset 0 and `DistancePointBBoxCoder`.
 * Scores are sigmoids of logits; the threshold is compared in logit space so the sigmoid runs
 * only for candidates. Candidates are multi-label (one per class above threshold, as mmdet),
 * then class-aware NMS.
 *
 * @module
 */
import type { OnnxTensor } from "../onnx/session.ts";
import { mapBoxToFrame } from "./box_mapping.ts";
import type { ClassFilter } from "./class_filter.ts";
import { roundScore } from "./decode_end2end.ts";
import type { Detection } from "../events.ts";
import type { LetterboxGeometry } from "./letterbox.ts";
import { classAwareNms } from "./nms.ts";

/** One stride's tensors. */
export interface RawHeadLevel {
  readonly stride: number;
  /** `[N, C, H, W]` class scores (logits or probabilities). */
  readonly scores: OnnxTensor;
  /** `[N, 4, H, W]` distances. */
  readonly boxes: OnnxTensor;
}

/** Options of {@link decodeRawHead}. */
export interface RawHeadOptions {
  /** `sigmoid` for logits, `none` for probabilities. */
  readonly scoreActivation: "sigmoid" | "none";
  /** Whether distances are pixels or multiples of the stride. */
  readonly distanceUnit: "pixels" | "strides";
  readonly iouThreshold: number;
  readonly maxDetections: number;
}

/** Logit of p, so `sigmoid(x) >= p` iff `x >= logit(p)`. */
export function logit(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  return Math.log(p / (1 - p));
}

/** Decodes batch item `batchIndex` of a raw head into frame-space detections. */
export function decodeRawHead(
  levels: readonly RawHeadLevel[],
  batchIndex: number,
  geometry: LetterboxGeometry,
  filter: ClassFilter,
  options: RawHeadOptions,
): Detection[] {
  const sigmoid = options.scoreActivation === "sigmoid";
  const numClasses = filter.classes.length;
  const cut = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    cut[c] = sigmoid ? logit(filter.thresholds[c]!) : filter.thresholds[c]!;
  }
  const boxes: number[] = [];
  const scores: number[] = [];
  const classIds: number[] = [];
  for (const level of levels) {
    const [, c, h, w] = level.scores.dims as [number, number, number, number];
    if (level.scores.dims.length !== 4 || c !== numClasses) {
      throw new Error(
        `raw head scores at stride ${level.stride} have shape [${level.scores.dims}], expected [N, ${numClasses}, H, W]`,
      );
    }
    const bd = level.boxes.dims;
    if (bd.length !== 4 || bd[1] !== 4 || bd[2] !== h || bd[3] !== w) {
      throw new Error(
        `raw head boxes at stride ${level.stride} have shape [${bd}], expected [N, 4, ${h}, ${w}]`,
      );
    }
    const s = level.stride;
    const unit = options.distanceUnit === "strides" ? s : 1;
    const plane = h * w;
    const sd = level.scores.data as Float32Array;
    const dd = level.boxes.data as Float32Array;
    const sBase = batchIndex * c * plane;
    const dBase = batchIndex * 4 * plane;
    for (let k = 0; k < c; k++) {
      const t = cut[k]!;
      if (t === Infinity) continue;
      const off = sBase + k * plane;
      for (let i = 0; i < plane; i++) {
        const v = sd[off + i]!;
        if (!(v >= t)) continue;
        const px = (i % w) * s, py = Math.floor(i / w) * s;
        boxes.push(
          px - dd[dBase + i]! * unit,
          py - dd[dBase + plane + i]! * unit,
          px + dd[dBase + 2 * plane + i]! * unit,
          py + dd[dBase + 3 * plane + i]! * unit,
        );
        scores.push(sigmoid ? 1 / (1 + Math.exp(-v)) : v);
        classIds.push(k);
      }
    }
  }
  const kept = classAwareNms(boxes, scores, classIds, {
    iouThreshold: options.iouThreshold,
    maxDetections: options.maxDetections,
  });
  const out: Detection[] = [];
  for (const i of kept) {
    const box = mapBoxToFrame(
      geometry,
      boxes[i * 4]!,
      boxes[i * 4 + 1]!,
      boxes[i * 4 + 2]!,
      boxes[i * 4 + 3]!,
    );
    if (!box) continue;
    out.push({
      class_id: classIds[i]!,
      class_name: filter.label(classIds[i]!),
      score: roundScore(scores[i]!),
      bbox: box,
    });
  }
  return out;
}
