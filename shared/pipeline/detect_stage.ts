/**
 * Stage 2, the detector: runs the frame through the (batched) detector and records
 * `fess_detection_latency_seconds` (decode to postprocess). `fess_detections_total` counts
 * what the frame reports, after tracking (the pipeline), not the low-score boxes the tracker
 * alone sees.
 * Time spent waiting for a batch or for the run before is reported apart (`queue_ms`) from
 * the run this frame was part of.
 *
 * @module
 */
import type { Detector } from "../detector/detector.ts";
import type { Detection } from "../events.ts";
import type { FessMetrics } from "../metrics.ts";
import type { FrameInput } from "./frame_input.ts";

/** Dependencies of {@link runDetectStage}. */
export interface DetectStageDeps {
  readonly detector: Pick<Detector, "detect">;
  readonly metrics: FessMetrics;
}

/** The detections of one frame with the cost of getting them. */
export interface DetectStageResult {
  readonly detections: Detection[];
  readonly queueMs: number;
  readonly preprocessMs: number;
  readonly inferenceMs: number;
  readonly postprocessMs: number;
  /** Frames in the detector run this frame was part of. */
  readonly batchSize: number;
}

/** Detects objects in the frame. */
export async function runDetectStage(
  deps: DetectStageDeps,
  input: FrameInput,
): Promise<DetectStageResult> {
  const t0 = performance.now();
  const [result] = await deps.detector.detect([input.frame]);
  const wall = performance.now() - t0;
  const { detections, timing, batch_size } = result!;
  const run = timing.preprocess_ms + timing.inference_ms + timing.postprocess_ms;
  const camera_id = input.cameraId;
  deps.metrics.detectionLatency.observe({ camera_id }, (input.decodeMs + wall) / 1000);
  return {
    detections,
    queueMs: Math.max(0, wall - run),
    preprocessMs: timing.preprocess_ms,
    inferenceMs: timing.inference_ms,
    postprocessMs: timing.postprocess_ms,
    batchSize: batch_size,
  };
}
