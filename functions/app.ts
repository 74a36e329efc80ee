/**
 * Composition root: builds every dependency once from validated settings and mounts the
 * handlers on one router. `main.ts` calls it once; tests call it with their own settings.
 *
 * Optional parts degrade instead of stopping the service: without Redis settings the face
 * gallery lives in memory; without Kafka brokers events go to a local JSON-lines log; a
 * missing detector model leaves the service up but `unhealthy` (and `/detect` answers 503
 * naming the file and its expected sha256), so an operator sees why.
 *
 * @module
 */
import { join } from "node:path";
import { getModelManifest } from "../models/registry.ts";
import { createAuthenticator } from "../shared/auth.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { createDetectionStore } from "../shared/cache/detection_store.ts";
import { createCameraActivity } from "../shared/camera_activity.ts";
import type { Config } from "../shared/config.ts";
import { createDetector, type Detector } from "../shared/detector/detector.ts";
import { createFrameBatcher } from "../shared/detector/frame_batcher.ts";
import { ServiceUnavailableError } from "../shared/errors.ts";
import { createKafkaClient } from "../shared/events/kafka_client.ts";
import { createDeadLetterLog } from "../shared/events/dead_letters.ts";
import { createEventLogSink } from "../shared/events/event_log_sink.ts";
import { createKafkaProducer } from "../shared/events/kafka_producer.ts";
import { createPublisher, type Publisher } from "../shared/events/publisher.ts";
import { ensureTopics } from "../shared/events/topics.ts";
import type { MessageSink } from "../shared/events/types.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { createFaceGallery, type FaceGallery } from "../shared/faces/gallery.ts";
import { createMobileFaceNetEmbedder } from "../shared/faces/mobilefacenet.ts";
import { createFaceRecognizer, type FaceRecognizer } from "../shared/faces/recognizer.ts";
import { createYuNetDetector } from "../shared/faces/yunet.ts";
import { createHealthService, type HealthCheck, systemHealthCheck } from "../shared/health.ts";
import type { Logger } from "../shared/logger.ts";
import { createMetrics, type FessMetrics } from "../shared/metrics.ts";
import { createMotionGate } from "../shared/motion/motion_gate.ts";
import { createOnnxSession, type OnnxSession } from "../shared/onnx/session.ts";
import { createFramePipeline } from "../shared/pipeline/frame_pipeline.ts";
import { createSystemStatsReader } from "../shared/system_stats.ts";
import { createCacheHandler } from "./cache.ts";
import { createDetectHandler } from "./detect.ts";
import { createHealthHandler } from "./health.ts";
import { createMetricsHandler } from "./metrics.ts";
import { createPublishHandler } from "./publish.ts";
import { createRouter, type Handler, type Mount } from "./router.ts";

/** FESS version reported by liveness. */
export const VERSION = "0.1.0";

/** A running application: its request handler and how to shut it down. */
export interface App {
  readonly fetch: Handler;
  readonly metrics: FessMetrics;
  /** The loaded detector, or null when its model could not be loaded. */
  readonly detector: Detector | null;
  readonly publisher: Publisher;
  readonly gallery: FaceGallery;
  /** Flushes events (delivered or spooled) and closes every dependency. Idempotent. */
  close(): Promise<void>;
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
}

type Closer = () => Promise<void>;

function createCache(config: Config, logger: Logger): CacheStore {
  const r = config.redis;
  if (!r.url && !r.host) {
    logger.info("no Redis configured: the face gallery and detection cache are in memory only");
    return createMemoryCache();
  }
  return createRedisCache({
    url: r.url,
    host: r.host,
    port: r.port,
    db: r.db,
    username: r.username,
    password: r.password,
    tls: r.tls,
    connectTimeoutMs: r.connect_timeout_ms,
    commandTimeoutMs: r.command_timeout_ms,
    autoPipelining: r.auto_pipelining,
    maxReconnectDelayMs: r.max_reconnect_delay_ms,
    keyPrefix: r.key_prefix || undefined,
    logger,
  });
}

async function createEventSink(config: Config, logger: Logger): Promise<MessageSink> {
  const k = config.kafka;
  if (k.brokers.length === 0) {
    logger.info("no Kafka brokers configured: events go to the local event log", {
      path: k.event_log_path,
    });
    return createEventLogSink({ path: k.event_log_path, logger });
  }
  const connection = {
    brokers: k.brokers,
    clientId: k.client_id,
    ssl: k.tls,
    retries: k.retries,
    sasl: k.sasl.mechanism === "none" ? undefined : {
      mechanism: k.sasl.mechanism,
      username: k.sasl.username ?? "",
      password: k.sasl.password ?? "",
    },
  };
  if (k.create_topics) {
    try {
      await ensureTopics({
        kafka: createKafkaClient({ ...connection, logger }),
        logger,
        topics: Object.values(k.topics),
        partitions: k.topic_partitions,
        replicationFactor: k.replication_factor,
      });
    } catch (err) {
      // Not fatal: events spool until the broker is reachable; topics may be made by ops.
      logger.warn("could not ensure Kafka topics", { reason: (err as Error).message });
    }
  }
  return createKafkaProducer({
    ...connection,
    logger,
    acks: k.acks,
    compression: k.compression,
    batchBytes: k.batch_bytes,
    lingerMs: k.linger_ms,
    maxInFlight: k.max_in_flight,
  });
}

async function loadDetector(
  config: Config,
  logger: Logger,
): Promise<{ detector: Detector | null; error: string | null }> {
  const d = config.detector;
  try {
    const detector = await createDetector({
      modelsDir: d.models_dir,
      manifest: getModelManifest(d.model_id),
      backend: d.backend,
      inputSize: d.input_size,
      scoreThreshold: d.score_threshold,
      classThresholds: d.class_thresholds,
      classAllowList: d.classes,
      maxBatch: d.max_batch,
      warmup: d.warmup,
      logger,
    });
    // Concurrent requests (several cameras) share session runs when the model takes a batch.
    const batched = detector.model.dynamic_batch
      ? createFrameBatcher(detector, { maxBatch: d.max_batch })
      : detector;
    return { detector: batched, error: null };
  } catch (err) {
    const error = (err as Error).message;
    logger.error("detector unavailable: /detect answers 503 and /health is unhealthy", {
      reason: error,
    });
    return { detector: null, error };
  }
}

async function loadRecognizer(
  config: Config,
  deps: { gallery: FaceGallery; metrics: FessMetrics; logger: Logger; closers: Closer[] },
): Promise<{ recognizer: FaceRecognizer | null; error: string | null }> {
  const f = config.faces;
  if (!f.enabled) return { recognizer: null, error: null };
  const sessions: OnnxSession[] = [];
  try {
    const open = async (id: string) => {
      const manifest = getModelManifest(id);
      const session = await createOnnxSession({
        modelPath: join(config.detector.models_dir, manifest.file),
        sha256: manifest.sha256 ?? undefined,
        backend: config.detector.backend,
        logger: deps.logger,
      });
      sessions.push(session);
      return session;
    };
    const recognizer = createFaceRecognizer({
      faceDetector: createYuNetDetector({
        session: await open(f.detector_model_id),
        scoreThreshold: f.detection_score,
      }),
      embedder: createMobileFaceNetEmbedder({ session: await open(f.embedder_model_id) }),
      gallery: deps.gallery,
      minFaceSize: f.min_face_size,
      metrics: deps.metrics,
      logger: deps.logger,
    });
    deps.closers.push(async () => {
      for (const s of sessions) await s.close();
    });
    return { recognizer, error: null };
  } catch (err) {
    for (const s of sessions) await s.close();
    const error = (err as Error).message;
    deps.logger.error("face recognition unavailable", { reason: error });
    return { recognizer: null, error };
  }
}

/** Builds the application: dependencies, handlers and router. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const metrics = createMetrics();
  const authenticator = createAuthenticator(config.server.api_keys);
  if (!authenticator.enabled) {
    logger.warn(
      "no API keys configured: protected routes (detect, faces, events) are open to anyone",
    );
  }
  // Closed in reverse order of creation.
  const closers: Closer[] = [];

  const cache = createCache(config, logger);
  closers.push(() => cache.close());
  if (cache.kind === "redis") {
    // A Redis that is down at start is not fatal: the client keeps reconnecting, the gallery
    // loads on reconnect, and health reports degraded meanwhile.
    await cache.connect().catch((err) =>
      logger.warn("Redis not reachable at start", { reason: (err as Error).message })
    );
  }
  const gallery = createFaceGallery({
    cache,
    threshold: config.faces.match_threshold,
    maxFaces: config.cache.max_faces,
    encryptionKey: config.faces.encryption_key,
    ttlSeconds: config.cache.face_ttl_seconds || undefined,
    metrics,
    logger,
  });
  await gallery.start();
  closers.push(() => gallery.close());

  const sink = await createEventSink(config, logger);
  const k = config.kafka;
  const publisher = createPublisher({
    sink,
    logger,
    topics: k.topics,
    queueCapacity: k.queue_max,
    wal: createWriteAheadLog({
      dir: k.spool_dir,
      logger,
      fsync: k.fsync,
      segmentBytes: k.wal_segment_bytes,
    }),
    deadLetters: createDeadLetterLog({ path: join(k.spool_dir, "dead_letters.jsonl") }),
    deadLetterTopic: k.brokers.length > 0 ? k.topics.dead_letter : undefined,
    legacySpoolDir: k.spool_dir,
    maxEventBytes: k.max_event_bytes,
    maxBacklogAgeMs: k.max_backlog_age_ms,
    maxWalBytes: k.wal_max_bytes,
    metrics,
  });
  await publisher.start();
  closers.push(() => publisher.close());

  const { detector, error: detectorError } = await loadDetector(config, logger);
  if (detector) closers.push(() => detector.close());
  const { recognizer, error: facesError } = await loadRecognizer(config, {
    gallery,
    metrics,
    logger,
    closers,
  });

  const activity = createCameraActivity({
    metrics,
    idleSeconds: config.motion.camera_idle_seconds,
  });
  const pipeline = createFramePipeline({
    publisher,
    activity,
    logger,
    motionGate: config.motion.enabled
      ? createMotionGate({
        pixelThreshold: config.motion.pixel_threshold,
        minAreaFraction: config.motion.min_area_fraction,
        analysisWidth: config.motion.analysis_width,
        idleSeconds: config.motion.camera_idle_seconds,
      })
      : undefined,
    detectionStore: config.cache.detection_ttl_seconds > 0
      ? createDetectionStore({ cache, ttlSeconds: config.cache.detection_ttl_seconds })
      : undefined,
    recognizer: recognizer ?? undefined,
    alertCooldownSeconds: config.faces.alert_cooldown_seconds,
  });

  const checks: HealthCheck[] = [
    {
      name: "detector",
      critical: true,
      check: () =>
        Promise.resolve(
          detector
            ? {
              healthy: true,
              backend: detector.backend,
              model: detector.model.id,
              input_size: detector.model.input_size,
              faces: recognizer
                ? "enabled"
                : config.faces.enabled
                ? `unavailable: ${facesError}`
                : "disabled",
            }
            : {
              healthy: false,
              backend: null,
              model: config.detector.model_id,
              error: detectorError,
            },
        ),
    },
    {
      name: "redis",
      critical: false,
      async check() {
        const ping = await cache.ping();
        return {
          healthy: ping.ok,
          mode: cache.kind,
          latency_ms: ping.latencyMs === null ? null : Math.round(ping.latencyMs * 100) / 100,
          state: ping.state,
          faces_indexed: gallery.size,
          ...(ping.error ? { error: ping.error } : {}),
        };
      },
    },
    {
      name: "kafka",
      critical: false,
      check: () => Promise.resolve({ ...publisher.healthCheck(), brokers: config.kafka.brokers }),
    },
    systemHealthCheck(createSystemStatsReader(config.health.disk_path), {
      cpuPercent: config.health.cpu_threshold_percent,
      memoryPercent: config.health.memory_threshold_percent,
      diskPercent: config.health.disk_threshold_percent,
    }),
  ];
  const health = createHealthService({ checks, timeoutMs: config.health.check_timeout_ms });

  const limit = config.server.body_limit_bytes;
  const detectHandler: Handler = detector
    ? createDetectHandler({
      detector,
      logger,
      metrics,
      hooks: pipeline,
      bodyLimitBytes: limit,
      // Face recognition needs full-resolution frames; without it decode straight to model size.
      scaledDecode: recognizer === null,
    })
    : () => Promise.reject(new ServiceUnavailableError(`detector unavailable: ${detectorError}`));
  const mounts: Mount[] = [
    {
      prefix: "/health",
      handler: createHealthHandler({ health, ready: () => detector !== null, version: VERSION }),
      protected: false,
    },
    {
      prefix: "/metrics",
      handler: createMetricsHandler({
        registry: metrics.registry,
        beforeScrape: () => {
          activity.refresh();
          publisher.refreshMetrics();
        },
      }),
      protected: false,
    },
    { prefix: "/detect", handler: detectHandler, protected: true },
    {
      prefix: "/faces",
      handler: createCacheHandler({
        gallery,
        faceEncoder: recognizer ?? undefined,
        logger,
        bodyLimitBytes: limit,
      }),
      protected: true,
    },
    {
      prefix: "/events",
      handler: createPublishHandler({ publisher, logger, bodyLimitBytes: limit }),
      protected: true,
    },
  ];
  const fetch = createRouter({ mounts, authenticator, logger, bodyLimitBytes: limit });

  let closing: Promise<void> | undefined;
  return {
    fetch,
    metrics,
    detector,
    publisher,
    gallery,
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
