/**
 * FESS's Prometheus metrics, on one custom prom-client {@link Registry} per service instance
 * (never the global default registry), passed to whoever records. Names, types, labels and
 * buckets are part of the public contract: dashboards and alerts depend on them.
 * Label cardinality stays bounded: camera ids are validated ({@link CAMERA_ID_PATTERN}) and
 * object classes come from the model's class list.
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import os from "node:os";

/** Buckets of `fess_detection_latency_seconds`. */
export const DETECTION_LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/** The service's metrics. */
export interface FessMetrics {
  readonly registry: Registry;
  readonly detectionsTotal: Counter<"camera_id" | "object_class">;
  readonly detectionLatency: Histogram<"camera_id">;
  readonly faceRecognitionsTotal: Counter<"camera_id" | "authorized">;
  readonly faceCacheHits: Counter;
  readonly faceCacheMisses: Counter;
  readonly kafkaEventsSent: Counter<"topic" | "status">;
  readonly kafkaDeadLetters: Counter<"topic" | "reason">;
  readonly kafkaOldestUndeliveredSeconds: Gauge;
  readonly kafkaWalBytes: Gauge;
  readonly kafkaWalRecords: Gauge;
  readonly activeCameras: Gauge;
  readonly fps: Gauge<"camera_id">;
  readonly cacheWriteFailures: Counter<"reason">;
  readonly cpuUsagePercent: Gauge;
  readonly memoryUsageBytes: Gauge;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Also register prom-client's default process metrics (prefixed `fess_`). Default true. */
  readonly defaultMetrics?: boolean;
}

/** Creates a fresh registry with every FESS metric registered on it. */
export function createMetrics(options: MetricsOptions = {}): FessMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: "fess_" });
  }

  // CPU percent is the share of one core used since the previous scrape, like `top`.
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  const cpuUsagePercent = new Gauge({
    name: "fess_cpu_usage_percent",
    help: "Process CPU usage since the previous scrape, percent of one core",
    registers,
    collect() {
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      const elapsedUs = (now - lastAt) * 1000;
      if (elapsedUs > 0) this.set(((cpu.user + cpu.system) / elapsedUs) * 100);
      lastCpu = process.cpuUsage();
      lastAt = now;
    },
  });
  const memoryUsageBytes = new Gauge({
    name: "fess_memory_usage_bytes",
    help: "Process resident set size in bytes",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });

  return {
    registry,
    detectionsTotal: new Counter({
      name: "fess_detections_total",
      help: "Objects detected, by camera and class",
      labelNames: ["camera_id", "object_class"] as const,
      registers,
    }),
    detectionLatency: new Histogram({
      name: "fess_detection_latency_seconds",
      help: "Time to detect objects in one frame (decode to postprocess), seconds",
      labelNames: ["camera_id"] as const,
      buckets: DETECTION_LATENCY_BUCKETS,
      registers,
    }),
    faceRecognitionsTotal: new Counter({
      name: "fess_face_recognitions_total",
      help: "Faces recognised, by camera and whether the face is authorised",
      labelNames: ["camera_id", "authorized"] as const,
      registers,
    }),
    faceCacheHits: new Counter({
      name: "fess_face_cache_hits_total",
      help: "Face cache lookups that found the face",
      registers,
    }),
    faceCacheMisses: new Counter({
      name: "fess_face_cache_misses_total",
      help: "Face cache lookups that did not find the face",
      registers,
    }),
    kafkaEventsSent: new Counter({
      name: "fess_kafka_events_sent_total",
      help: "Events handed to Kafka, by topic and outcome (sent, dead_lettered)",
      labelNames: ["topic", "status"] as const,
      registers,
    }),
    kafkaDeadLetters: new Counter({
      name: "fess_kafka_dead_letters_total",
      help: "Events the broker refused for good, written to the dead-letter file, by reason",
      labelNames: ["topic", "reason"] as const,
      registers,
    }),
    kafkaOldestUndeliveredSeconds: new Gauge({
      name: "fess_kafka_oldest_undelivered_age_seconds",
      help: "Age of the oldest accepted event not yet delivered (0 when none)",
      registers,
    }),
    kafkaWalBytes: new Gauge({
      name: "fess_kafka_wal_bytes",
      help: "Bytes in the event write-ahead log's live segments",
      registers,
    }),
    kafkaWalRecords: new Gauge({
      name: "fess_kafka_wal_records",
      help: "Accepted events in the write-ahead log not yet delivered",
      registers,
    }),
    activeCameras: new Gauge({
      name: "fess_active_cameras",
      help: "Cameras that sent a frame within the activity window",
      registers,
    }),
    fps: new Gauge({
      name: "fess_fps",
      help: "Frames per second received, by camera",
      labelNames: ["camera_id"] as const,
      registers,
    }),
    cacheWriteFailures: new Counter({
      name: "fess_cache_write_failures_total",
      help:
        "Detection-cache writes that failed (error) or were skipped with too many in flight (backlog)",
      labelNames: ["reason"] as const,
      registers,
    }),
    cpuUsagePercent,
    memoryUsageBytes,
  };
}

/** The label every per-camera series carries. */
export const CAMERA_LABEL = "camera_id";

/**
 * Removes every series labelled with one of `cameraIds` from every metric of `registry` that
 * has a `camera_id` label, whoever registered it, so per-camera cardinality follows the live
 * cameras.
 */
export async function removeCameraSeries(
  registry: Registry,
  cameraIds: ReadonlySet<string>,
): Promise<void> {
  if (cameraIds.size === 0) return;
  for (const metric of registry.getMetricsAsArray()) {
    const m = metric as unknown as PerCameraMetric;
    if (!m.labelNames?.includes(CAMERA_LABEL)) continue;
    const seen = new Set<string>();
    for (const { labels } of (await m.get()).values) {
      const id = labels[CAMERA_LABEL];
      if (typeof id !== "string" || !cameraIds.has(id)) continue;
      // Histogram samples carry `le`; the series itself is named without it.
      const { le: _le, quantile: _q, ...series } = labels;
      const key = JSON.stringify(series);
      if (seen.has(key)) continue;
      seen.add(key);
      m.remove(series);
    }
  }
}

/** What {@link removeCameraSeries} uses of a prom-client metric. */
interface PerCameraMetric {
  readonly labelNames?: readonly string[];
  get(): Promise<{ values: { labels: Record<string, string | number | undefined> }[] }>;
  remove(labels: Record<string, string | number | undefined>): void;
}

/** Host CPU count, for health's CPU percentage. */
export function cpuCount(): number {
  return os.cpus().length || 1;
}
