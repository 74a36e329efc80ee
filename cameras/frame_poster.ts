/**
 * Latest frame wins: a camera has at most one upload in flight and one frame pending. A frame
 * offered while one is pending replaces it, and the replaced frame is counted as dropped. So
 * a server slower than the camera sees the newest frames, and the sidecar never queues.
 * Every frame offered is accounted for exactly once: answered (`framesOut`), failed
 * (`uploadErrors`) or dropped (replaced, or discarded because the poster stopped).
 *
 * After a `retry` outcome uploads pause for the next backoff delay (frames offered meanwhile
 * still replace the pending one); the first `ok` resets the backoff. After a `fatal` outcome
 * nothing more is sent: the pending frame is released and `onFatal` tells the runner.
 *
 * @module
 */
import type { Backoff } from "./backoff.ts";
import type { CameraStats } from "./camera_stats.ts";
import type { CameraFrame } from "./frame.ts";
import type { UploadOutcome } from "./frame_upload.ts";

/** Dependencies of {@link createFramePoster}. */
export interface FramePosterDeps {
  readonly upload: (frame: CameraFrame) => Promise<UploadOutcome>;
  readonly stats: CameraStats;
  /** Delays after `retry` outcomes. */
  readonly backoff: Backoff;
  /** Called once, on the first `fatal` outcome. */
  readonly onFatal: (outcome: Extract<UploadOutcome, { kind: "fatal" }>) => void;
  /** Called on a `retry` outcome with the pause chosen, and on recovery with `null`. */
  readonly onServerState?: (outcome: UploadOutcome, pauseMs: number | null) => void;
}

/** The upload side of a camera. */
export interface FramePoster {
  /** Hands over a frame: sent now, or pending (replacing, and dropping, an older one). */
  offer(frame: CameraFrame): void;
  /** Whether an upload is in flight. */
  readonly inFlight: boolean;
  /** Whether a frame waits. */
  readonly hasPending: boolean;
  /** Stops sending: releases the pending frame and waits for the upload in flight. */
  stop(): Promise<void>;
}

/** Creates a latest-frame-wins poster. */
export function createFramePoster(deps: FramePosterDeps): FramePoster {
  const { stats } = deps;
  let pending: CameraFrame | null = null;
  let inFlight: Promise<void> | null = null;
  let pausedUntil = 0;
  let resumeTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const pump = () => {
    if (closed || inFlight || !pending) return;
    const wait = pausedUntil - Date.now();
    if (wait > 0) {
      resumeTimer ??= setTimeout(() => {
        resumeTimer = undefined;
        pump();
      }, wait);
      return;
    }
    const frame = pending;
    pending = null;
    inFlight = send(frame).finally(() => {
      inFlight = null;
      pump();
    });
  };

  const send = async (frame: CameraFrame) => {
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    let outcome: UploadOutcome;
    try {
      outcome = await deps.upload(frame);
    } catch (err) {
      outcome = { kind: "retry", status: null, reason: (err as Error).message };
    } finally {
      stats.inFlight--;
      frame.release();
    }
    switch (outcome.kind) {
      case "ok":
        stats.framesOut++;
        if (outcome.detectionRan) stats.framesDetected++;
        else stats.framesSkipped++;
        stats.detections += outcome.detections;
        stats.recordLatency(performance.now() - frame.capturedMono);
        if (stats.serverDown) {
          stats.serverDown = false;
          deps.onServerState?.(outcome, null);
        }
        deps.backoff.reset();
        break;
      case "retry": {
        stats.uploadErrors++;
        if (closed) break;
        stats.serverDown = true;
        stats.lastError = outcome.reason;
        const pause = deps.backoff.next();
        pausedUntil = Date.now() + pause;
        deps.onServerState?.(outcome, pause);
        break;
      }
      case "fatal":
        stats.uploadErrors++;
        if (closed) break;
        stats.lastError = outcome.reason;
        closed = true;
        discardPending();
        deps.onFatal(outcome);
        break;
    }
  };

  const discardPending = () => {
    if (pending) {
      stats.dropped++;
      pending.release();
      pending = null;
    }
  };

  return {
    offer(frame) {
      if (closed) {
        stats.dropped++;
        frame.release();
        return;
      }
      if (pending) {
        stats.dropped++;
        pending.release();
      }
      pending = frame;
      pump();
    },
    get inFlight() {
      return inFlight !== null;
    },
    get hasPending() {
      return pending !== null;
    },
    async stop() {
      closed = true;
      clearTimeout(resumeTimer);
      resumeTimer = undefined;
      discardPending();
      await inFlight;
    },
  };
}
