/**
 * Stage 1, the motion gate: decides whether the detector runs on this frame, comparing it with
 * the camera's reference thumbnail kept in its {@link CameraRecord}. Changes inside the
 * camera's motion masks do not count (`cameras.<id>.masks`).
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";
import { checkMotion, type MotionOptions } from "../motion/motion_gate.ts";
import type { CameraRecord } from "./camera_registry.ts";
import { round4 } from "./frame_outcome.ts";
import type { MotionVerdict } from "./frame_outcome.ts";

/** Dependencies of {@link runMotionStage}. */
export interface MotionStageDeps {
  /** Gate settings; null when motion gating is off (every frame is detected). */
  readonly options: MotionOptions | null;
}

/** The gate's decision on one frame. */
export interface MotionStageResult {
  /** The verdict; null when gating is off. */
  readonly verdict: MotionVerdict | null;
  /** Whether the detector runs. */
  readonly run: boolean;
  /** Raw (unrounded) score for the MotionDetection event; 1 when gating is off. */
  readonly score: number;
  readonly ms: number;
}

/** Runs the gate over `frame`, updating the camera's reference. */
export function runMotionStage(
  deps: MotionStageDeps,
  camera: CameraRecord,
  frame: RawFrame,
): MotionStageResult {
  if (!deps.options) return { verdict: null, run: true, score: 1, ms: 0 };
  const t0 = performance.now();
  const { result, reference } = checkMotion(
    camera.motion,
    frame,
    deps.options,
    camera.scene.motionMask,
  );
  camera.motion = reference;
  return {
    verdict: { detected: result.motion, score: round4(result.score) },
    run: result.motion,
    score: result.score,
    ms: performance.now() - t0,
  };
}
