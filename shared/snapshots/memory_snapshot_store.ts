/**
 * Snapshots in process memory: a map in least-recently-used order, holding at most `maxBytes`
 * of JPEG data. A put evicts expired entries, then the least recently used ones, until the new
 * snapshot fits; a snapshot larger than the whole budget is not kept. Reads past the TTL miss.
 *
 * @module
 */
import type { SnapshotStore } from "./snapshot_store.ts";

/** Options of {@link createMemorySnapshotStore}. */
export interface MemorySnapshotStoreOptions {
  /** Seconds a snapshot lives. */
  readonly ttlSeconds: number;
  /** Most bytes held. */
  readonly maxBytes: number;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

/** A memory store that also reports its footprint. */
export interface MemorySnapshotStore extends SnapshotStore {
  /** Bytes held. */
  readonly bytes: number;
  /** Snapshots held. */
  readonly count: number;
}

interface Entry {
  readonly jpeg: Uint8Array;
  readonly expiresAt: number;
}

/** Creates a bounded in-memory snapshot store. */
export function createMemorySnapshotStore(
  options: MemorySnapshotStoreOptions,
): MemorySnapshotStore {
  if (!(options.ttlSeconds > 0) || !(options.maxBytes > 0)) {
    throw new RangeError("ttlSeconds and maxBytes must be positive");
  }
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlSeconds * 1000;
  const entries = new Map<string, Entry>();
  let bytes = 0;

  const remove = (id: string, e: Entry) => {
    entries.delete(id);
    bytes -= e.jpeg.length;
  };

  return {
    kind: "memory",
    get bytes() {
      return bytes;
    },
    get count() {
      return entries.size;
    },

    put(eventId, jpeg) {
      const t = now();
      const old = entries.get(eventId);
      if (old) remove(eventId, old);
      if (jpeg.length > options.maxBytes) return Promise.resolve(false);
      for (const [id, e] of entries) if (e.expiresAt <= t) remove(id, e);
      for (const [id, e] of entries) {
        if (bytes + jpeg.length <= options.maxBytes) break;
        remove(id, e); // least recently used first: map order
      }
      entries.set(eventId, { jpeg, expiresAt: t + ttlMs });
      bytes += jpeg.length;
      return Promise.resolve(true);
    },

    get(eventId) {
      const e = entries.get(eventId);
      if (!e) return Promise.resolve(null);
      if (e.expiresAt <= now()) {
        remove(eventId, e);
        return Promise.resolve(null);
      }
      entries.delete(eventId); // re-inserted: most recently used
      entries.set(eventId, e);
      return Promise.resolve(e.jpeg);
    },
  };
}
