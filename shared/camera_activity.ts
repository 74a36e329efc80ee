/**
 * A camera's frame rate: an exponentially weighted rate over inter-frame gaps. Pure state
 * update; the state lives in the pipeline's per-camera record, which also publishes `fess_fps`
 * and drops the camera when it goes idle.
 *
 * @module
 */

/** When a camera last sent a frame and its smoothed rate. */
export interface CameraActivity {
  /** Arrival of the last frame, ms. */
  lastSeenMs: number;
  /** Frames per second, smoothed (0 until a second frame arrives). */
  fps: number;
}

const ALPHA = 0.2;

/** A camera's activity at its first frame. */
export function startActivity(nowMs: number): CameraActivity {
  return { lastSeenMs: nowMs, fps: 0 };
}

/** Notes one more frame arriving at `nowMs`; returns the new rate. */
export function noteFrame(activity: CameraActivity, nowMs: number): number {
  const gap = (nowMs - activity.lastSeenMs) / 1000;
  if (gap > 0) {
    const inst = 1 / gap;
    activity.fps = activity.fps === 0 ? inst : activity.fps + ALPHA * (inst - activity.fps);
  }
  activity.lastSeenMs = nowMs;
  return activity.fps;
}
