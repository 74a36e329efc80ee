/**
 * Recent detections per frame under `detection:{camera_id}:{frame_number}`, as JSON
 * `{detections, timestamp}` with a TTL, so clients can fetch what a frame produced without
 * re-running the detector. Detections are stored as given (they are already schema-valid
 * events); reading returns `unknown[]` for the caller to validate with its schema.
 *
 * @module
 */
import type { CacheStore } from "./cache_store.ts";
import { detectionKey } from "./keys.ts";

/** What is stored for one frame. */
export interface CachedDetections {
  /** The detections of the frame (schema owned by the detector). */
  readonly detections: unknown[];
  /** ISO-8601 time the frame was processed. */
  readonly timestamp: string;
}

/** Options of {@link createDetectionStore}. */
export interface DetectionStoreOptions {
  /** Where to store. */
  readonly cache: CacheStore;
  /** TTL of every entry in seconds. Default 300. */
  readonly ttlSeconds?: number;
}

/** Reads and writes per-frame detections. */
export interface DetectionStore {
  /** Stores the detections of one frame (with the configured TTL). */
  put(cameraId: string, frameNumber: number, value: CachedDetections): Promise<void>;
  /** The detections of one frame, or null when absent/expired. */
  get(cameraId: string, frameNumber: number): Promise<CachedDetections | null>;
}

/** Creates a detection store over a cache. */
export function createDetectionStore(options: DetectionStoreOptions): DetectionStore {
  const ttlSeconds = options.ttlSeconds ?? 300;
  return {
    put: (cameraId, frameNumber, value) =>
      options.cache.setJson(
        detectionKey(cameraId, frameNumber),
        { detections: value.detections, timestamp: value.timestamp },
        { ttlSeconds },
      ),
    async get(cameraId, frameNumber) {
      const v = await options.cache.getJson(detectionKey(cameraId, frameNumber));
      if (v === null || typeof v !== "object") return null;
      const o = v as { detections?: unknown; timestamp?: unknown };
      if (!Array.isArray(o.detections) || typeof o.timestamp !== "string") return null;
      return { detections: o.detections, timestamp: o.timestamp };
    },
  };
}
