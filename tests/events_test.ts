import assert from "node:assert/strict";
import type { z } from "zod";
import {
  AlertEventSchema,
  createAlertEvent,
  createFaceRecognitionEvent,
  createMotionDetectionEvent,
  createSystemStatusEvent,
  FaceRecognitionEventSchema,
  FessEventSchema,
  MotionDetectionEventSchema,
  parseEvent,
  SCHEMA_VERSION,
  SystemStatusEventSchema,
} from "../shared/events.ts";

const det = {
  class_id: 0,
  class_name: "person",
  score: 0.87,
  bbox: { x1: 10.5, y1: 20, x2: 110.25, y2: 220 },
};

const samples = {
  motion: () =>
    createMotionDetectionEvent({
      camera_id: "cam-1",
      frame_number: 42,
      motion_score: 0.12,
      detections: [det],
      frame_width: 768,
      frame_height: 576,
      inference_ms: 8.2,
    }),
  face: () =>
    createFaceRecognitionEvent({
      camera_id: "lobby.2",
      frame_number: 7,
      bbox: { x1: 1, y1: 2, x2: 30, y2: 40 },
      landmarks: [1, 2, 3, 4, 5].map((i) => ({ x: i, y: i * 2 })),
      detection_score: 0.93,
      face_id: "alice",
      name: "Alice",
      similarity: 0.71,
      authorized: true,
    }),
  alert: () =>
    createAlertEvent({
      camera_id: "gate",
      frame_number: 0,
      alert_type: "unauthorized_face",
      severity: "warning",
      message: "unknown face at gate",
      face_id: null,
    }),
  system: () =>
    createSystemStatusEvent({
      camera_id: "fess",
      frame_number: 0,
      component: "kafka",
      status: "degraded",
      detail: { spooled: 3 },
    }),
};

const schemas: Record<keyof typeof samples, z.ZodType> = {
  motion: MotionDetectionEventSchema,
  face: FaceRecognitionEventSchema,
  alert: AlertEventSchema,
  system: SystemStatusEventSchema,
};

for (const [kind, make] of Object.entries(samples) as [keyof typeof samples, () => unknown][]) {
  Deno.test(`${kind} event: constructor fills id, UTC timestamp and version; JSON round trip is lossless`, () => {
    const e = make() as { event_id: string; timestamp: string; schema_version: number };
    assert.match(
      e.event_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.match(e.timestamp, /Z$/);
    assert.equal(e.schema_version, SCHEMA_VERSION);
    const back = parseEvent(JSON.stringify(e));
    assert.deepEqual(back, e);
    assert.deepEqual(schemas[kind].parse(JSON.parse(JSON.stringify(e))), e);
  });
}

function issuePaths(value: unknown): string[] {
  const r = FessEventSchema.safeParse(value);
  assert.equal(r.success, false, "expected rejection");
  return r.error!.issues.map((i) => i.path.join("."));
}

Deno.test("rejects wrong types with the exact path", () => {
  const e = { ...samples.motion(), frame_width: "768" };
  assert.deepEqual(issuePaths(e), ["frame_width"]);
  const nested = { ...samples.motion(), detections: [{ ...det, score: "high" }] };
  assert.deepEqual(issuePaths(nested), ["detections.0.score"]);
  const box = { ...samples.face(), bbox: { x1: 1, y1: 2, x2: "x", y2: 4 } };
  assert.deepEqual(issuePaths(box), ["bbox.x2"]);
});

Deno.test("rejects a bad UUID", () => {
  assert.deepEqual(issuePaths({ ...samples.alert(), event_id: "not-a-uuid" }), ["event_id"]);
});

Deno.test("rejects naive and malformed timestamps", () => {
  assert.deepEqual(issuePaths({ ...samples.face(), timestamp: "2026-11-25T10:00:00" }), [
    "timestamp",
  ]);
  assert.deepEqual(issuePaths({ ...samples.face(), timestamp: "yesterday" }), ["timestamp"]);
  assert.equal(
    FessEventSchema.safeParse({ ...samples.face(), timestamp: "2026-11-25T10:00:00+02:00" })
      .success,
    true,
  );
});

Deno.test("rejects negative and fractional frame numbers", () => {
  assert.deepEqual(issuePaths({ ...samples.motion(), frame_number: -1 }), ["frame_number"]);
  assert.deepEqual(issuePaths({ ...samples.motion(), frame_number: 1.5 }), ["frame_number"]);
});

Deno.test("rejects unknown event types at event_type", () => {
  assert.deepEqual(issuePaths({ ...samples.motion(), event_type: "explosion" }), ["event_type"]);
});

Deno.test("rejects inverted boxes, bad camera ids and unknown schema versions", () => {
  assert.deepEqual(issuePaths({ ...samples.face(), bbox: { x1: 10, y1: 0, x2: 5, y2: 4 } }), [
    "bbox",
  ]);
  assert.deepEqual(issuePaths({ ...samples.face(), camera_id: "../etc" }), ["camera_id"]);
  assert.deepEqual(issuePaths({ ...samples.face(), schema_version: 99 }), ["schema_version"]);
});

Deno.test("constructors refuse invalid input rather than build a bad event", () => {
  assert.throws(() =>
    createMotionDetectionEvent({
      camera_id: "c",
      frame_number: -3,
      motion_score: 0,
      detections: [],
      frame_width: 1,
      frame_height: 1,
    })
  );
});

Deno.test("a Date timestamp is stored as UTC ISO-8601", () => {
  const e = createSystemStatusEvent({
    camera_id: "fess",
    frame_number: 0,
    component: "detector",
    status: "healthy",
    timestamp: new Date(Date.UTC(2026, 10, 25, 12, 0, 0)),
  });
  assert.equal(e.timestamp, "2026-11-25T12:00:00.000Z");
});
