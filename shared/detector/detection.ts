/**
 * Per-frame detector results. The detection record itself is the event schema's
 * `Detection` (shared/events.ts): what the detector returns is what `POST /detect` answers
 * and what events carry. Boxes are in source-frame pixels, clipped to the frame.
 *
 * @module
 */
import type { Detection } from "../events.ts";

/** Milliseconds spent per stage of one detector call (shared by all frames of a batch). */
export interface DetectTiming {
  readonly preprocess_ms: number;
  readonly inference_ms: number;
  readonly postprocess_ms: number;
}

/** The detections of one frame. */
export interface FrameDetections {
  readonly detections: Detection[];
  /** Timing of the call (batch) this frame was part of. */
  readonly timing: DetectTiming;
  /** Frames in that batch run. */
  readonly batch_size: number;
}
