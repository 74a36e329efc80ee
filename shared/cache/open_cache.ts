/**
 * The cache as the service runs it, built from the `redis` settings section: Redis when a url
 * or host is set, else the in-memory store. A Redis that is down at start is not fatal: the
 * client keeps reconnecting and the cache's health check reports it meanwhile.
 *
 * @module
 */
import type { RedisSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { HealthCheck } from "../health.ts";
import type { Logger } from "../logger.ts";
import type { CacheStore } from "./cache_store.ts";
import { createMemoryCache } from "./memory_cache.ts";
import { createRedisCache } from "./redis_cache.ts";

/** Dependencies of {@link openCache}. */
export interface OpenCacheDeps {
  readonly settings: RedisSettings;
  readonly logger: Logger;
}

/** Builds the configured cache and starts connecting it; never throws for an unreachable Redis. */
export async function openCache(deps: OpenCacheDeps): Promise<CacheStore> {
  const { settings: s, logger } = deps;
  if (!s.url && !s.host) {
    logger.info("no Redis configured: the face gallery and detection cache are in memory only");
    return createMemoryCache();
  }
  const cache = createRedisCache({
    url: s.url,
    host: s.host,
    port: s.port,
    db: s.db,
    username: s.username,
    password: s.password,
    tls: s.tls,
    connectTimeoutMs: s.connect_timeout_ms,
    commandTimeoutMs: s.command_timeout_ms,
    autoPipelining: s.auto_pipelining,
    maxReconnectDelayMs: s.max_reconnect_delay_ms,
    keyPrefix: s.key_prefix || undefined,
    logger,
  });
  await cache.connect().catch((err) =>
    logger.warn("Redis not reachable at start", { reason: errorMessage(err) })
  );
  return cache;
}

/** Options of {@link cacheHealthCheck}. */
export interface CacheHealthOptions {
  /** Extra fields for the report (e.g. how many faces the gallery indexes). */
  readonly details?: () => Record<string, unknown>;
}

/** The cache's non-critical health check, named `redis`: a ping with its latency and state. */
export function cacheHealthCheck(cache: CacheStore, options: CacheHealthOptions = {}): HealthCheck {
  return {
    name: "redis",
    critical: false,
    async check() {
      const ping = await cache.ping();
      return {
        healthy: ping.ok,
        mode: cache.kind,
        latency_ms: ping.latencyMs === null ? null : Math.round(ping.latencyMs * 100) / 100,
        state: ping.state,
        ...options.details?.(),
        ...(ping.error ? { error: ping.error } : {}),
      };
    },
  };
}
