/**
 * The cache interface every FESS component talks to. Two implementations exist: Redis
 * (`redis_cache.ts`, production) and an in-memory map (`memory_cache.ts`, the embedded default
 * when no Redis is configured, and the fake behind unit tests). Values are bytes; strings are
 * stored as UTF-8, so binary face encodings and JSON documents share one code path.
 *
 * Failures are thrown as {@link ServiceUnavailableError} (503, retriable) with the reason, so
 * a handler can return them unchanged.
 *
 * @module
 */

/** A value written to the cache: raw bytes, or a string stored as UTF-8. */
export type CacheValue = Uint8Array | string;

/** Connection state of a cache, as reported on health checks. */
export type CacheState = "idle" | "connecting" | "ready" | "reconnecting" | "closed";

/** Result of {@link CacheStore.ping}; never thrown. */
export interface PingResult {
  /** Whether the server answered. */
  readonly ok: boolean;
  /** Round-trip time in milliseconds (time until failure when `ok` is false). */
  readonly latencyMs: number;
  /** Connection state at the time of the ping. */
  readonly state: CacheState;
  /** Why the ping failed (no secrets). */
  readonly error?: string;
}

/** Options of a write. */
export interface WriteOptions {
  /** Time to live in seconds (fractions allowed, millisecond precision). Absent: no expiry. */
  readonly ttlSeconds?: number;
}

/** Options of {@link CacheStore.putHash}. */
export interface PutHashOptions extends WriteOptions {
  /** Only write when the key does not exist (atomic check-and-set). Default false. */
  readonly ifAbsent?: boolean;
  /** Also add `member` to the set at `key`, in the same atomic step. */
  readonly index?: { readonly key: string; readonly member: string };
}

/** Options of {@link CacheStore.deleteHash}. */
export interface DeleteHashOptions {
  /** Also remove `member` from the set at `key`, in the same atomic step. */
  readonly index?: { readonly key: string; readonly member: string };
}

/** Called with each message published on a subscribed channel. */
export type MessageListener = (message: string) => void;

/** Options of {@link CacheStore.subscribe}. */
export interface SubscribeOptions {
  /**
   * Called each time the subscription is live again after its connection was lost. Messages
   * published meanwhile were not delivered, so the subscriber should re-read what it follows.
   */
  readonly onResubscribe?: () => void;
}

/** The key-value operations FESS needs, over Redis or memory. */
export interface CacheStore {
  /** Which implementation this is. */
  readonly kind: "redis" | "memory";
  /** Current connection state (`ready` for memory). */
  readonly state: CacheState;
  /**
   * Connects (Redis) and resolves once ready; rejects with a 503 after the connect timeout but
   * keeps reconnecting in the background.
   */
  connect(): Promise<void>;
  /** Round-trip check for health endpoints; never throws. */
  ping(): Promise<PingResult>;
  /** Bytes at `key`, or null when absent or expired. */
  get(key: string): Promise<Uint8Array | null>;
  /** JSON document at `key` (parsed), or null when absent. */
  getJson(key: string): Promise<unknown>;
  /** Writes `value` at `key`, with the TTL when given. */
  set(key: string, value: CacheValue, options?: WriteOptions): Promise<void>;
  /**
   * Writes `value` at `key` with a TTL only when `key` does not exist (Redis `SET NX PX`), in
   * one atomic step: resolves to whether this call wrote it. Several processes racing on one
   * key see exactly one `true` until the TTL ends.
   */
  setIfAbsent(key: string, value: CacheValue, ttlMs: number): Promise<boolean>;
  /** Writes `value` as a JSON document at `key`. */
  setJson(key: string, value: unknown, options?: WriteOptions): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(...keys: string[]): Promise<number>;
  /** Whether `key` exists. */
  exists(key: string): Promise<boolean>;
  /** Remaining TTL in milliseconds: -1 when the key has no expiry, -2 when it does not exist. */
  ttlMs(key: string): Promise<number>;
  /**
   * Replaces the hash at `key` with `fields` (fields not given are dropped). Resolves to false
   * when `ifAbsent` was set and the key already existed (nothing written).
   */
  putHash(
    key: string,
    fields: Readonly<Record<string, CacheValue>>,
    options?: PutHashOptions,
  ): Promise<boolean>;
  /** All fields of the hash at `key` as bytes, or null when absent. */
  getHash(key: string): Promise<Record<string, Uint8Array> | null>;
  /** Deletes the hash at `key` (and its index membership); resolves to whether it existed. */
  deleteHash(key: string, options?: DeleteHashOptions): Promise<boolean>;
  /** Members of the set at `key` (empty when absent). */
  setMembers(key: string): Promise<string[]>;
  /** Removes members from the set at `key`. */
  setRemove(key: string, ...members: string[]): Promise<number>;
  /** Increments the integer at `key`, resolving to the new value. */
  incr(key: string): Promise<number>;
  /** Publishes `message` on `channel`. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes `listener` to `channel` (re-subscribed after reconnects). Resolves to an
   * unsubscribe function.
   */
  subscribe(
    channel: string,
    listener: MessageListener,
    options?: SubscribeOptions,
  ): Promise<() => Promise<void>>;
  /** Calls `listener` on every state change; returns a function that removes it. */
  onStateChange(listener: (state: CacheState) => void): () => void;
  /** Closes connections; later calls fail with 503. */
  close(): Promise<void>;
}

const utf8 = new TextEncoder();

/** Converts a {@link CacheValue} to bytes. */
export function toBytes(value: CacheValue): Uint8Array {
  return typeof value === "string" ? utf8.encode(value) : value;
}

/** Validates a TTL and converts it to whole milliseconds (at least 1). */
export function ttlToMs(ttlSeconds: number | undefined): number | undefined {
  if (ttlSeconds === undefined) return undefined;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive finite number, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

/** Validates a TTL given in milliseconds and rounds it to a whole number (at least 1). */
export function validTtlMs(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a positive finite number, got ${ttlMs}`);
  }
  return Math.max(1, Math.round(ttlMs));
}
