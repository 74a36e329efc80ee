/**
 * In-memory {@link CacheStore}: the embedded default when no Redis is configured, and the fake
 * behind unit tests. Same semantics as the Redis store (TTL, atomic hash writes with index,
 * pub/sub within the process), so code tested against it behaves the same on Redis. Data is
 * lost on restart and not shared between processes.
 *
 * @module
 */
import { ServiceUnavailableError } from "../errors.ts";
import {
  type CacheState,
  type CacheStore,
  type CacheValue,
  type MessageListener,
  toBytes,
  ttlToMs,
  validTtlMs,
} from "./cache_store.ts";
import { decodeJson, decodeUtf8, encodeJson } from "./codec.ts";

/** Options of {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  readonly now?: () => number;
}

type Entry =
  | { kind: "bytes"; value: Uint8Array; expiresAt: number | undefined }
  | { kind: "hash"; value: Map<string, Uint8Array>; expiresAt: number | undefined }
  | { kind: "set"; value: Set<string>; expiresAt: number | undefined };

/** Creates an in-memory cache store. */
export function createMemoryCache(options: MemoryCacheOptions = {}): CacheStore {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const channels = new Map<string, Set<MessageListener>>();
  let closed = false;

  const open = () => {
    if (closed) throw new ServiceUnavailableError("cache is closed");
  };
  const live = (key: string): Entry | undefined => {
    open();
    const e = entries.get(key);
    if (e && e.expiresAt !== undefined && e.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const expiry = (ttlSeconds: number | undefined) => {
    const ms = ttlToMs(ttlSeconds);
    return ms === undefined ? undefined : now() + ms;
  };
  const wrongType = (key: string) =>
    new ServiceUnavailableError(`cache key ${key} holds the wrong kind of value`);

  /** Runs `fn` so that a synchronous throw becomes a rejected promise, as on Redis. */
  const attempt = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  };

  const store: CacheStore = {
    kind: "memory",
    get state(): CacheState {
      return closed ? "closed" : "ready";
    },
    connect: () => attempt(() => open()),
    ping: () =>
      Promise.resolve(
        closed
          ? { ok: false, latencyMs: 0, state: "closed" as const, error: "cache is closed" }
          : { ok: true, latencyMs: 0, state: "ready" as const },
      ),
    get: (key) =>
      attempt(() => {
        const e = live(key);
        if (!e) return null;
        if (e.kind !== "bytes") throw wrongType(key);
        return e.value.slice();
      }),
    getJson: async (key) => {
      const bytes = await store.get(key);
      return bytes === null ? null : decodeJson(bytes);
    },
    set: (key, value, opts) =>
      attempt(() => {
        live(key);
        const expiresAt = expiry(opts?.ttlSeconds);
        entries.set(key, { kind: "bytes", value: toBytes(value).slice(), expiresAt });
      }),
    setIfAbsent: (key, value, ttlMs) =>
      attempt(() => {
        const ms = validTtlMs(ttlMs);
        if (live(key)) return false;
        entries.set(key, { kind: "bytes", value: toBytes(value).slice(), expiresAt: now() + ms });
        return true;
      }),
    setJson: (key, value, opts) => store.set(key, encodeJson(value), opts),
    delete: (...keys) =>
      attempt(() => {
        let n = 0;
        for (const k of keys) if (live(k) && entries.delete(k)) n++;
        return n;
      }),
    exists: (key) => attempt(() => live(key) !== undefined),
    ttlMs: (key) =>
      attempt(() => {
        const e = live(key);
        if (!e) return -2;
        return e.expiresAt === undefined ? -1 : Math.max(0, e.expiresAt - now());
      }),
    putHash: (key, fields, opts = {}) =>
      attempt(() => {
        if (opts.ifAbsent && live(key)) return false;
        const expiresAt = expiry(opts.ttlSeconds);
        const map = new Map<string, Uint8Array>();
        for (const [f, v] of Object.entries(fields)) map.set(f, toBytes(v as CacheValue).slice());
        if (opts.index) addToSet(opts.index.key, opts.index.member);
        entries.set(key, { kind: "hash", value: map, expiresAt });
        return true;
      }),
    getHash: (key) =>
      attempt(() => {
        const e = live(key);
        if (!e) return null;
        if (e.kind !== "hash") throw wrongType(key);
        const out: Record<string, Uint8Array> = {};
        for (const [f, v] of e.value) out[f] = v.slice();
        return out;
      }),
    deleteHash: (key, opts = {}) =>
      attempt(() => {
        const existed = live(key) !== undefined && entries.delete(key);
        if (opts.index) {
          const s = live(opts.index.key);
          if (s?.kind === "set") s.value.delete(opts.index.member);
        }
        return existed;
      }),
    setMembers: (key) =>
      attempt(() => {
        const e = live(key);
        if (!e) return [];
        if (e.kind !== "set") throw wrongType(key);
        return [...e.value];
      }),
    setRemove: (key, ...members) =>
      attempt(() => {
        const e = live(key);
        if (!e || e.kind !== "set") return 0;
        let n = 0;
        for (const m of members) if (e.value.delete(m)) n++;
        return n;
      }),
    incr: (key) =>
      attempt(() => {
        const e = live(key);
        const current = e?.kind === "bytes" ? Number(decodeUtf8(e.value)) : 0;
        const next = (Number.isFinite(current) ? current : 0) + 1;
        entries.set(key, { kind: "bytes", value: toBytes(String(next)), expiresAt: e?.expiresAt });
        return next;
      }),
    publish: (channel, message) =>
      attempt(() => {
        open();
        // Delivered asynchronously, as a Redis subscriber would see it.
        for (const l of channels.get(channel) ?? []) queueMicrotask(() => l(message));
      }),
    subscribe: (channel, listener) =>
      attempt(() => {
        open();
        let set = channels.get(channel);
        if (!set) channels.set(channel, set = new Set());
        set.add(listener);
        return () => {
          set.delete(listener);
          return Promise.resolve();
        };
      }),
    onStateChange: () => () => {},
    close: () => {
      closed = true;
      entries.clear();
      channels.clear();
      return Promise.resolve();
    },
  };

  function addToSet(key: string, member: string): void {
    const e = live(key);
    if (e?.kind === "set") e.value.add(member);
    else entries.set(key, { kind: "set", value: new Set([member]), expiresAt: undefined });
  }

  return store;
}
