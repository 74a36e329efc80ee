/**
 * Counters of one camera, written by its runner and poster, read by the status reporter.
 * Counters only grow; rates are derived by the reader from two snapshots. Latencies
 * (capture to response) are kept in a fixed ring, so memory stays constant however long the
 * sidecar runs; percentiles are over the most recent {@link LATENCY_WINDOW} responses.
 *
 * @module
 */

/** Where a camera is. */
export type CameraState =
  | "starting"
  | "connecting"
  | "streaming"
  | "reconnecting"
  | "ended"
  | "stopped"
  | "failed";

/** Responses kept for latency percentiles. */
export const LATENCY_WINDOW = 2048;

/** A copy of a camera's counters at one moment. */
export interface CameraSnapshot {
  readonly cameraId: string;
  readonly state: CameraState;
  /** The server is being backed off after a failed upload. */
  readonly serverDown: boolean;
  readonly lastError: string;
  /** Frames read from ffmpeg. */
  readonly framesIn: number;
  /** Uploads answered 2xx. */
  readonly framesOut: number;
  /** Answered frames the detector ran on. */
  readonly framesDetected: number;
  /** Answered frames the motion gate skipped. */
  readonly framesSkipped: number;
  /** Objects detected over all answered frames. */
  readonly detections: number;
  /** Frames replaced by a newer one before upload. */
  readonly dropped: number;
  /** Uploads that failed (network, 5xx, 4xx). */
  readonly uploadErrors: number;
  readonly reconnects: number;
  /** Most uploads ever in flight at once (1 by design). */
  readonly maxInFlight: number;
  /** Frame buffers allocated (3 at most by design). */
  readonly buffers: number;
  /** Capture-to-response latency percentiles, ms (null before the first response). */
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
}

/** Mutable counters of one camera. */
export class CameraStats {
  state: CameraState = "starting";
  serverDown = false;
  lastError = "";
  framesIn = 0;
  framesOut = 0;
  framesDetected = 0;
  framesSkipped = 0;
  detections = 0;
  dropped = 0;
  uploadErrors = 0;
  reconnects = 0;
  inFlight = 0;
  maxInFlight = 0;
  buffers = 0;
  readonly #latencies = new Float64Array(LATENCY_WINDOW);
  #latencyCount = 0;

  constructor(readonly cameraId: string) {}

  /** Records one capture-to-response latency. */
  recordLatency(ms: number): void {
    this.#latencies[this.#latencyCount % LATENCY_WINDOW] = ms;
    this.#latencyCount++;
  }

  /** The counters now, with latency percentiles. */
  snapshot(): CameraSnapshot {
    const n = Math.min(this.#latencyCount, LATENCY_WINDOW);
    const sorted = this.#latencies.slice(0, n).sort();
    return {
      cameraId: this.cameraId,
      state: this.state,
      serverDown: this.serverDown,
      lastError: this.lastError,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      framesDetected: this.framesDetected,
      framesSkipped: this.framesSkipped,
      detections: this.detections,
      dropped: this.dropped,
      uploadErrors: this.uploadErrors,
      reconnects: this.reconnects,
      maxInFlight: this.maxInFlight,
      buffers: this.buffers,
      latencyP50Ms: percentile(sorted, 0.5),
      latencyP99Ms: percentile(sorted, 0.99),
    };
  }
}

/** Nearest-rank percentile of ascending `sorted`, null when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}
