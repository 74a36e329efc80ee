/**
 * Composition root: builds every dependency once from validated settings and mounts the
 * handlers on one router. `main.ts` calls it once; tests call it with their own settings.
 *
 * @module
 */
import type { Config } from "../shared/config.ts";
import { createAuthenticator } from "../shared/auth.ts";
import { createHealthService, type HealthCheck, systemHealthCheck } from "../shared/health.ts";
import type { Logger } from "../shared/logger.ts";
import { createMetrics, type FessMetrics } from "../shared/metrics.ts";
import { createSystemStatsReader } from "../shared/system_stats.ts";
import { createHealthHandler } from "./health.ts";
import { createMetricsHandler } from "./metrics.ts";
import { createRouter, type Handler, type Mount } from "./router.ts";

/** FESS version reported by liveness. */
export const VERSION = "0.1.0";

/** A running application: its request handler and how to shut it down. */
export interface App {
  readonly fetch: Handler;
  readonly metrics: FessMetrics;
  /** Flushes and closes every dependency. Idempotent. */
  close(): Promise<void>;
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
}

/** Builds the application: dependencies, handlers and router. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const metrics = createMetrics();
  const authenticator = createAuthenticator(config.server.api_keys);
  if (!authenticator.enabled) {
    logger.warn("no API keys configured: protected routes (faces, events, detect) are open to anyone");
  }
  const closers: (() => Promise<void>)[] = [];

  const checks: HealthCheck[] = [
    systemHealthCheck(createSystemStatsReader(config.health.disk_path), {
      cpuPercent: config.health.cpu_threshold_percent,
      memoryPercent: config.health.memory_threshold_percent,
      diskPercent: config.health.disk_threshold_percent,
    }),
  ];
  const health = createHealthService({ checks, timeoutMs: config.health.check_timeout_ms });

  const mounts: Mount[] = [
    { prefix: "/health", handler: createHealthHandler({ health, ready: () => true, version: VERSION }), protected: false },
    { prefix: "/metrics", handler: createMetricsHandler({ registry: metrics.registry }), protected: false },
  ];
  const fetch = createRouter({ mounts, authenticator, logger, bodyLimitBytes: config.server.body_limit_bytes });

  let closing: Promise<void> | undefined;
  return {
    fetch,
    metrics,
    close() {
      closing ??= (async () => {
        for (const close of closers.reverse()) {
          try {
            await close();
          } catch (err) {
            logger.error("shutdown step failed", { error: err });
          }
        }
      })();
      return closing;
    },
  };
}
