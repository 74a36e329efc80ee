/**
 * Dependency-aware health. Each component check runs concurrently under its own timeout, so a
 * hung Redis or Kafka cannot hang `/health`. The overall status is `unhealthy` when a critical
 * component (the detector: without it FESS cannot do its job) fails, `degraded` when only
 * non-critical ones fail (Redis down while the in-process face index still serves, Kafka down
 * while the spool keeps events), `healthy` otherwise.
 *
 * @module
 */
import { errorMessage } from "./errors.ts";
import type { SystemStatsReader } from "./system_stats.ts";

/** Overall or component status. */
export type HealthStatus = "healthy" | "degraded" | "unhealthy";

/** What a component check returns: `healthy` plus component-specific fields. */
export interface ComponentHealth {
  readonly healthy: boolean;
  readonly [field: string]: unknown;
}

/** One component's check. */
export interface HealthCheck {
  /** Component name in the report (`redis`, `kafka`, `detector`, `system`). */
  readonly name: string;
  /** Whether its failure makes the service unhealthy (otherwise degraded). */
  readonly critical: boolean;
  /** Runs the check; should honour `signal` but need not: the timeout wins regardless. */
  check(signal: AbortSignal): Promise<ComponentHealth>;
}

/** The `/health` body. */
export interface HealthReport {
  readonly status: HealthStatus;
  readonly timestamp: string;
  readonly components: Record<string, ComponentHealth>;
}

/** Aggregates component checks. */
export interface HealthService {
  /** Runs every check (each bounded by the timeout) and aggregates. */
  report(): Promise<HealthReport>;
}

/** Options of {@link createHealthService}. */
export interface HealthServiceOptions {
  readonly checks: readonly HealthCheck[];
  /** Per-check timeout in milliseconds. */
  readonly timeoutMs: number;
}

async function runBounded(check: HealthCheck, timeoutMs: number): Promise<ComponentHealth> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<ComponentHealth>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ healthy: false, error: `check timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      check.check(controller.signal).catch((err: unknown) => ({
        healthy: false,
        error: errorMessage(err),
      })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Creates the aggregating health service. */
export function createHealthService(options: HealthServiceOptions): HealthService {
  return {
    async report() {
      const results = await Promise.all(
        options.checks.map((c) => runBounded(c, options.timeoutMs)),
      );
      const components: Record<string, ComponentHealth> = {};
      let status: HealthStatus = "healthy";
      options.checks.forEach((c, i) => {
        const r = results[i]!;
        components[c.name] = r;
        if (!r.healthy) {
          status = c.critical ? "unhealthy" : status === "unhealthy" ? status : "degraded";
        }
      });
      return { status, timestamp: new Date().toISOString(), components };
    },
  };
}

/** Thresholds of the system check, in percent. */
export interface SystemThresholds {
  readonly cpuPercent: number;
  readonly memoryPercent: number;
  readonly diskPercent: number;
}

/** A non-critical check that fails when CPU, memory or disk use passes its threshold. */
export function systemHealthCheck(read: SystemStatsReader, limits: SystemThresholds): HealthCheck {
  return {
    name: "system",
    critical: false,
    check() {
      const s = read();
      const over: string[] = [];
      if (s.cpu_percent > limits.cpuPercent) {
        over.push(`cpu ${s.cpu_percent}% > ${limits.cpuPercent}%`);
      }
      if (s.memory_percent > limits.memoryPercent) {
        over.push(`memory ${s.memory_percent}% > ${limits.memoryPercent}%`);
      }
      if (s.disk_percent > limits.diskPercent) {
        over.push(`disk ${s.disk_percent}% > ${limits.diskPercent}%`);
      }
      return Promise.resolve(
        over.length === 0
          ? { healthy: true, ...s }
          : { healthy: false, ...s, error: over.join("; ") },
      );
    },
  };
}
