/**
 * Picks the snapshot store from the settings: Redis when the service's cache is Redis (every
 * replica serves every snapshot), else bounded process memory.
 *
 * @module
 */
import type { CacheStore } from "../cache/cache_store.ts";
import { createCacheSnapshotStore } from "./cache_snapshot_store.ts";
import { createMemorySnapshotStore } from "./memory_snapshot_store.ts";
import type { SnapshotStore } from "./snapshot_store.ts";

/** The `snapshots` settings this needs. */
export interface SnapshotStoreSettings {
  readonly ttl_seconds: number;
  readonly max_bytes: number;
}

/** Creates the snapshot store: over `cache` when it is Redis, else in memory. */
export function createSnapshotStore(
  settings: SnapshotStoreSettings,
  cache?: CacheStore,
): SnapshotStore {
  if (cache?.kind === "redis") {
    return createCacheSnapshotStore({ cache, ttlSeconds: settings.ttl_seconds });
  }
  return createMemorySnapshotStore({
    ttlSeconds: settings.ttl_seconds,
    maxBytes: settings.max_bytes,
  });
}
