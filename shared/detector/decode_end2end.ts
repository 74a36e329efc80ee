/**
 * Decoding mmdeploy end2end outputs: `dets [N, K, 5]` (x1, y1, x2, y2, score in input pixels)
 * and `labels [N, K]` (int64), NMS already done in the graph. The graph emits an all-zero row
 * when nothing is found, so every row goes through the score filter.
 *
 * @module
 */
import type { OnnxTensor } from "../onnx/session.ts";
import { mapBoxToFrame } from "./box_mapping.ts";
import type { ClassFilter } from "./class_filter.ts";
import type { Detection } from "../events.ts";
import type { LetterboxGeometry } from "./letterbox.ts";

/** Decodes batch item `batchIndex` of an end2end result into frame-space detections. */
export function decodeEnd2End(
  dets: OnnxTensor,
  labels: OnnxTensor,
  batchIndex: number,
  geometry: LetterboxGeometry,
  filter: ClassFilter,
): Detection[] {
  if (dets.dims.length !== 3 || dets.dims[2] !== 5) {
    throw new Error(`end2end output dets has shape [${dets.dims}], expected [N, K, 5]`);
  }
  const k = dets.dims[1]!;
  const d = dets.data as Float32Array;
  const l = labels.data;
  const out: Detection[] = [];
  for (let r = 0; r < k; r++) {
    const base = (batchIndex * k + r) * 5;
    const score = d[base + 4]!;
    if (!(score >= filter.minThreshold)) continue;
    const classId = Number(l[batchIndex * k + r]!);
    if (score < filter.threshold(classId)) continue;
    const box = mapBoxToFrame(geometry, d[base]!, d[base + 1]!, d[base + 2]!, d[base + 3]!);
    if (!box) continue;
    out.push({
      class_id: classId,
      class_name: filter.label(classId),
      score: roundScore(score),
      bbox: box,
    });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** Scores to 4 decimals: more is noise, and it keeps responses short. */
export function roundScore(score: number): number {
  return Math.round(score * 10000) / 10000;
}
