/**
 * What one frame produced: the body of `POST /detect/{camera_id}` and the return value of
 * `pipeline.process`, defined once here as a zod schema (types are inferred from it; the API
 * docs are generated from it).
 *
 * Invariants: every key is present on every frame (a frame the motion gate skipped has
 * `detections: []`, `faces: []`, empty `events` lists, `cached: null` and 0 for the stages
 * that did not run); `similarity` is null when a face matched nobody. Rounding, one rule:
 * pixel coordinates and milliseconds to 2 decimals, scores and fractions (0-1) to 4.
 *
 * @module
 */
import { z } from "zod";
import { CameraIdSchema } from "../camera_id.ts";
import { BoundingBoxSchema, DetectionSchema, EVENT_TYPES, TimestampSchema } from "../events.ts";

/** Rounds pixel coordinates and milliseconds: 2 decimals. */
export function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Rounds scores, similarities and fractions: 4 decimals. */
export function round4(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}

/** How a frame arrived. */
export const FrameSourceSchema = z.enum(["jpeg", "png", "raw"]);
/** How a frame arrived. */
export type FrameSource = z.infer<typeof FrameSourceSchema>;

/** The motion gate's verdict; null in the outcome when motion gating is off. */
export const MotionVerdictSchema = z.object({
  detected: z.boolean(),
  score: z.number().min(0).max(1).describe("share of changed samples; 1 for a first frame"),
});
/** The motion gate's verdict. */
export type MotionVerdict = z.infer<typeof MotionVerdictSchema>;

/** One face found in a person box, matched (or not) against the gallery. */
export const FaceOutcomeSchema = z.object({
  bbox: BoundingBoxSchema,
  score: z.number().min(0).max(1).describe("face detection score"),
  face_id: z.string().nullable().describe("the matched gallery face, null when none matched"),
  name: z.string().nullable(),
  similarity: z.number().min(-1).max(1).nullable().describe(
    "cosine similarity to the matched face; null when none matched",
  ),
  authorized: z.boolean(),
  track_id: z.number().int().positive().nullable().describe(
    "the person track whose box held the face; null without a tracker",
  ),
});
/** One face of a frame. */
export type FaceOutcome = z.infer<typeof FaceOutcomeSchema>;

/** An event the publisher refused (queue full, invalid), with why. */
export const RejectedEventSchema = z.object({
  event_id: z.string().nullable().describe("null when the event could not even be built"),
  event_type: z.enum(EVENT_TYPES),
  reason: z.string(),
});
/** A refused event. */
export type RejectedEvent = z.infer<typeof RejectedEventSchema>;

/** Events of the frame: ids accepted by the publisher, and the refused ones. */
export const FrameEventsSchema = z.object({
  published: z.array(z.string()),
  rejected: z.array(RejectedEventSchema),
});
/** Events of a frame. */
export type FrameEvents = z.infer<typeof FrameEventsSchema>;

const ms = z.number().nonnegative();

/** Milliseconds per stage; 0 for a stage that did not run. */
export const FrameTimingSchema = z.object({
  decode_ms: ms.describe("JPEG/PNG decode or raw-frame wrap"),
  motion_ms: ms.describe("motion gate"),
  queue_ms: ms.describe("waiting for the detector (batching, the run before)"),
  preprocess_ms: ms.describe("letterbox of the detector run this frame was part of"),
  inference_ms: ms.describe("model run of that detector run"),
  postprocess_ms: ms.describe("box decoding of that detector run"),
  track_ms: ms.describe("camera thresholds and tracker"),
  faces_ms: ms.describe("face detection, embedding and matching"),
  alerts_ms: ms.describe("rules, replica de-duplication and alert events"),
  publish_ms: ms.describe("building and enqueueing events"),
  total_ms: ms.describe("decode through the end of the pipeline"),
  batch_size: z.number().int().nonnegative().describe("frames in the detector run; 0 if none"),
});
/** Per-stage timings. */
export type FrameTiming = z.infer<typeof FrameTimingSchema>;

/** The outcome of one frame. */
export const FrameOutcomeSchema = z.object({
  camera_id: CameraIdSchema,
  frame_number: z.number().int().nonnegative().describe(
    "as given, else the camera's next number",
  ),
  timestamp: TimestampSchema,
  source: FrameSourceSchema,
  width: z.number().int().positive().describe("frame width as sent"),
  height: z.number().int().positive().describe("frame height as sent"),
  detection_ran: z.boolean(),
  model: z.object({
    id: z.string(),
    backend: z.string(),
    input_size: z.number().int().positive(),
  }),
  motion: MotionVerdictSchema.nullable().describe("null when motion gating is off"),
  detections: z.array(DetectionSchema),
  faces: z.array(FaceOutcomeSchema),
  events: FrameEventsSchema,
  cached: z.boolean().nullable().describe(
    "true: detections stored; false: the write failed or was not confirmed within " +
      "cache.detection_write_wait_ms; null: nothing to store (no detection, or caching off)",
  ),
  timing: FrameTimingSchema,
});
/** The outcome of one frame. */
export type FrameOutcome = z.infer<typeof FrameOutcomeSchema>;
