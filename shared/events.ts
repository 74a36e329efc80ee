/**
 * Event schemas: the contract between FESS and every consumer of its Kafka topics. zod schemas
 * are the single source of truth; types are inferred from them. Every event carries
 * `schema_version` so consumers can evolve, a UUID `event_id`, a UTC ISO-8601 `timestamp`
 * (an offset-less "naive" time is rejected: it is ambiguous across cameras in other zones),
 * the `camera_id` that keys its Kafka partition, and the `frame_number` it came from.
 *
 * The objects are strict: a field the schema does not name is refused (422 naming it) rather
 * than dropped, so what is accepted is exactly what every consumer and the live page receive.
 *
 * @module
 */
import { z } from "zod";
import { CameraIdSchema } from "./camera_id.ts";
import { formatIssues, type ValidationIssue } from "./http.ts";

/** Version of the event schemas; bump on breaking changes. */
export const SCHEMA_VERSION = 1;

/**
 * Per-field size limits: together they keep every event far below the Kafka record limit
 * (`kafka.max_event_bytes`), so an oversized event is refused at the door with the field that
 * is too big rather than by the broker after it was accepted.
 */
export const EVENT_LIMITS = Object.freeze({
  /** Detections in one event. */
  detections: 1_000,
  /** UTF-8 bytes of a system-status `detail` object as JSON. */
  detailBytes: 64 * 1024,
  /** Characters of a class name. */
  className: 64,
  /** Characters of a face id. */
  faceId: 128,
  /** Characters of a person's name. */
  name: 256,
  /** Characters of an alert message. */
  message: 1_024,
  /** Characters of an alert's snapshot URL. */
  snapshotUrl: 2_048,
});

/** Earliest accepted event time: epoch milliseconds below zero break many consumers. */
export const EARLIEST_TIMESTAMP = "1970-01-01T00:00:00Z";
/** Accepted event times are before this (a far-future value is a bug, not a capture time). */
export const LATEST_TIMESTAMP = "2100-01-01T00:00:00Z";
const EARLIEST_MS = Date.parse(EARLIEST_TIMESTAMP);
const LATEST_MS = Date.parse(LATEST_TIMESTAMP);

/** Every event type FESS publishes. */
export const EVENT_TYPES = [
  "motion_detection",
  "face_recognition",
  "alert",
  "system_status",
] as const;

/** zod schema of an event type. */
export const EventTypeSchema = z.enum(EVENT_TYPES);
/** An event type. */
export type EventType = z.infer<typeof EventTypeSchema>;

/**
 * ISO-8601 timestamp with an explicit `Z` or offset (naive times are rejected), from
 * {@link EARLIEST_TIMESTAMP} up to {@link LATEST_TIMESTAMP}. `POST /events` further requires an
 * event's own time to be within `server.timestamp_skew_seconds` of now, like `/detect`.
 */
export const TimestampSchema = z.iso.datetime({
  offset: true,
  message: "timestamp must be ISO-8601 with Z or an offset",
  // A malformed time gets this one issue, not a range issue as well.
  abort: true,
}).refine((s) => {
  const ms = Date.parse(s);
  return ms >= EARLIEST_MS && ms < LATEST_MS;
}, { message: `timestamp must be from ${EARLIEST_TIMESTAMP} and before ${LATEST_TIMESTAMP}` });

/** Axis-aligned box in frame pixels, `x1 <= x2`, `y1 <= y2`. */
export const BoundingBoxSchema = z.strictObject({
  x1: z.number().finite(),
  y1: z.number().finite(),
  x2: z.number().finite(),
  y2: z.number().finite(),
}).refine((b) => b.x2 >= b.x1 && b.y2 >= b.y1, { message: "box must have x2 >= x1 and y2 >= y1" });
/** A bounding box. */
export type BoundingBox = z.infer<typeof BoundingBoxSchema>;

/** One detected object. */
export const DetectionSchema = z.strictObject({
  class_id: z.number().int().nonnegative(),
  class_name: z.string().min(1).max(EVENT_LIMITS.className),
  score: z.number().min(0).max(1),
  bbox: BoundingBoxSchema,
  /** Id of the object's track on this camera; null or absent: not (yet) a confirmed track. */
  track_id: z.number().int().positive().nullable().optional(),
});
/** A detected object. */
export type Detection = z.infer<typeof DetectionSchema>;

/** A facial landmark point in frame pixels. */
export const PointSchema = z.strictObject({ x: z.number().finite(), y: z.number().finite() });

const base = {
  schema_version: z.literal(SCHEMA_VERSION),
  event_id: z.uuid({ message: "event_id must be a UUID" }),
  timestamp: TimestampSchema,
  camera_id: CameraIdSchema,
  frame_number: z.number().int().nonnegative(),
};

/** What happened to a track in one frame: started, matched, unmatched, or ended. */
export const TRACK_PHASES = ["new", "update", "lost", "end"] as const;

/** One confirmed track's state after a frame (lifecycle in events). */
export const TrackLifecycleSchema = z.strictObject({
  track_id: z.number().int().positive(),
  class_name: z.string().min(1).max(EVENT_LIMITS.className),
  phase: z.enum(TRACK_PHASES),
  /** Matched box (`new`, `update`), else the predicted one. */
  bbox: BoundingBoxSchema,
  /** Score of the last matched detection. */
  score: z.number().min(0).max(1),
  hits: z.number().int().nonnegative(),
  /** Consecutive frames without a match. */
  missed: z.number().int().nonnegative(),
  first_seen: TimestampSchema,
  last_seen: TimestampSchema,
});
/** A track's lifecycle entry. */
export type TrackLifecycle = z.infer<typeof TrackLifecycleSchema>;

/** Motion was seen on a camera and the detector ran on the frame. */
export const MotionDetectionEventSchema = z.strictObject({
  ...base,
  event_type: z.literal("motion_detection"),
  motion_score: z.number().min(0).max(1),
  detections: z.array(DetectionSchema).max(EVENT_LIMITS.detections),
  frame_width: z.number().int().positive(),
  frame_height: z.number().int().positive(),
  inference_ms: z.number().nonnegative().optional(),
  /** Every confirmed track of the camera after this frame, and those that ended in it. */
  tracks: z.array(TrackLifecycleSchema).optional(),
});
/** A motion-detection event. */
export type MotionDetectionEvent = z.infer<typeof MotionDetectionEventSchema>;

/** A face was found and matched (or not) against the gallery. */
export const FaceRecognitionEventSchema = z.strictObject({
  ...base,
  event_type: z.literal("face_recognition"),
  bbox: BoundingBoxSchema,
  landmarks: z.array(PointSchema).length(5).optional(),
  detection_score: z.number().min(0).max(1),
  face_id: z.string().min(1).max(EVENT_LIMITS.faceId).nullable(),
  name: z.string().max(EVENT_LIMITS.name).nullable(),
  similarity: z.number().min(-1).max(1),
  authorized: z.boolean(),
  /** Track of the person whose box held the face (published when its identity is new). */
  track_id: z.number().int().positive().nullable().optional(),
});
/** A face-recognition event. */
export type FaceRecognitionEvent = z.infer<typeof FaceRecognitionEventSchema>;

/** Alert severities. */
export const SEVERITIES = ["info", "warning", "critical"] as const;

/** Something an operator should look at (e.g. an unauthorised face). */
export const AlertEventSchema = z.strictObject({
  ...base,
  event_type: z.literal("alert"),
  alert_type: z.string().min(1).max(64),
  severity: z.enum(SEVERITIES),
  message: z.string().min(1).max(EVENT_LIMITS.message),
  detections: z.array(DetectionSchema).max(EVENT_LIMITS.detections).default([]),
  face_id: z.string().min(1).max(EVENT_LIMITS.faceId).nullable().optional(),
  /** The camera rule that fired (absent for alerts not raised by a rule). */
  rule_id: z.string().min(1).max(64).optional(),
  /** Track that fired it. */
  track_id: z.number().int().positive().nullable().optional(),
  /** Zone of the rule; null: the whole frame. */
  zone: z.string().min(1).max(64).nullable().optional(),
  /** Class of the tracked object. */
  object_class: z.string().min(1).max(EVENT_LIMITS.className).optional(),
  /** Detection score of the object in the frame that fired. */
  score: z.number().min(0).max(1).optional(),
  /** The object's box in that frame. */
  bbox: BoundingBoxSchema.optional(),
  /** Seconds the track had been in the zone (dwell rules). */
  dwell_seconds: z.number().nonnegative().optional(),
  /** Capture time of the frame that fired (the alert latency starts here). */
  captured_at: TimestampSchema.optional(),
  /**
   * Where the alert's JPEG snapshot is served (GET, API key), until it expires: FESS's own
   * `/snapshots/{event_id}` route, as a path or under `snapshots.base_url`
   * ({@link snapshotUrlProblem}).
   */
  snapshot_url: z.string().min(1).max(EVENT_LIMITS.snapshotUrl).nullable().optional(),
}).superRefine((e, ctx) => {
  if (typeof e.snapshot_url !== "string" || typeof e.event_id !== "string") return;
  const problem = snapshotUrlProblem(e.snapshot_url, e.event_id);
  if (problem) ctx.addIssue({ code: "custom", path: ["snapshot_url"], message: problem });
});
/** An alert event. */
export type AlertEvent = z.infer<typeof AlertEventSchema>;

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
// An optional path prefix (a base_url's own path) of plain segments, then the snapshot route.
// No empty, dot-led or backslash segments: `//host` and `/\host` are other hosts to a browser.
const SNAPSHOT_PATH = new RegExp(`^(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/snapshots/(${UUID})$`);

/**
 * Why `url` is not a snapshot URL FESS could have built for event `eventId` (null when it is).
 * FESS serves a snapshot at `/snapshots/{event_id}`, given as that path or prefixed by
 * `snapshots.base_url`; so `snapshot_url` is a path of that form, or an http(s) URL without
 * credentials, query or fragment whose path ends so, naming the event's own id. Clients send
 * their API key with it, so anything else (`javascript:`, another route) is refused; which
 * hosts are FESS is the reader's check (the live page fetches same-origin URLs only).
 */
export function snapshotUrlProblem(url: string, eventId: string): string | null {
  const shape = "snapshot_url must be /snapshots/{event_id} or an http(s) URL ending in it";
  let path = url;
  if (!url.startsWith("/")) {
    if (!/^https?:\/\/[^\s\\?#]+$/i.test(url)) return shape;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return shape;
    }
    if (parsed.username !== "" || parsed.password !== "") {
      return "snapshot_url must not carry credentials";
    }
    path = parsed.pathname;
  }
  const id = SNAPSHOT_PATH.exec(path)?.[1];
  if (id === undefined) return shape;
  if (id.toLowerCase() !== eventId.toLowerCase()) {
    return "snapshot_url must name the alert's own event_id";
  }
  return null;
}

function jsonBytes(value: unknown): number {
  try {
    return new TextEncoder().encode(JSON.stringify(value) ?? "").length;
  } catch {
    return Infinity; // cyclic or BigInt: never publishable
  }
}

/** Periodic or on-change status of one component (detector, publisher...). */
export const SystemStatusEventSchema = z.strictObject({
  ...base,
  event_type: z.literal("system_status"),
  component: z.string().min(1).max(64),
  status: z.enum(["healthy", "degraded", "unhealthy"]),
  detail: z.record(z.string(), z.unknown()).superRefine((detail, ctx) => {
    const size = jsonBytes(detail);
    if (size > EVENT_LIMITS.detailBytes) {
      ctx.addIssue({
        code: "custom",
        message: `detail is ${size} bytes as JSON; the limit is ${EVENT_LIMITS.detailBytes}`,
      });
    }
  }).default({}),
});
/** A system-status event. */
export type SystemStatusEvent = z.infer<typeof SystemStatusEventSchema>;

/** Any FESS event, discriminated by `event_type`. */
export const FessEventSchema = z.discriminatedUnion("event_type", [
  MotionDetectionEventSchema,
  FaceRecognitionEventSchema,
  AlertEventSchema,
  SystemStatusEventSchema,
]);
/** Any FESS event. */
export type FessEvent = z.infer<typeof FessEventSchema>;

type Filled = "schema_version" | "event_id" | "timestamp" | "event_type";
/** Fields a caller gives a constructor: everything but what it fills in (timestamp optional). */
export type EventInput<E> = Omit<E, Filled> & { timestamp?: string | Date };

function fill<T extends EventType>(type: T, input: { timestamp?: string | Date }) {
  const ts = input.timestamp instanceof Date
    ? input.timestamp.toISOString()
    : input.timestamp ?? new Date().toISOString();
  return {
    ...input,
    schema_version: SCHEMA_VERSION,
    event_id: crypto.randomUUID(),
    timestamp: ts,
    event_type: type,
  };
}

/** Builds a validated {@link MotionDetectionEvent}, filling id, timestamp and version. */
export function createMotionDetectionEvent(
  input: EventInput<MotionDetectionEvent>,
): MotionDetectionEvent {
  return MotionDetectionEventSchema.parse(fill("motion_detection", input));
}

/** Builds a validated {@link FaceRecognitionEvent}, filling id, timestamp and version. */
export function createFaceRecognitionEvent(
  input: EventInput<FaceRecognitionEvent>,
): FaceRecognitionEvent {
  return FaceRecognitionEventSchema.parse(fill("face_recognition", input));
}

/** Builds a validated {@link AlertEvent}, filling id, timestamp and version. */
export function createAlertEvent(
  input: Omit<EventInput<AlertEvent>, "detections"> & { detections?: Detection[] },
): AlertEvent {
  return AlertEventSchema.parse(fill("alert", input));
}

/** Builds a validated {@link SystemStatusEvent}, filling id, timestamp and version. */
export function createSystemStatusEvent(
  input: Omit<EventInput<SystemStatusEvent>, "detail"> & { detail?: Record<string, unknown> },
): SystemStatusEvent {
  return SystemStatusEventSchema.parse(fill("system_status", input));
}

/** Validates an event against {@link FessEventSchema}, listing every problem when invalid. */
export function checkEvent(
  value: unknown,
): { ok: true; event: FessEvent } | { ok: false; issues: ValidationIssue[] } {
  const parsed = FessEventSchema.safeParse(value);
  if (parsed.success) return { ok: true, event: parsed.data };
  return { ok: false, issues: formatIssues(parsed.error.issues) };
}

/** Parses an event from its JSON text (as consumed from Kafka), validating it. */
export function parseEvent(json: string): FessEvent {
  return FessEventSchema.parse(JSON.parse(json));
}
