/**
 * Fakes behind the pipeline's real interfaces, for unit tests: a recording {@link Publisher}
 * that can answer "queue full", a {@link FaceRecognizer} returning prepared events, a
 * {@link Detector} returning prepared detections, a recording logger, and pipeline settings
 * from the real schema's defaults.
 *
 * @module
 */
import { loadConfig } from "../../shared/config.ts";
import type { Detector } from "../../shared/detector/detector.ts";
import { TooManyRequestsError } from "../../shared/errors.ts";
import {
  createFaceRecognitionEvent,
  type Detection,
  type FessEvent,
  FessEventSchema,
} from "../../shared/events.ts";
import type { Publisher, PublishReceipt } from "../../shared/events/publisher.ts";
import type { FaceRecognizer, RecognizeContext } from "../../shared/faces/recognizer.ts";
import type { RawFrame } from "../../shared/image/raw_frame.ts";
import { createLogger, type Logger } from "../../shared/logger.ts";
import type { PipelineSettings } from "../../shared/pipeline/pipeline.ts";

/** A publisher that records what it accepts and answers 429 while `full` is set. */
export interface RecordingPublisher extends Publisher {
  readonly events: FessEvent[];
  full: boolean;
}

/** Creates a {@link RecordingPublisher}. */
export function recordingPublisher(): RecordingPublisher {
  const events: FessEvent[] = [];
  const p = {
    events,
    full: false,
    start: () => Promise.resolve(),
    publish(event: unknown): Promise<PublishReceipt> {
      if (p.full) {
        return Promise.reject(new TooManyRequestsError("event queue is full (10 pending)"));
      }
      const e = FessEventSchema.parse(event);
      events.push(e);
      return Promise.resolve({
        event: e,
        event_id: e.event_id,
        event_type: e.event_type,
        topic: e.event_type,
        delivery: Promise.resolve({
          status: "delivered" as const,
          topic: e.event_type,
          partition: 0,
          offset: String(events.length - 1),
        }),
      });
    },
    queued: 0,
    deadLetters: 0,
    oldestAgeMs: 0,
    healthCheck: () => ({
      healthy: true,
      mode: "fake",
      state: "connected" as const,
      queued: 0,
      oldest_age_ms: 0,
      dead_letters: 0,
      wal_bytes: 0,
      fsync: "none",
    }),
    refreshMetrics: () => {},
    state: "connected" as const,
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return p;
}

/** A face the fake recognizer reports. */
export interface PreparedFace {
  readonly faceId: string | null;
  readonly authorized: boolean;
}

/** A recognizer returning one prepared face event per entry of `faces` (or throwing). */
export function fakeRecognizer(
  faces: () => readonly PreparedFace[],
  opts: { fail?: Error } = {},
): FaceRecognizer & { calls: { frame: RawFrame; ctx: RecognizeContext }[] } {
  const calls: { frame: RawFrame; ctx: RecognizeContext }[] = [];
  const unused = () => Promise.reject(new Error("not used by the pipeline"));
  return {
    calls,
    encodeFrame: unused,
    encodeImage: unused,
    recognize(frame, ctx) {
      calls.push({ frame, ctx });
      if (opts.fail) return Promise.reject(opts.fail);
      return Promise.resolve(
        faces().map((f, i) =>
          createFaceRecognitionEvent({
            camera_id: ctx.cameraId,
            frame_number: ctx.frameNumber,
            timestamp: ctx.timestamp,
            bbox: { x1: 10 + i * 20, y1: 5.123, x2: 25 + i * 20, y2: 22 },
            detection_score: 0.912345,
            face_id: f.faceId,
            name: f.faceId === null ? null : f.faceId.toUpperCase(),
            similarity: f.faceId === null ? 0.2 : 0.812345,
            authorized: f.authorized,
          })
        ),
      );
    },
  };
}

/** A detector whose next result is `next` (settable), recording the frames it saw. */
export interface FakeDetector extends Detector {
  next: Detection[];
  readonly frames: RawFrame[];
}

/** Creates a {@link FakeDetector}. */
export function fakeDetector(): FakeDetector {
  const d: FakeDetector = {
    next: [],
    frames: [],
    backend: "wasm",
    model: {
      id: "fake-detector",
      path: "fake.onnx",
      sha256: null,
      format: "mmdeploy_end2end",
      input_size: 320,
      classes: 2,
      dynamic_batch: false,
    },
    classes: ["person", "car"],
    detect(frames) {
      d.frames.push(...frames);
      return Promise.resolve(frames.map(() => ({
        detections: d.next,
        timing: { preprocess_ms: 1.234, inference_ms: 2.345, postprocess_ms: 0.5 },
        batch_size: frames.length,
      })));
    },
    warmup: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return d;
}

/** A logger that keeps every record. */
export function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => records.push(JSON.parse(line)) });
  return { logger, records };
}

/** Pipeline settings: the schema's defaults under `env` (FESS_* names). */
export function pipelineSettings(env: Record<string, string> = {}): PipelineSettings {
  return loadConfig({ FESS_ENVIRONMENT: "test", ...env }, undefined);
}
