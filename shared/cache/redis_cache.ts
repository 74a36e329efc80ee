/**
 * {@link CacheStore} over Redis with ioredis: one command connection with auto-pipelining
 * (concurrent commands issued in the same tick share one round trip, which is why no
 * connection pool is needed — see `bench/cache_bench.ts`), plus a lazily opened subscriber
 * connection for pub/sub.
 *
 * Failure policy: commands never queue while Redis is unreachable (`enableOfflineQueue:
 * false`) and are not retried after a drop, so a caller gets a prompt 503 instead of a hang;
 * meanwhile the client reconnects forever with capped exponential backoff, and
 * {@link CacheStore.onStateChange} lets owners (the face gallery) reload after a reconnect.
 * The subscriber connection reconnects on its own; `onResubscribe` of
 * {@link CacheStore.subscribe} says when its channels are live again, since messages
 * published while it was down are never delivered.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Redis, type RedisOptions } from "ioredis";
import { errorMessage, ServiceUnavailableError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import {
  type CacheState,
  type CacheStore,
  type CacheValue,
  type MessageListener,
  type PingResult,
  ttlToMs,
  validTtlMs,
} from "./cache_store.ts";
import { decodeJson, encodeJson } from "./codec.ts";

/** TLS settings for `rediss://` or `tls: {...}` (PEM strings). */
export interface RedisTlsOptions {
  /** CA bundle to trust (PEM). */
  readonly ca?: string;
  /** Client certificate for mutual TLS (PEM). */
  readonly cert?: string;
  /** Client key for mutual TLS (PEM). */
  readonly key?: string;
  /** Server name for SNI and certificate checks. */
  readonly servername?: string;
  /** Verify the server certificate. Default true; never disable in production. */
  readonly rejectUnauthorized?: boolean;
}

/** Options of {@link createRedisCache}. Explicit fields override those parsed from `url`. */
export interface RedisCacheOptions {
  /** `redis://[user:pass@]host:port/db` or `rediss://...` (TLS). */
  readonly url?: string;
  /** Host name. Default `127.0.0.1` when no url. */
  readonly host?: string;
  /** Port. Default 6379 when no url. */
  readonly port?: number;
  /** Database number. */
  readonly db?: number;
  /** ACL user name. */
  readonly username?: string;
  /** Password (secret: never logged). */
  readonly password?: string;
  /** `true` for TLS with system CAs, or explicit TLS settings. */
  readonly tls?: boolean | RedisTlsOptions;
  /** Per-attempt connect timeout, and how long {@link CacheStore.connect} waits. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** A command without reply after this long fails with 503. Default 1000. */
  readonly commandTimeoutMs?: number;
  /** Prefix for every key and channel (e.g. `fess:`), for sharing a Redis. Default none. */
  readonly keyPrefix?: string;
  /** Batch concurrent commands into pipelines. Default true. */
  readonly autoPipelining?: boolean;
  /** Longest pause between reconnect attempts. Default 2000 ms. */
  readonly maxReconnectDelayMs?: number;
  /** Client name shown by `CLIENT LIST`. Default `fess`. */
  readonly connectionName?: string;
  /** Logger for connection events (never values or secrets). */
  readonly logger: Logger;
}

/** Replaces a whole hash atomically, optionally only when absent, with TTL and index. */
const PUT_HASH_LUA = `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[4]) end
return 1`;

/** Deletes a hash and its index membership atomically. */
const DELETE_HASH_LUA = `
local n = redis.call('DEL', KEYS[1])
if ARGV[1] == '1' then redis.call('SREM', KEYS[2], ARGV[2]) end
return n`;

type ScriptedRedis = Redis & {
  fessPutHash(k1: string, k2: string, ...args: (string | Buffer)[]): Promise<number>;
  fessDeleteHash(k1: string, k2: string, flag: string, member: string): Promise<number>;
};

const asBuffer = (v: CacheValue): Buffer | string =>
  typeof v === "string" ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Creates a Redis-backed cache store. Nothing connects until {@link CacheStore.connect}. */
export function createRedisCache(options: RedisCacheOptions): CacheStore {
  const log = options.logger.child({ component: "redis" });
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const maxDelay = options.maxReconnectDelayMs ?? 2000;
  const prefix = options.keyPrefix ?? "";
  const base: RedisOptions = {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    enableAutoPipelining: options.autoPipelining ?? true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectionName: options.connectionName ?? "fess",
    keyPrefix: prefix || undefined,
    // Capped exponential backoff with jitter; never give up (the service outlives outages).
    retryStrategy: (times) =>
      Math.round(Math.min(maxDelay, 50 * 2 ** Math.min(times, 12)) * (0.75 + Math.random() / 4)),
  };
  if (options.host !== undefined) base.host = options.host;
  if (options.port !== undefined) base.port = options.port;
  if (options.db !== undefined) base.db = options.db;
  if (options.username !== undefined) base.username = options.username;
  if (options.password !== undefined) base.password = options.password;
  if (options.tls) base.tls = options.tls === true ? {} : { ...options.tls };
  const redis = (options.url ? new Redis(options.url, base) : new Redis(base)) as ScriptedRedis;
  redis.defineCommand("fessPutHash", { numberOfKeys: 2, lua: PUT_HASH_LUA });
  redis.defineCommand("fessDeleteHash", { numberOfKeys: 2, lua: DELETE_HASH_LUA });
  const target = describeTarget(redis);

  let state: CacheState = "idle";
  let everReady = false;
  let closing = false;
  let lastError: string | undefined;
  let errorLogged = false;
  const stateListeners = new Set<(s: CacheState) => void>();
  const setState = (next: CacheState) => {
    if (next === state) return;
    state = next;
    for (const l of stateListeners) {
      try {
        l(next);
      } catch (err) {
        log.error("state listener failed", { error: err });
      }
    }
  };
  redis.on("ready", () => {
    if (everReady) log.info("redis reconnected", { target });
    else log.info("redis connected", { target });
    everReady = true;
    errorLogged = false;
    lastError = undefined;
    setState("ready");
  });
  redis.on("error", (err: Error) => {
    lastError = err.message;
    // One line per outage, not one per retry.
    if (!errorLogged) log.warn("redis connection error", { target, error: err.message });
    errorLogged = true;
  });
  redis.on("close", () => {
    if (closing) setState("closed");
    else if (state !== "idle" || everReady) setState(everReady ? "reconnecting" : "connecting");
  });
  redis.on("reconnecting", () => setState(everReady ? "reconnecting" : "connecting"));
  redis.on("end", () => setState("closed"));

  let subscriber: Redis | undefined;
  const channelListeners = new Map<string, Set<MessageListener>>();
  const resubscribeListeners = new Map<string, Set<() => void>>();

  const fail = (op: string, err: unknown): never => {
    if (err instanceof ServiceUnavailableError) throw err;
    const reason = closing ? "cache is closed" : (err as Error)?.message ?? String(err);
    throw new ServiceUnavailableError(`redis ${op} failed (${state}): ${reason}`, { cause: err });
  };
  const run = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    if (closing) throw new ServiceUnavailableError("redis cache is closed");
    try {
      return await fn();
    } catch (err) {
      return fail(op, err);
    }
  };

  const waitForReady = () =>
    new Promise<void>((resolve, reject) => {
      if (state === "ready") return resolve();
      const timer = setTimeout(() => {
        off();
        reject(
          new ServiceUnavailableError(
            `redis at ${target} not ready within ${connectTimeoutMs} ms` +
              (lastError ? `: ${lastError}` : ""),
          ),
        );
      }, connectTimeoutMs);
      const off = store.onStateChange((s) => {
        if (s === "ready") {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });

  const store: CacheStore = {
    kind: "redis",
    get state() {
      return state;
    },
    connect() {
      if (closing) return Promise.reject(new ServiceUnavailableError("redis cache is closed"));
      if (redis.status === "wait") {
        setState("connecting");
        // The first attempt may fail; the retry strategy keeps going and waitForReady decides.
        redis.connect().catch(() => {});
      }
      return waitForReady();
    },
    async ping(): Promise<PingResult> {
      const started = performance.now();
      try {
        if (closing) throw new Error("cache is closed");
        await redis.ping();
        return { ok: true, latencyMs: performance.now() - started, state };
      } catch (err) {
        return {
          ok: false,
          latencyMs: performance.now() - started,
          state,
          error: errorMessage(err),
        };
      }
    },
    get: (key) => run("GET", () => redis.getBuffer(key)),
    getJson: async (key) => {
      const bytes = await store.get(key);
      return bytes === null ? null : decodeJson(bytes);
    },
    set: (key, value, opts) =>
      run("SET", async () => {
        const ms = ttlToMs(opts?.ttlSeconds);
        if (ms === undefined) await redis.set(key, asBuffer(value));
        else await redis.set(key, asBuffer(value), "PX", ms);
      }),
    setIfAbsent: async (key, value, ttlMs) => {
      // A bad TTL is the caller's bug, not Redis being unavailable: no 503 wrapping.
      const ms = validTtlMs(ttlMs);
      return await run(
        "SET NX",
        async () => (await redis.set(key, asBuffer(value), "PX", ms, "NX")) === "OK",
      );
    },
    setJson: (key, value, opts) => store.set(key, encodeJson(value), opts),
    delete: (...keys) =>
      keys.length === 0 ? Promise.resolve(0) : run("DEL", () => redis.del(...keys)),
    exists: (key) => run("EXISTS", async () => (await redis.exists(key)) === 1),
    ttlMs: (key) => run("PTTL", () => redis.pttl(key)),
    putHash: (key, fields, opts = {}) =>
      run("HSET", async () => {
        const ms = ttlToMs(opts.ttlSeconds);
        const pairs: (string | Buffer)[] = [];
        for (const [f, v] of Object.entries(fields)) pairs.push(f, asBuffer(v as CacheValue));
        if (pairs.length === 0) throw new RangeError("putHash needs at least one field");
        const written = await redis.fessPutHash(
          key,
          opts.index?.key ?? key,
          opts.ifAbsent ? "1" : "0",
          String(ms ?? 0),
          opts.index ? "1" : "0",
          opts.index?.member ?? "",
          ...pairs,
        );
        return written === 1;
      }),
    getHash: (key) =>
      run("HGETALL", async () => {
        const h = await redis.hgetallBuffer(key);
        return Object.keys(h).length === 0 ? null : h as Record<string, Uint8Array>;
      }),
    deleteHash: (key, opts = {}) =>
      run("DEL", async () => {
        const n = await redis.fessDeleteHash(
          key,
          opts.index?.key ?? key,
          opts.index ? "1" : "0",
          opts.index?.member ?? "",
        );
        return n === 1;
      }),
    setMembers: (key) => run("SMEMBERS", () => redis.smembers(key)),
    setRemove: (key, ...members) =>
      members.length === 0 ? Promise.resolve(0) : run("SREM", () => redis.srem(key, ...members)),
    incr: (key) => run("INCR", () => redis.incr(key)),
    publish: (channel, message) =>
      run("PUBLISH", async () => {
        await redis.publish(prefix + channel, message);
      }),
    subscribe: (channel, listener, opts = {}) =>
      run("SUBSCRIBE", async () => {
        const full = prefix + channel;
        const sub = subscriber ??= openSubscriber();
        let set = channelListeners.get(full);
        if (!set) {
          channelListeners.set(full, set = new Set());
          await sub.subscribe(full);
        }
        set.add(listener);
        const { onResubscribe } = opts;
        let resubscribers = resubscribeListeners.get(full);
        if (onResubscribe) {
          if (!resubscribers) resubscribeListeners.set(full, resubscribers = new Set());
          resubscribers.add(onResubscribe);
        }
        return async () => {
          set.delete(listener);
          if (onResubscribe) resubscribers?.delete(onResubscribe);
          if (set.size === 0 && channelListeners.get(full) === set) {
            channelListeners.delete(full);
            resubscribeListeners.delete(full);
            await sub.unsubscribe(full).catch(() => {});
          }
        };
      }),
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    async close() {
      if (closing) return;
      closing = true;
      const quit = async (r: Redis) => {
        try {
          if (r.status === "ready") await r.quit();
          else r.disconnect();
        } catch {
          r.disconnect();
        }
      };
      await Promise.all([quit(redis), subscriber ? quit(subscriber) : Promise.resolve()]);
      setState("closed");
      stateListeners.clear();
    },
  };

  function openSubscriber(): Redis {
    // Subscriptions may be requested before Redis is up; they queue and are replayed
    // (autoResubscribe) after every reconnect.
    const sub = redis.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      enableAutoPipelining: false,
      connectionName: `${base.connectionName}-sub`,
    });
    sub.on("error", () => {}); // reported once per outage by the command connection
    let wasReady = false;
    sub.on("ready", () => {
      if (!wasReady) {
        wasReady = true;
        return;
      }
      // Messages published while this connection was down are lost. ioredis re-sends SUBSCRIBE
      // on reconnect without telling when it took effect; the reply to this one, queued
      // behind it, says the channels are live again, so listeners told now miss nothing after.
      const channels = [...channelListeners.keys()];
      if (channels.length === 0) return;
      sub.subscribe(...channels).then(() => {
        log.info("redis subscriber resubscribed", { target, channels: channels.length });
        for (const channel of channels) {
          for (const l of resubscribeListeners.get(channel) ?? []) {
            try {
              l();
            } catch (err) {
              log.error("resubscribe listener failed", { channel, error: err });
            }
          }
        }
      }, () => {}); // lost again: the next "ready" tries again
    });
    sub.on("message", (channel: string, message: string) => {
      for (const l of channelListeners.get(channel) ?? []) {
        try {
          l(message);
        } catch (err) {
          log.error("subscriber listener failed", { channel, error: err });
        }
      }
    });
    return sub;
  }

  return store;
}

/** `host:port/db` of a client, without credentials, for logs and errors. */
function describeTarget(redis: Redis): string {
  const o = redis.options;
  const where = o.path ? o.path : `${o.host ?? "127.0.0.1"}:${o.port ?? 6379}`;
  return `${o.tls ? "rediss" : "redis"}://${where}/${o.db ?? 0}`;
}
