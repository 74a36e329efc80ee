/**
 * The pipeline's per-camera state: one {@link CameraRecord} per camera that sent a frame
 * recently. No other module keeps a per-camera map; stages get the record and read or update
 * their part of it.
 *
 * Bounded two ways: a camera silent for `idleSeconds` is forgotten (its record and every
 * metric series labelled with its id), and at most `maxCameras` records exist at once: a new
 * camera id beyond that is refused with 429 until one goes idle, with `Retry-After` saying when
 * the least recently seen camera would be idle. Idle cameras are dropped when a new camera
 * arrives and before each metrics scrape ({@link CameraRegistry.prune}).
 *
 * To give a stage per-camera state, add a field to {@link CameraRecord} and initialise it in
 * {@link newCameraRecord}. The scene (tracker, identities, rules, mask) and the live-page
 * preview are built by factories the pipeline passes in, so the registry stays ignorant of them.
 *
 * {@link CameraRegistry.list} is the read-only view of the records for the live page
 * (`GET /cameras`): id, frame rate, latest frame view and last accepted alert.
 *
 * @module
 */
import { type CameraActivity, noteFrame, startActivity } from "../camera_activity.ts";
import { TooManyRequestsError } from "../errors.ts";
import type { Detection } from "../events.ts";
import type { FrameView, PreviewState } from "../live/frame_preview.ts";
import type { Logger } from "../logger.ts";
import { type FessMetrics, removeCameraSeries } from "../metrics.ts";
import type { MotionReference } from "../motion/motion_gate.ts";
import type { CameraScene } from "./camera_scene.ts";

/** The last alert of a camera the publisher accepted. */
export interface LastAlert {
  readonly event_id: string;
  /** The rule's trigger. */
  readonly alert_type: string;
  /** The rule that fired (null for an alert not raised by a rule). */
  readonly rule_id: string | null;
  /** The frame's capture time (RFC 3339). */
  readonly timestamp: string;
}

/** What the live page lists of one camera (functions/cameras.ts adds `frame_url`). */
export interface CameraSummary {
  readonly camera_id: string;
  /** Smoothed frame rate. */
  readonly fps: number;
  /** The latest frame's motion verdict; null when gating is off or before the first frame. */
  readonly motion: FrameView["motion"];
  /** The latest processed frame; null before the first (or without a previewer). */
  readonly last_frame:
    | (Omit<FrameView, "motion" | "detections"> & {
      detections: Detection[];
    })
    | null;
  readonly last_alert: LastAlert | null;
}

/** Everything the pipeline keeps about one camera. */
export interface CameraRecord {
  readonly id: string;
  /** Arrival and frame rate (`fess_fps`). */
  readonly activity: CameraActivity;
  /** Last frame number seen or assigned; -1 before the first frame. */
  lastFrameNumber: number;
  /** The motion gate's reference thumbnail; null before the first gated frame. */
  motion: MotionReference | null;
  /** Tracker, face identities, rules and motion mask. */
  readonly scene: CameraScene;
  /** The latest frame for the live page; null without a previewer. */
  readonly preview: PreviewState | null;
  /** The last alert the publisher accepted; null before. */
  lastAlert: LastAlert | null;
}

/** How a record's parts are built. */
export interface CameraRecordFactories {
  /** The scene of a camera. */
  readonly scene: (cameraId: string) => CameraScene;
  /** A preview state; absent: records keep none. */
  readonly preview?: () => PreviewState;
}

/** A fresh record for a camera's first frame at `nowMs`. */
export function newCameraRecord(
  id: string,
  nowMs: number,
  build: CameraRecordFactories,
): CameraRecord {
  return {
    id,
    activity: startActivity(nowMs),
    lastFrameNumber: -1,
    motion: null,
    scene: build.scene(id),
    preview: build.preview?.() ?? null,
    lastAlert: null,
  };
}

/** Options of {@link createCameraRegistry}. */
export interface CameraRegistryOptions {
  /** Most cameras with state at once (`server.max_cameras`). */
  readonly maxCameras: number;
  /** Seconds without a frame after which a camera is forgotten (`motion.camera_idle_seconds`). */
  readonly idleSeconds: number;
  /** Where `fess_active_cameras`, `fess_fps` and every per-camera series live. */
  readonly metrics: FessMetrics;
  readonly logger: Logger;
  /** Clock in ms. */
  readonly now: () => number;
  /** Builds each new record's scene and preview. */
  readonly build: CameraRecordFactories;
}

/** The per-camera records. */
export interface CameraRegistry {
  /**
   * The record of `cameraId` with this frame noted (activity, `fess_fps`), created on the
   * camera's first frame.
   * @throws TooManyRequestsError (429, with `retryAfterSeconds`) for a new camera while
   * `maxCameras` are active
   */
  admit(cameraId: string): CameraRecord;
  /** The record of `cameraId`, if it has one. */
  get(cameraId: string): CameraRecord | undefined;
  /** Cameras with a record. */
  readonly size: number;
  /** Read-only summaries of every camera with a record, by id. */
  list(): CameraSummary[];
  /** Forgets idle cameras and removes their metric series; resolves to how many went. */
  prune(): Promise<number>;
}

/** Creates the registry. */
export function createCameraRegistry(options: CameraRegistryOptions): CameraRegistry {
  const { metrics, now } = options;
  const idleMs = options.idleSeconds * 1000;
  const records = new Map<string, CameraRecord>();
  // Ids whose series are still to be removed; a camera that comes back is taken out again.
  const forgotten = new Set<string>();
  const log = options.logger.child({ component: "cameras" });

  const dropIdle = (t: number): number => {
    let dropped = 0;
    for (const [id, r] of records) {
      if (t - r.activity.lastSeenMs > idleMs) {
        records.delete(id);
        forgotten.add(id);
        dropped++;
      }
    }
    metrics.activeCameras.set(records.size);
    return dropped;
  };
  // When the least recently seen camera could be dropped if it stays silent: the earliest a
  // refused camera can be admitted. Whole seconds, at least 1 (Retry-After).
  const secondsUntilFirstIdle = (t: number): number => {
    let oldest = t;
    for (const r of records.values()) oldest = Math.min(oldest, r.activity.lastSeenMs);
    // dropIdle needs strictly more than idleMs of silence.
    const waitMs = oldest + idleMs + 1 - t;
    return Math.max(1, Math.ceil(waitMs / 1000));
  };
  const removeSeries = async () => {
    const batch = [...forgotten];
    // The live set: a camera re-admitted meanwhile leaves it and keeps its series.
    await removeCameraSeries(metrics.registry, forgotten);
    for (const id of batch) forgotten.delete(id);
  };

  return {
    admit(cameraId) {
      const t = now();
      const known = records.get(cameraId);
      if (known) {
        const fps = noteFrame(known.activity, t);
        metrics.fps.set({ camera_id: cameraId }, Math.round(fps * 100) / 100);
        return known;
      }
      if (dropIdle(t) > 0) {
        removeSeries().catch((err) => log.warn("idle camera series not removed", { error: err }));
      }
      if (records.size >= options.maxCameras) {
        const retryAfter = secondsUntilFirstIdle(t);
        throw new TooManyRequestsError(
          `camera limit reached: ${options.maxCameras} cameras are active (server.max_cameras); ` +
            `camera ${cameraId} is refused until one has been idle for ${options.idleSeconds} s; ` +
            `retry in ${retryAfter} s`,
          {
            detail: {
              max_cameras: options.maxCameras,
              idle_seconds: options.idleSeconds,
              retry_after_seconds: retryAfter,
            },
            retryAfterSeconds: retryAfter,
          },
        );
      }
      const record = newCameraRecord(cameraId, t, options.build);
      records.set(cameraId, record);
      forgotten.delete(cameraId);
      metrics.activeCameras.set(records.size);
      return record;
    },
    get: (cameraId) => records.get(cameraId),
    get size() {
      return records.size;
    },
    list() {
      return [...records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(
        (r) => {
          const view = r.preview?.view ?? null;
          return {
            camera_id: r.id,
            fps: Math.round(r.activity.fps * 100) / 100,
            motion: view?.motion ?? null,
            last_frame: view && {
              frame_number: view.frame_number,
              timestamp: view.timestamp,
              width: view.width,
              height: view.height,
              detection_ran: view.detection_ran,
              detections: [...view.detections],
            },
            last_alert: r.lastAlert,
          };
        },
      );
    },
    async prune() {
      const dropped = dropIdle(now());
      await removeSeries();
      return dropped;
    },
  };
}
