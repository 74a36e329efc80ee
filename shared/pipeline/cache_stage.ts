/**
 * Stage 3, the detection cache: stores the frame's detections under
 * `detection:{camera_id}:{frame_number}` without stalling the frame. The write starts at once
 * and runs beside the MotionDetection event; then the frame waits for it at most `waitMs` from
 * its start. A write still running then goes on in the background (its failure is still counted),
 * and the frame reports `cached: false`. When `maxInFlight` writes are already pending (a hung
 * Redis), new writes are skipped and counted instead of piling up.
 *
 * Failures are counted in `fess_cache_write_failures_total{reason}`: `error` (the write
 * failed) or `backlog` (skipped).
 *
 * @module
 */
import type { DetectionStore } from "../cache/detection_store.ts";
import { errorMessage } from "../errors.ts";
import type { Detection } from "../events.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";

/** Dependencies of {@link createDetectionCacheWriter}. */
export interface DetectionCacheWriterDeps {
  readonly store: DetectionStore;
  /** Longest a frame waits for its write, ms (`cache.detection_write_wait_ms`). */
  readonly waitMs: number;
  /** Most writes pending at once before new ones are skipped. Default 256. */
  readonly maxInFlight?: number;
  readonly metrics: Pick<FessMetrics, "cacheWriteFailures">;
  readonly logger: Logger;
}

/** A write under way. */
export interface PendingCacheWrite {
  /** Whether the write is confirmed, waiting at most until `waitMs` after it started. */
  settle(): Promise<boolean>;
}

/** Starts detection-cache writes. */
export interface DetectionCacheWriter {
  /** Starts storing one frame's detections; never throws. */
  write(
    cameraId: string,
    frameNumber: number,
    timestamp: string,
    detections: readonly Detection[],
  ): PendingCacheWrite;
  /** Writes not yet settled. */
  readonly inFlight: number;
}

const SKIPPED: PendingCacheWrite = { settle: () => Promise.resolve(false) };

/** Creates the writer. */
export function createDetectionCacheWriter(deps: DetectionCacheWriterDeps): DetectionCacheWriter {
  const maxInFlight = deps.maxInFlight ?? 256;
  const log = deps.logger.child({ component: "detection_cache" });
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    write(cameraId, frameNumber, timestamp, detections) {
      if (inFlight >= maxInFlight) {
        deps.metrics.cacheWriteFailures.inc({ reason: "backlog" });
        log.warn("detections not cached: too many writes pending", {
          camera_id: cameraId,
          pending: inFlight,
        });
        return SKIPPED;
      }
      const deadline = performance.now() + deps.waitMs;
      let outcome: boolean | undefined;
      inFlight++;
      const put = async () =>
        await deps.store.put(cameraId, frameNumber, { detections: [...detections], timestamp });
      const done = put()
        .then(() => true, (err: unknown) => {
          deps.metrics.cacheWriteFailures.inc({ reason: "error" });
          log.warn("detections not cached", { camera_id: cameraId, reason: errorMessage(err) });
          return false;
        })
        .then((ok) => {
          inFlight--;
          outcome = ok;
          return ok;
        });
      return {
        settle() {
          if (outcome !== undefined) return Promise.resolve(outcome);
          const remaining = deadline - performance.now();
          if (remaining <= 0) return Promise.resolve(false);
          let timer: ReturnType<typeof setTimeout> | undefined;
          const late = new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), remaining);
          });
          return Promise.race([done, late]).finally(() => clearTimeout(timer));
        },
      };
    },
  };
}
