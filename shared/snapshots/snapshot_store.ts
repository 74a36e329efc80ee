/**
 * Where alert snapshots (JPEG bytes keyed by the Alert's `event_id`) live until they expire.
 * Two implementations: Redis through the {@link CacheStore} (shared by every replica, bounded
 * by Redis' own memory policy) and process memory (bounded by `snapshots.max_bytes`, least
 * recently used evicted first). Both expire entries after `snapshots.ttl_seconds`.
 *
 * @module
 */

/** Stores alert snapshots with a TTL. */
export interface SnapshotStore {
  /** Which implementation this is. */
  readonly kind: "redis" | "memory";
  /**
   * Stores `jpeg` for `eventId`; resolves to false when it was not kept (larger than the whole
   * memory budget). Redis failures reject with a 503 error.
   */
  put(eventId: string, jpeg: Uint8Array): Promise<boolean>;
  /** The snapshot of `eventId`, or null when absent or expired. */
  get(eventId: string): Promise<Uint8Array | null>;
}

/** Path under which snapshots are served. */
export const SNAPSHOTS_PATH = "/snapshots";

/**
 * The `snapshot_url` of an alert: `{baseUrl}/snapshots/{eventId}`, or the bare path when no
 * base URL is configured (clients resolve it against the FESS address they use).
 */
export function snapshotUrl(eventId: string, baseUrl?: string): string {
  const base = baseUrl ? baseUrl.replace(/\/+$/, "") : "";
  return `${base}${SNAPSHOTS_PATH}/${encodeURIComponent(eventId)}`;
}
