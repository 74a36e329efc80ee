/**
 * Snapshots in Redis (through the {@link CacheStore} interface) under `snapshot:{event_id}`,
 * written with the TTL so Redis expires them; every replica can serve every snapshot.
 *
 * @module
 */
import type { CacheStore } from "../cache/cache_store.ts";
import { snapshotKey } from "../cache/keys.ts";
import type { SnapshotStore } from "./snapshot_store.ts";

/** Options of {@link createCacheSnapshotStore}. */
export interface CacheSnapshotStoreOptions {
  /** The Redis cache. */
  readonly cache: CacheStore;
  /** Seconds a snapshot lives. */
  readonly ttlSeconds: number;
}

/** Creates a snapshot store over a cache. */
export function createCacheSnapshotStore(options: CacheSnapshotStoreOptions): SnapshotStore {
  const { cache, ttlSeconds } = options;
  return {
    kind: cache.kind,
    async put(eventId, jpeg) {
      await cache.set(snapshotKey(eventId), jpeg, { ttlSeconds });
      return true;
    },
    get(eventId) {
      return cache.get(snapshotKey(eventId));
    },
  };
}
