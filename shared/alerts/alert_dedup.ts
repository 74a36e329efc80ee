/**
 * Alert de-duplication across replicas: before raising an alert, a replica claims its key in
 * the shared cache with `SET NX PX` (one atomic step on Redis), and only the replica whose claim
 * wins raises it. The claim lives for the alert cooldown, so a camera that moves to another
 * replica (failover, rebalancing) does not alert again for the same face within the cooldown.
 *
 * Invariants:
 * - at most one successful {@link AlertDeduper.claim} per key per `ttlMs`, across every process
 *   sharing the cache (with the memory cache: within this process only);
 * - a cache failure never suppresses an alert: the claim fails open (a duplicate alert beats a
 *   lost one) and the failure is logged once per outage;
 * - {@link AlertDeduper.release} gives a claim back when the alert could not be raised (e.g. a
 *   full event queue), so the next frame may raise it.
 *
 * Marks are the second, softer tool (for objects without a fleet-wide identity, see
 * shared/alerts/alert_keys.ts): {@link AlertDeduper.mark} records "this holder alerted here"
 * for a TTL, and {@link AlertDeduper.heldByOthers} asks whether another holder did. They fail
 * open the same way (a failed read answers "no").
 *
 * @module
 */
import type { CacheStore } from "../cache/cache_store.ts";
import { alertClaimKey } from "../cache/keys.ts";
import type { Logger } from "../logger.ts";

/** Options of {@link createAlertDeduper}. */
export interface AlertDeduperOptions {
  /** The shared cache (Redis in a multi-replica deployment). */
  readonly cache: CacheStore;
  /** How long a claim holds: the alert cooldown, in milliseconds (> 0). */
  readonly ttlMs: number;
  /** Written as the claim's value, to see in Redis which replica raised an alert. */
  readonly owner?: string;
  readonly logger: Logger;
}

/** Claims alert keys in the shared cache. */
export interface AlertDeduper {
  /**
   * Whether this caller may raise the alert `alertKey` now (true once per TTL, fleet-wide).
   * `ttlMs` overrides the deduper's TTL for this claim (a rule's own cooldown).
   */
  claim(alertKey: string, ttlMs?: number): Promise<boolean>;
  /** Gives back a claim whose alert was not raised. Never throws. */
  release(alertKey: string): Promise<void>;
  /** Writes `alertKey` as held by `holder` for `ttlMs` (overwriting). Never throws. */
  mark(alertKey: string, holder: string, ttlMs: number): Promise<void>;
  /** Whether any of `alertKeys` is held by someone other than `holder`. Never throws. */
  heldByOthers(alertKeys: readonly string[], holder: string): Promise<boolean>;
}

/** Creates a deduper over `options.cache`. */
export function createAlertDeduper(options: AlertDeduperOptions): AlertDeduper {
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a positive number, got ${options.ttlMs}`);
  }
  const log = options.logger.child({ component: "alert_dedup" });
  const owner = options.owner ?? "fess";
  const decoder = new TextDecoder();
  let failing = false;
  const failed = (op: string, err: unknown) => {
    if (!failing) {
      log.warn("alert claims unavailable: alerts are raised without fleet-wide de-duplication", {
        op,
        reason: (err as Error)?.message ?? String(err),
      });
    }
    failing = true;
  };
  return {
    async claim(alertKey, ttlMs = options.ttlMs) {
      try {
        const won = await options.cache.setIfAbsent(alertClaimKey(alertKey), owner, ttlMs);
        if (failing) log.info("alert claims available again");
        failing = false;
        return won;
      } catch (err) {
        failed("claim", err);
        return true;
      }
    },
    async release(alertKey) {
      try {
        await options.cache.delete(alertClaimKey(alertKey));
      } catch (err) {
        failed("release", err);
      }
    },
    async mark(alertKey, holder, ttlMs) {
      try {
        await options.cache.set(alertClaimKey(alertKey), holder, { ttlSeconds: ttlMs / 1000 });
      } catch (err) {
        failed("mark", err);
      }
    },
    async heldByOthers(alertKeys, holder) {
      try {
        const values = await Promise.all(
          alertKeys.map((k) => options.cache.get(alertClaimKey(k))),
        );
        return values.some((v) => v !== null && decoder.decode(v) !== holder);
      } catch (err) {
        failed("read", err);
        return false;
      }
    },
  };
}
