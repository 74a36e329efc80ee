/**
 * Tracks which cameras are sending frames and how fast, for the `fess_active_cameras` and
 * `fess_fps` gauges. FPS is an exponentially weighted rate over inter-frame gaps; a camera
 * silent for longer than the idle window stops counting as active and its `fess_fps` series is
 * removed, so label cardinality follows the live cameras.
 *
 * @module
 */
import type { FessMetrics } from "./metrics.ts";

/** Options of {@link createCameraActivity}. */
export interface CameraActivityOptions {
  readonly metrics: FessMetrics;
  /** Seconds without a frame after which a camera is inactive. */
  readonly idleSeconds: number;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

/** Records frames per camera. */
export interface CameraActivity {
  /** Notes one frame from `cameraId`. */
  frame(cameraId: string): void;
  /** Refreshes the gauges (drops idle cameras); called at scrape time. */
  refresh(): void;
  /** Current frames-per-second estimate of a camera (0 if unknown). */
  fps(cameraId: string): number;
}

const ALPHA = 0.2;

/** Creates the tracker. */
export function createCameraActivity(options: CameraActivityOptions): CameraActivity {
  const now = options.now ?? (() => Date.now());
  const cams = new Map<string, { last: number; fps: number }>();
  const refresh = () => {
    const t = now();
    for (const [id, c] of cams) {
      if (t - c.last > options.idleSeconds * 1000) {
        cams.delete(id);
        options.metrics.fps.remove({ camera_id: id });
      }
    }
    options.metrics.activeCameras.set(cams.size);
  };
  return {
    frame(cameraId) {
      const t = now();
      const c = cams.get(cameraId);
      if (!c) {
        cams.set(cameraId, { last: t, fps: 0 });
        // Idle cameras are pruned at scrape time (refresh), not on every frame.
        options.metrics.activeCameras.set(cams.size);
      } else {
        const gap = (t - c.last) / 1000;
        if (gap > 0) {
          const inst = 1 / gap;
          c.fps = c.fps === 0 ? inst : c.fps + ALPHA * (inst - c.fps);
        }
        c.last = t;
        options.metrics.fps.set({ camera_id: cameraId }, Math.round(c.fps * 100) / 100);
      }
    },
    refresh,
    fps: (cameraId) => cams.get(cameraId)?.fps ?? 0,
  };
}
