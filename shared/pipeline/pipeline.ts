/**
 * A frame's single route. Every source (the HTTP handler, later the camera intake) calls
 * {@link Pipeline.process} with a decoded {@link FrameInput} and gets one typed
 * {@link FrameOutcome}. The stages run in this order, each a small module taking named deps
 * and returning a typed result:
 *
 * ```
 * validate input (422) -> camera record (429 past server.max_cameras) -> frame number
 *   -> motion gate          motion_stage.ts   (camera masks applied; still frame: stop here)
 *   -> detector (batched)   detect_stage.ts
 *   -> tracker              track_stage.ts    (camera thresholds, track ids, lifecycle)
 *   -> detection cache      cache_stage.ts    (started, runs beside the event; bounded wait)
 *   -> MotionDetection event                  (detections with track ids, track lifecycle)
 *   -> faces per track      faces_stage.ts    (tracks without a confident identity)
 *   -> rules                the camera's rules engine (enter, dwell, face rules)
 *   -> alerts + snapshots   alerts_stage.ts   (replica de-duplication; JPEG in the background)
 *   -> live preview         the record's preview state (no pixel work)
 *   -> outcome
 * ```
 *
 * Per-camera state lives only in the camera's record ({@link CameraRegistry}). Dependency
 * trouble never fails a frame: a slow or failing cache gives `cached: false`, a refused event
 * is listed in `events.rejected`, a recognizer failure gives `faces: []`.
 *
 * @module
 */
import type { AlertDeduper } from "../alerts/alert_dedup.ts";
import { CameraIdSchema } from "../camera_id.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { createDetectionStore } from "../cache/detection_store.ts";
import type { Config } from "../config.ts";
import type { Detector } from "../detector/detector.ts";
import { ServiceUnavailableError, ValidationError } from "../errors.ts";
import {
  createMotionDetectionEvent,
  type Detection,
  type FaceRecognitionEvent,
} from "../events.ts";
import type { Publisher } from "../events/publisher.ts";
import type { FaceRecognizer } from "../faces/recognizer.ts";
import type { FramePreviewer } from "../live/frame_preview.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import type { SnapshotStore } from "../snapshots/snapshot_store.ts";
import { runAlertsStage } from "./alerts_stage.ts";
import { createDetectionCacheWriter, type PendingCacheWrite } from "./cache_stage.ts";
import {
  type CameraRecord,
  type CameraRegistry,
  type CameraSummary,
  createCameraRegistry,
} from "./camera_registry.ts";
import { createCameraScene } from "./camera_scene.ts";
import { type DetectStageResult, runDetectStage } from "./detect_stage.ts";
import { createEventRecorder } from "./event_recorder.ts";
import { type FacesStageResult, runFacesStage, runTrackFacesStage } from "./faces_stage.ts";
import type { FrameInput } from "./frame_input.ts";
import {
  type FaceOutcome,
  type FrameOutcome,
  type FrameTiming,
  type MotionVerdict,
  round2,
  round4,
} from "./frame_outcome.ts";
import { parseFrameTimestamp } from "./frame_timestamp.ts";
import { runMotionStage } from "./motion_stage.ts";
import { runTrackStage } from "./track_stage.ts";

/** The settings sections the pipeline reads. */
export type PipelineSettings = Pick<
  Config,
  "server" | "motion" | "faces" | "cache" | "detector" | "tracker" | "snapshots" | "cameras"
>;

/** Dependencies of {@link createPipeline}. */
export interface PipelineDeps {
  readonly settings: PipelineSettings;
  /** The (batched) detector; null when its model could not load (frames get 503). */
  readonly detector: Detector | null;
  /** Why there is no detector, for the 503. */
  readonly detectorError?: string | null;
  readonly publisher: Pick<Publisher, "publish">;
  /** Where detections are cached; null (or `cache.detection_ttl_seconds` 0) for no caching. */
  readonly cache: CacheStore | null;
  /** Null when face recognition is off or its models are missing. */
  readonly recognizer: Pick<FaceRecognizer, "recognize"> | null;
  /** Where alert snapshots go; null or absent: alerts have no snapshot. */
  readonly snapshots?: SnapshotStore | null;
  /** Alert claims across replicas; null or absent: no cross-replica de-duplication. */
  readonly deduper?: AlertDeduper | null;
  /** Keeps each camera's latest frame for the live page; absent: no previews. */
  readonly previewer?: FramePreviewer | null;
  readonly metrics: FessMetrics;
  readonly logger: Logger;
  /** Class whose boxes are searched for faces. Default `person`. */
  readonly personClass?: string;
  /** Clock in ms. */
  readonly now?: () => number;
}

/** The frame pipeline. */
export interface Pipeline {
  /**
   * Runs one frame through every stage.
   * @throws ValidationError (422) for a bad camera id, frame number or timestamp
   * @throws TooManyRequestsError (429) for a new camera past `server.max_cameras`
   * @throws ServiceUnavailableError (503) when the detector is not loaded
   */
  process(frame: FrameInput): Promise<FrameOutcome>;
  /**
   * Throws what `process` would for a missing detector, so a source can refuse a frame (503)
   * before spending work on decoding it.
   */
  assertReady(): void;
  /**
   * The per-camera records, read-only for the live page: `list()` (summaries by id) and
   * `frameJpeg(id)` (the latest frame's JPEG, encoded on demand; null when none is kept).
   */
  readonly cameras: Pick<CameraRegistry, "get" | "size" | "list"> & {
    frameJpeg(cameraId: string): Promise<Uint8Array | null>;
  };
  /** Forgets idle cameras (records and metric series); run before each metrics scrape. */
  prune(): Promise<number>;
  /** Resolves when the background work started so far (alert snapshots) has finished. */
  settled(): Promise<void>;
}

/** A camera's summary for the live page (re-exported for handlers). */
export type { CameraSummary };

const STILL_TIMING = {
  queue_ms: 0,
  preprocess_ms: 0,
  inference_ms: 0,
  postprocess_ms: 0,
  track_ms: 0,
  faces_ms: 0,
  alerts_ms: 0,
  publish_ms: 0,
  batch_size: 0,
} as const;

/** Creates the pipeline. */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const { settings, detector, metrics, publisher } = deps;
  const now = deps.now ?? (() => Date.now());
  const log = deps.logger.child({ component: "pipeline" });
  const personClass = deps.personClass ?? "person";
  const cameras = createCameraRegistry({
    maxCameras: settings.server.max_cameras,
    idleSeconds: settings.motion.camera_idle_seconds,
    metrics,
    logger: deps.logger,
    now,
    build: {
      scene: (id) => createCameraScene(settings, id, personClass),
      preview: deps.previewer ? () => deps.previewer!.createState() : undefined,
    },
  });
  const motion = {
    options: settings.motion.enabled
      ? {
        pixelThreshold: settings.motion.pixel_threshold,
        minAreaFraction: settings.motion.min_area_fraction,
        analysisWidth: settings.motion.analysis_width,
      }
      : null,
  };
  const cacheWriter = deps.cache && settings.cache.detection_ttl_seconds > 0
    ? createDetectionCacheWriter({
      store: createDetectionStore({
        cache: deps.cache,
        ttlSeconds: settings.cache.detection_ttl_seconds,
      }),
      waitMs: settings.cache.detection_write_wait_ms,
      metrics,
      logger: deps.logger,
    })
    : null;
  const faces = { recognizer: deps.recognizer, personClass, logger: log };
  const track = {
    scoreThreshold: settings.detector.score_threshold,
    classThresholds: settings.detector.class_thresholds,
  };
  // Background work (snapshot encoding and storing), awaited by settled().
  const pending = new Set<Promise<void>>();
  const background = (work: Promise<void>) => {
    const p = work.finally(() => pending.delete(p));
    pending.add(p);
  };
  const alerts = {
    deduper: deps.deduper ?? null,
    snapshots: deps.snapshots && settings.snapshots.enabled
      ? {
        store: deps.snapshots,
        quality: settings.snapshots.jpeg_quality,
        baseUrl: settings.snapshots.base_url,
      }
      : null,
    background,
    logger: log,
  };
  const previewer = deps.previewer ?? null;

  const validate = (input: FrameInput): string => {
    if (!CameraIdSchema.safeParse(input.cameraId).success) {
      throw new ValidationError(`invalid camera id ${JSON.stringify(input.cameraId.slice(0, 80))}`);
    }
    const n = input.frameNumber;
    if (n !== null && !(Number.isSafeInteger(n) && n >= 0)) {
      throw new ValidationError(`frame_number must be a non-negative integer, got ${n}`);
    }
    return parseFrameTimestamp(input.timestamp, {
      nowMs: now(),
      skewSeconds: settings.server.timestamp_skew_seconds,
    });
  };

  const nextFrameNumber = (camera: CameraRecord, given: number | null): number => {
    // Cameras that do not number their frames get a per-camera sequence.
    const n = given ?? camera.lastFrameNumber + 1;
    camera.lastFrameNumber = n;
    return n;
  };

  const unavailable = () =>
    new ServiceUnavailableError(`detector unavailable: ${deps.detectorError}`);

  return {
    cameras: {
      get: (id) => cameras.get(id),
      get size() {
        return cameras.size;
      },
      list() {
        // Reading the list is an open page: every camera's next frame is kept for its JPEG.
        previewer?.watchAll();
        return cameras.list();
      },
      async frameJpeg(id) {
        const preview = cameras.get(id)?.preview;
        return previewer && preview ? await previewer.jpeg(preview) : null;
      },
    },
    assertReady() {
      if (!detector) throw unavailable();
    },
    prune: () => cameras.prune(),
    async settled() {
      while (pending.size > 0) await Promise.all(pending);
    },
    async process(input) {
      const started = performance.now();
      if (!detector) throw unavailable();
      const timestamp = validate(input);
      const camera = cameras.admit(input.cameraId);
      const frameNumber = nextFrameNumber(camera, input.frameNumber);
      const { frame } = input;
      const width = frame.width;
      const height = frame.height;
      const outcome = {
        camera_id: input.cameraId,
        frame_number: frameNumber,
        timestamp,
        source: input.source,
        width,
        height,
        model: {
          id: detector.model.id,
          backend: detector.backend,
          input_size: detector.model.input_size,
        },
      };
      const finish = (timing: Omit<FrameTiming, "decode_ms" | "total_ms">) => ({
        decode_ms: round2(input.decodeMs),
        ...timing,
        total_ms: round2(input.decodeMs + performance.now() - started),
      });
      const preview = (view: {
        detections: readonly Detection[];
        motion: MotionVerdict | null;
        detection_ran: boolean;
      }) => {
        if (previewer && camera.preview) {
          previewer.update(camera.preview, frame, {
            frame_number: frameNumber,
            timestamp,
            width,
            height,
            ...view,
          });
        }
      };

      // 1. motion gate (the camera's masks applied)
      const gate = runMotionStage(motion, camera, frame);
      if (!gate.run) {
        // A still frame shows what the last detected frame found: nothing moved since.
        preview({
          detections: camera.preview?.view?.detections ?? [],
          motion: gate.verdict,
          detection_ran: false,
        });
        return {
          ...outcome,
          detection_ran: false,
          motion: gate.verdict,
          detections: [],
          faces: [],
          events: { published: [], rejected: [] },
          cached: null,
          timing: finish({ ...STILL_TIMING, motion_ms: round2(gate.ms) }),
        };
      }

      // 2. detector (through the batcher), then the camera's thresholds and tracker
      const found: DetectStageResult = await runDetectStage({ detector, metrics }, input);
      const timestampMs = Date.parse(timestamp);
      const scene = camera.scene;
      const tracked = runTrackStage(track, scene, found.detections, timestampMs);
      const detections = tracked.detections;
      for (const d of detections) {
        metrics.detectionsTotal.inc({ camera_id: input.cameraId, object_class: d.class_name });
      }

      // 3. detection cache: started now, settled (bounded) before the CPU-heavy faces stage, so
      // a blocked event loop cannot make a prompt Redis reply look like a timeout.
      const write: PendingCacheWrite | null = cacheWriter
        ? cacheWriter.write(input.cameraId, frameNumber, timestamp, detections)
        : null;

      // 4. MotionDetection event
      const base = { camera_id: input.cameraId, frame_number: frameNumber, timestamp };
      const recorder = createEventRecorder({ publisher, logger: log, cameraId: input.cameraId });
      void recorder.publish("motion_detection", () =>
        createMotionDetectionEvent({
          ...base,
          motion_score: gate.score,
          detections,
          frame_width: width,
          frame_height: height,
          ...(tracked.lifecycles ? { tracks: tracked.lifecycles } : {}),
        }));

      const cached = write ? await write.settle() : null;

      // 5. faces: per track (only tracks due a search) or, without a tracker, per person box
      const withTime = { ...input, timestamp };
      const recognised: FacesStageResult = scene.tracker
        ? await runTrackFacesStage(faces, scene.identities, withTime, frameNumber, {
          tracks: tracked.tracks,
          ended: tracked.ended,
          timestampMs,
        })
        : await runFacesStage(faces, withTime, frameNumber, detections);
      for (const face of recognised.publish) void recorder.publish("face_recognition", () => face);

      // 6. rules -> 7. alerts with snapshots
      const a0 = performance.now();
      const fired = scene.tracker
        ? scene.rules.evaluate({
          tracks: tracked.tracks,
          ended: tracked.ended,
          identities: scene.identities.identities,
          present: scene.inherited,
          frameWidth: width,
          frameHeight: height,
          timestampMs,
        })
        : [];
      await runAlertsStage(
        alerts,
        camera,
        {
          frameNumber,
          frame,
          width,
          height,
        },
        fired,
        recorder,
      );
      const alertsMs = performance.now() - a0;
      await recorder.settle();

      preview({ detections, motion: gate.verdict, detection_ran: true });
      log.debug("frame processed", {
        camera_id: input.cameraId,
        frame_number: frameNumber,
        detections: detections.length,
        faces: recognised.faces.length,
        alerts: fired.length,
      });
      return {
        ...outcome,
        detection_ran: true,
        motion: gate.verdict,
        detections,
        faces: recognised.faces.map(faceOutcome),
        events: recorder.events,
        cached,
        timing: finish({
          motion_ms: round2(gate.ms),
          queue_ms: round2(found.queueMs),
          preprocess_ms: round2(found.preprocessMs),
          inference_ms: round2(found.inferenceMs),
          postprocess_ms: round2(found.postprocessMs),
          track_ms: round2(tracked.ms),
          faces_ms: round2(recognised.ms),
          alerts_ms: round2(alertsMs),
          publish_ms: round2(recorder.ms),
          batch_size: found.batchSize,
        }),
      };
    },
  };
}

function faceOutcome(e: FaceRecognitionEvent): FaceOutcome {
  const b = e.bbox;
  return {
    bbox: { x1: round2(b.x1), y1: round2(b.y1), x2: round2(b.x2), y2: round2(b.y2) },
    score: round4(e.detection_score),
    face_id: e.face_id,
    name: e.name,
    similarity: e.face_id === null ? null : round4(e.similarity),
    authorized: e.authorized,
    track_id: e.track_id ?? null,
  };
}
