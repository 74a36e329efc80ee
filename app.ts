/**
 * Composition root: builds every dependency once from validated settings (passing each module
 * its settings section) and mounts the handlers on one router. It wires; it holds no logic:
 * each module owns its loading rules and its health check. `main.ts` calls it once; tests
 * call it with their own settings.
 *
 * Optional parts degrade instead of stopping the service: without Redis settings the face
 * gallery lives in memory; without Kafka brokers events go to a local JSON-lines log; a
 * missing detector model leaves the service up but `unhealthy` (and `/detect` answers 503
 * naming the file and its expected sha256), so an operator sees why.
 *
 * @module
 */
import { createAlertDeduper } from "./shared/alerts/alert_dedup.ts";
import { createAuthenticator } from "./shared/auth.ts";
import { cacheHealthCheck, openCache } from "./shared/cache/open_cache.ts";
import type { Config } from "./shared/config.ts";
import type { Detector } from "./shared/detector/detector.ts";
import { loadDetector } from "./shared/detector/load_detector.ts";
import { openPublisher, publisherHealthCheck } from "./shared/events/open_publisher.ts";
import type { Publisher } from "./shared/events/publisher.ts";
import { createFaceGallery, type FaceGallery } from "./shared/faces/gallery.ts";
import { loadRecognizer } from "./shared/faces/load_recognizer.ts";
import { createFrameDecoder } from "./shared/image/frame_decoder.ts";
import { createHealthService, systemHealthCheck } from "./shared/health.ts";
import { createFramePreviewer, type FramePreviewer } from "./shared/live/frame_preview.ts";
import { createLiveFeed } from "./shared/live/live_feed.ts";
import { withLiveFeed } from "./shared/live/live_publisher.ts";
import type { Logger } from "./shared/logger.ts";
import { createMetrics, type FessMetrics } from "./shared/metrics.ts";
import { createPipeline, type Pipeline } from "./shared/pipeline/pipeline.ts";
import { detectorSettingsForTracking } from "./shared/pipeline/track_stage.ts";
import { createSnapshotStore } from "./shared/snapshots/create_snapshot_store.ts";
import { createSystemStatsReader } from "./shared/system_stats.ts";
import { createApi, openApiDocument } from "./functions/api.ts";
import { createCamerasHandler } from "./functions/cameras.ts";
import { createDetectHandler } from "./functions/detect.ts";
import { createDocsHandler } from "./functions/docs.ts";
import { createEventsHandler, EVENTS_BODY_LIMIT_BYTES } from "./functions/events.ts";
import { createFacesHandler } from "./functions/faces.ts";
import { createHealthHandler } from "./functions/health.ts";
import { createMetricsHandler } from "./functions/metrics.ts";
import { createPageHandler } from "./functions/page.ts";
import { createSnapshotsHandler } from "./functions/snapshots.ts";
import { createStreamHandler } from "./functions/stream.ts";

/** FESS version reported by liveness. */
export const VERSION = "0.1.0";

/** A running application: its request handler and how to shut it down. */
export interface App {
  readonly fetch: (req: Request) => Response | Promise<Response>;
  /** Every served route (method and Hono path), for tests and docs checks. */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
  readonly metrics: FessMetrics;
  /** The loaded detector, or null when its model could not be loaded. */
  readonly detector: Detector | null;
  readonly publisher: Publisher;
  readonly gallery: FaceGallery;
  /** The frame route, for sources other than HTTP (the camera intake). */
  readonly pipeline: Pipeline;
  /** Each camera's latest frame for the live page (JPEG on demand). */
  readonly previewer: FramePreviewer;
  /**
   * The server starts draining: ends what is long-lived by design (the live event streams,
   * whose responses then complete) so it does not hold the drain; ordinary requests in flight
   * carry on. Idempotent.
   */
  drain(): void;
  /**
   * Flushes events (delivered or spooled) and closes every dependency; drains first.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  /** Whether the process is shutting down (readiness then answers not ready). */
  readonly draining?: () => boolean;
}

/** Builds the application: dependencies, handlers and router. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const metrics = createMetrics();
  const authenticator = createAuthenticator(config.server.api_keys);
  if (!authenticator.enabled) {
    logger.warn(
      "no API keys configured: protected routes (detect, faces, events, snapshots, cameras) are open to anyone",
    );
  }
  // Closed in reverse order of creation.
  const closers: (() => Promise<void>)[] = [];

  const cache = await openCache({ settings: config.redis, logger });
  closers.push(() => cache.close());
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

  // Accepted events also go to the live page's event stream.
  const feed = createLiveFeed();
  const publisher = withLiveFeed(
    await openPublisher({ settings: config.kafka, logger, metrics }),
    feed,
  );
  closers.push(() => publisher.close());

  // With the tracker on, the detector also reports the low-score boxes the tracker needs.
  const loaded = await loadDetector({
    settings: detectorSettingsForTracking(config.detector, config.tracker),
    logger,
  });
  const detector = loaded.detector;
  if (detector) closers.push(() => detector.close());
  const faces = await loadRecognizer({
    settings: config.faces,
    models: { ...config.detector, backend: loaded.backend ?? config.detector.backend },
    gallery,
    metrics,
    logger,
  });
  closers.push(() => faces.close());

  const instanceId = config.server.instance_id ?? Deno.hostname();
  const snapshots = createSnapshotStore(config.snapshots, cache);
  const previewer = createFramePreviewer();
  const pipeline = createPipeline({
    settings: config,
    detector,
    detectorError: loaded.error,
    publisher,
    cache,
    recognizer: faces.recognizer,
    snapshots,
    deduper: createAlertDeduper({
      cache,
      ttlMs: Math.max(1, config.faces.alert_cooldown_seconds * 1000),
      owner: instanceId,
      logger,
    }),
    previewer,
    metrics,
    logger,
  });
  // Snapshots still being encoded are stored before the cache closes.
  closers.push(() => pipeline.settled());

  const health = createHealthService({
    checks: [
      loaded.healthCheck(() => ({ faces: faces.status })),
      cacheHealthCheck(cache, { details: () => ({ faces_indexed: gallery.size }) }),
      publisherHealthCheck(publisher, config.kafka),
      systemHealthCheck(createSystemStatsReader(config.health.disk_path), {
        cpuPercent: config.health.cpu_threshold_percent,
        memoryPercent: config.health.memory_threshold_percent,
        diskPercent: config.health.disk_threshold_percent,
      }),
    ],
    timeoutMs: config.health.check_timeout_ms,
  });

  const server = config.server;
  const limit = server.body_limit_bytes;
  const api = createApi({
    logger,
    authenticator,
    bodyLimitBytes: limit,
    readTimeoutMs: server.read_timeout_ms,
    minBodyBytesPerSecond: server.min_body_bytes_per_second,
    maxInflight: server.max_inflight,
    corsOrigins: server.cors,
    instanceId,
  });
  const ready = () => detector !== null && !deps.draining?.();
  api.route("/", createHealthHandler({ health, ready, version: VERSION }));
  api.route(
    "/",
    createMetricsHandler({
      registry: metrics.registry,
      beforeScrape: () => {
        publisher.refreshMetrics();
        return pipeline.prune();
      },
    }),
  );
  api.route(
    "/",
    createDetectHandler({
      pipeline,
      bodyLimitBytes: limit,
      timestampSkewSeconds: server.timestamp_skew_seconds,
      frameDecoder: createFrameDecoder({
        maxFramePixels: server.max_frame_pixels,
        maxConcurrentDecodes: server.max_concurrent_decodes,
        maxDecodePixels: server.max_decode_pixels,
        maxQueuedDecodes: server.max_queued_decodes,
      }),
    }),
  );
  api.route(
    "/",
    createFacesHandler({
      gallery,
      faceEncoder: faces.recognizer ?? undefined,
      logger,
      bodyLimitBytes: limit,
    }),
  );
  // Events are small: /events keeps its own 1 MiB limit, not the frame-sized server limit.
  api.route(
    "/",
    createEventsHandler({
      publisher,
      logger,
      bodyLimitBytes: Math.min(limit, EVENTS_BODY_LIMIT_BYTES),
      timestampSkewSeconds: server.timestamp_skew_seconds,
      snapshotBaseUrl: config.snapshots.base_url,
    }),
  );
  api.route("/", createSnapshotsHandler({ store: snapshots }));
  api.route(
    "/",
    createCamerasHandler({
      cameras: {
        list: () =>
          pipeline.cameras.list().map((c) => ({
            ...c,
            frame_url: `/cameras/${encodeURIComponent(c.camera_id)}/frame.jpg`,
          })),
        frameJpeg: (id) => pipeline.cameras.frameJpeg(id),
      },
    }),
  );
  api.route("/", createStreamHandler({ feed }));
  api.route("/", createPageHandler());
  api.route("/", createDocsHandler({ document: () => openApiDocument(api, VERSION) }));
  const fetch = (req: Request) => api.fetch(req);
  // Hono lists a route once per middleware; one entry per method and path.
  const routes = [
    ...new Set(api.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`)),
  ].map((key) => {
    const [method, path] = key.split(" ") as [string, string];
    return { method, path };
  });

  const drain = () => feed.close();
  let closing: Promise<void> | undefined;
  return {
    fetch,
    routes,
    metrics,
    detector,
    publisher,
    gallery,
    pipeline,
    previewer,
    drain,
    close() {
      closing ??= (async () => {
        drain();
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
