/**
 * Unit tests of `pipeline.process` (motion gate -> detector -> tracker -> detection cache ->
 * MotionDetection event -> faces per person track -> FaceRecognition and rule Alert events), with
 * fakes only behind the real interfaces (tests/support/pipeline_fakes.ts) and the real motion
 * gate, camera registry, metrics and in-memory cache.
 */
import assert from "node:assert/strict";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import type { AlertEvent, BoundingBox, Detection, FessEvent } from "../shared/events.ts";
import type { MotionDetectionEvent } from "../shared/events.ts";
import { createMetrics } from "../shared/metrics.ts";
import type { FrameInput } from "../shared/pipeline/frame_input.ts";
import { FrameOutcomeSchema } from "../shared/pipeline/frame_outcome.ts";
import { createPipeline, type Pipeline, type PipelineDeps } from "../shared/pipeline/pipeline.ts";
import {
  type FakeDetector,
  fakeDetector,
  fakeRecognizer,
  pipelineSettings,
  type PreparedFace,
  recordingLogger,
  type RecordingPublisher,
  recordingPublisher,
} from "./support/pipeline_fakes.ts";

const W = 64, H = 48;

/** An RGB frame filled with one grey level (two levels differ everywhere). */
function flatFrame(level: number): FrameInput["frame"] {
  return {
    data: new Uint8Array(W * H * 3).fill(level),
    width: W,
    height: H,
    channels: 3,
    layout: "rgb",
  };
}

let clockMs = Date.parse("2024-05-01T12:00:00Z");

function pframe(
  cameraId: string,
  frameNumber: number | null,
  frame: FrameInput["frame"] = flatFrame(0),
): FrameInput {
  return {
    cameraId,
    frameNumber,
    timestamp: new Date(clockMs).toISOString(),
    frame,
    source: "raw",
    decodeMs: 0.5,
  };
}

function det(className: string, bbox: BoundingBox, score = 0.8): Detection {
  return { class_id: className === "person" ? 0 : 2, class_name: className, score, bbox };
}

const PERSON_A = det("person", { x1: 1, y1: 2, x2: 30, y2: 40 });
const PERSON_B = det("person", { x1: 32, y1: 3, x2: 60, y2: 45 }, 0.6);
const CAR = det("car", { x1: 0, y1: 30, x2: 20, y2: 47 });

interface Harness {
  pipeline: Pipeline;
  detector: FakeDetector;
  publisher: RecordingPublisher;
  records: Record<string, unknown>[];
  metrics: ReturnType<typeof createMetrics>;
}

/** Settings as env overrides; motion analysis at 32 px, 1% area, no caching unless a cache. */
function harness(env: Record<string, string> = {}, over: Partial<PipelineDeps> = {}): Harness {
  const publisher = recordingPublisher();
  const detector = fakeDetector();
  const { logger, records } = recordingLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  const pipeline = createPipeline({
    settings: pipelineSettings({
      FESS_MOTION__ANALYSIS_WIDTH: "32",
      FESS_MOTION__MIN_AREA_FRACTION: "0.01",
      ...env,
    }),
    detector,
    publisher,
    cache: null,
    recognizer: null,
    metrics,
    logger,
    now: () => clockMs,
    ...over,
  });
  return { pipeline, detector, publisher, records, metrics };
}

const NO_MOTION = { FESS_MOTION__ENABLED: "false" };

/** Runs a frame whose detector result is `detections`. */
function runFrame(h: Harness, f: FrameInput, detections: Detection[] = []) {
  h.detector.next = detections;
  return h.pipeline.process(f);
}

const ofType = <T extends FessEvent["event_type"]>(events: FessEvent[], type: T) =>
  events.filter((e): e is Extract<FessEvent, { event_type: T }> => e.event_type === type);

// ---------------------------------------------------------------------------------------------
// motion gate and MotionDetection events
// ---------------------------------------------------------------------------------------------

Deno.test("a frame identical to the camera's previous one does not run detection or publish", async () => {
  const h = harness();
  const first = await runFrame(h, pframe("cam-a", 1), [PERSON_A]);
  assert.equal(first.detection_ran, true, "a camera's first frame always counts as motion");
  assert.deepEqual(first.motion, { detected: true, score: 1 });
  assert.equal(h.publisher.events.length, 1);

  const still = await runFrame(h, pframe("cam-a", 2), [PERSON_A]);
  assert.equal(still.detection_ran, false);
  assert.equal(still.frame_number, 2);
  assert.deepEqual(still.motion, { detected: false, score: 0 });
  assert.equal(h.detector.frames.length, 1, "the detector did not see the still frame");
  assert.equal(h.publisher.events.length, 1, "nothing published for the still frame");

  // A changed frame moves again.
  const moved = await runFrame(h, pframe("cam-a", 3, flatFrame(200)), []);
  assert.equal(moved.detection_ran, true);
  assert.deepEqual(moved.motion, { detected: true, score: 1 });
  assert.equal(h.publisher.events.length, 2);
});

Deno.test("a moving frame publishes one MotionDetection event with camera, frame, score and detections", async () => {
  const h = harness();
  await runFrame(h, pframe("cam-a", 7), []);
  // Half the frame changes: score 0.5.
  const half = flatFrame(0);
  half.data.fill(255, 0, (W * H * 3) / 2);
  const f = pframe("cam-a", 8, half);
  const r = await runFrame(h, f, [PERSON_A, CAR]);
  assert.equal(r.detection_ran, true);
  assert.equal(r.motion!.score, 0.5);

  const events = ofType(h.publisher.events, "motion_detection");
  assert.equal(events.length, 2);
  const e: MotionDetectionEvent = events[1]!;
  assert.equal(e.camera_id, "cam-a");
  assert.equal(e.frame_number, 8);
  assert.equal(e.timestamp, f.timestamp);
  assert.equal(e.motion_score, 0.5);
  // First sightings: tentative tracks, no id yet (tracker.min_hits 2).
  const tentative = [{ ...PERSON_A, track_id: null }, { ...CAR, track_id: null }];
  assert.deepEqual(e.detections, tentative);
  assert.equal(e.frame_width, W);
  assert.equal(e.frame_height, H);
  assert.deepEqual(r.detections, tentative);
  assert.deepEqual(r.events.published, [e.event_id]);
  assert.deepEqual(r.events.rejected, []);
});

Deno.test("without a motion gate every frame is detected with motion null and score 1", async () => {
  const h = harness(NO_MOTION);
  for (const n of [1, 2]) {
    const r = await runFrame(h, pframe("cam-a", n));
    assert.equal(r.detection_ran, true);
    assert.equal(r.motion, null);
  }
  const events = ofType(h.publisher.events, "motion_detection");
  assert.deepEqual(events.map((e) => e.motion_score), [1, 1]);
});

Deno.test("frames without a frame number get a per-camera sequence that follows numbered frames", async () => {
  const h = harness(NO_MOTION);
  const numbers = async (cameraId: string, given: number | null) =>
    (await runFrame(h, pframe(cameraId, given))).frame_number;
  assert.equal(await numbers("cam-a", null), 0);
  assert.equal(await numbers("cam-a", null), 1);
  assert.equal(await numbers("cam-b", null), 0, "each camera has its own sequence");
  assert.equal(await numbers("cam-a", null), 2);
  assert.equal(await numbers("cam-a", 40), 40);
  assert.equal(await numbers("cam-a", null), 41, "continues after a numbered frame");

  // The number the outcome gives is the one the events carry.
  h.publisher.events.length = 0;
  await runFrame(h, pframe("cam-c", null));
  await runFrame(h, pframe("cam-c", null));
  assert.deepEqual(
    ofType(h.publisher.events, "motion_detection").map((e) => [e.camera_id, e.frame_number]),
    [["cam-c", 0], ["cam-c", 1]],
  );
});

Deno.test("each frame is noted as camera activity", async () => {
  const h = harness(NO_MOTION);
  await runFrame(h, pframe("cam-a", 1));
  await runFrame(h, pframe("cam-b", 1));
  assert.match(await h.metrics.registry.metrics(), /^fess_active_cameras 2$/m);
  assert.equal(h.pipeline.cameras.size, 2);
});

Deno.test("detections are counted per camera and class, and latency is observed only when detection ran", async () => {
  const h = harness();
  await runFrame(h, pframe("cam-m", 1), [PERSON_A, PERSON_B, CAR]);
  await runFrame(h, pframe("cam-m", 2), [PERSON_A]); // still: not detected
  const text = await h.metrics.registry.metrics();
  assert.match(text, /fess_detections_total\{camera_id="cam-m",object_class="person"\} 2/);
  assert.match(text, /fess_detections_total\{camera_id="cam-m",object_class="car"\} 1/);
  assert.match(text, /fess_detection_latency_seconds_count\{camera_id="cam-m"\} 1/);
});

// ---------------------------------------------------------------------------------------------
// detection cache
// ---------------------------------------------------------------------------------------------

Deno.test("detections are cached under detection:{camera}:{frame} with the configured TTL", async () => {
  const cache = createMemoryCache({ now: () => clockMs });
  const h = harness({ FESS_CACHE__DETECTION_TTL_SECONDS: "120" }, { cache });
  const f = pframe("cam-a", 5);
  const r = await runFrame(h, f, [PERSON_A, CAR]);
  assert.equal(r.cached, true);
  assert.deepEqual(await cache.getJson("detection:cam-a:5"), {
    detections: [{ ...PERSON_A, track_id: null }, { ...CAR, track_id: null }],
    timestamp: f.timestamp,
  });
  assert.equal(await cache.ttlMs("detection:cam-a:5"), 120_000);

  // Unnumbered frames are cached under their sequence number.
  await runFrame(h, pframe("cam-b", null), [PERSON_B]);
  assert.deepEqual(
    ((await cache.getJson("detection:cam-b:0")) as { detections: unknown[] }).detections,
    [{ ...PERSON_B, track_id: null }],
  );
});

Deno.test("with the cache down the frame still succeeds with cached false, a warning and a counted failure", async () => {
  const cache: CacheStore = createMemoryCache();
  await cache.close(); // every later write rejects, as a Redis outage does
  const h = harness({}, { cache });
  const r = await runFrame(h, pframe("cam-a", 1), [PERSON_A]);
  assert.equal(r.cached, false);
  assert.equal(r.events.published.length, 1, "the event is still published");
  const warn = h.records.find((l) => l.msg === "detections not cached");
  assert.ok(warn, "a warning names the failure");
  assert.equal(warn.level, "warn");
  assert.equal(warn.camera_id, "cam-a");
  assert.match(String(warn.reason), /cache is closed/);
  assert.match(
    await h.metrics.registry.metrics(),
    /fess_cache_write_failures_total\{reason="error"\} 1/,
  );
});

Deno.test("without a detection store cached is null", async () => {
  const h = harness();
  const r = await runFrame(h, pframe("cam-a", 1));
  assert.equal(r.cached, null);
  const off = harness({ FESS_CACHE__DETECTION_TTL_SECONDS: "0" }, { cache: createMemoryCache() });
  assert.equal((await runFrame(off, pframe("cam-a", 1))).cached, null, "TTL 0 turns caching off");
});

// ---------------------------------------------------------------------------------------------
// faces and alerts
// ---------------------------------------------------------------------------------------------

// Tracks confirmed on their first detection, so face searches and rules start at once.
const FIRST_HIT = { ...NO_MOTION, FESS_TRACKER__MIN_HITS: "1" };
// Three people side by side, each box holding one of the fake recognizer's faces (centres at
// x = 17.5, 37.5, 57.5).
const P1 = det("person", { x1: 5, y1: 2, x2: 28, y2: 45 });
const P2 = det("person", { x1: 30, y1: 2, x2: 48, y2: 45 });
const P3 = det("person", { x1: 50, y1: 2, x2: 63, y2: 45 });

Deno.test("faces are searched only in person tracks, inside their boxes", async () => {
  const recognizer = fakeRecognizer(() => [{ faceId: "alice", authorized: true }]);
  const h = harness(FIRST_HIT, { recognizer });

  const cars = await runFrame(h, pframe("cam-a", 1), [CAR]);
  assert.equal(recognizer.calls.length, 0, "no person: the recognizer is not called");
  assert.deepEqual(cars.faces, []);

  const f = pframe("cam-a", 2);
  await runFrame(h, f, [PERSON_A, CAR, PERSON_B]);
  assert.equal(recognizer.calls.length, 1);
  const call = recognizer.calls[0]!;
  assert.equal(call.frame, f.frame, "the full frame is searched");
  assert.deepEqual(call.ctx.regions, [PERSON_A.bbox, PERSON_B.bbox]);
  assert.equal(call.ctx.cameraId, "cam-a");
  assert.equal(call.ctx.frameNumber, 2);
  assert.equal(call.ctx.timestamp, f.timestamp);
});

Deno.test("personClass chooses which tracks are searched for faces", async () => {
  const recognizer = fakeRecognizer(() => []);
  const h = harness(FIRST_HIT, { recognizer, personClass: "car" });
  await runFrame(h, pframe("cam-a", 1), [PERSON_A, CAR]);
  assert.deepEqual(recognizer.calls[0]!.ctx.regions, [CAR.bbox]);
});

Deno.test("recognised faces are published with their track; unauthorized and unknown tracks raise alerts", async () => {
  const recognizer = fakeRecognizer(() => [
    { faceId: "alice", authorized: true },
    { faceId: "bob", authorized: false },
    { faceId: null, authorized: false },
  ]);
  const h = harness(FIRST_HIT, { recognizer });
  const f = pframe("cam-a", 3);
  const r = await runFrame(h, f, [P1, P2, P3]);

  assert.deepEqual(r.detections.map((d) => d.track_id), [1, 2, 3]);
  const faces = ofType(h.publisher.events, "face_recognition");
  assert.deepEqual(faces.map((e) => [e.face_id, e.authorized, e.track_id]), [
    ["alice", true, 1],
    ["bob", false, 2],
    [null, false, 3],
  ]);
  assert.deepEqual(r.faces.map((x) => [x.face_id, x.authorized, x.track_id]), [
    ["alice", true, 1],
    ["bob", false, 2],
    [null, false, 3],
  ]);
  assert.deepEqual(Object.keys(r.faces[0]!).sort(), [
    "authorized",
    "bbox",
    "face_id",
    "name",
    "score",
    "similarity",
    "track_id",
  ]);

  const alerts: AlertEvent[] = ofType(h.publisher.events, "alert");
  assert.deepEqual(alerts.map((a) => [a.alert_type, a.face_id, a.track_id, a.rule_id]), [
    ["unauthorized_face", "bob", 2, "unauthorized_face"],
    ["unknown_face", null, 3, "unknown_face"],
  ]);
  for (const a of alerts) {
    assert.equal(a.camera_id, "cam-a");
    assert.equal(a.frame_number, 3);
    assert.equal(a.timestamp, f.timestamp);
    assert.equal(a.captured_at, f.timestamp);
    assert.equal(a.object_class, "person");
    assert.equal(a.zone, null);
  }
  assert.deepEqual(alerts.map((a) => a.severity), ["critical", "warning"]);
  assert.match(alerts[0]!.message, /bob .* is not authorised on camera cam-a/);
  assert.ok(!alerts.some((a) => a.face_id === "alice"), "an authorized face raises no alert");

  // Motion event, 3 faces, 2 alerts: all reported as published, in that order.
  assert.equal(h.publisher.events.length, 6);
  assert.deepEqual(r.events.published, h.publisher.events.map((e) => e.event_id));
});

Deno.test("a face alert is raised once per track and cooldown; FaceRecognition only on identity change", async () => {
  let who: PreparedFace[] = [{ faceId: "bob", authorized: false }];
  const h = harness(FIRST_HIT, { recognizer: fakeRecognizer(() => who) });
  const alerts = () =>
    ofType(h.publisher.events, "alert").map((a) => `${a.camera_id}/${a.face_id}/${a.track_id}`);
  const faceEvents = () => ofType(h.publisher.events, "face_recognition").length;
  const start = clockMs;
  try {
    await runFrame(h, pframe("cam-a", 1), [P1]);
    assert.deepEqual(alerts(), ["cam-a/bob/1"]);
    assert.equal(faceEvents(), 1);

    clockMs = start + 10_000; // faces.reverify_seconds: searched again, same identity
    await runFrame(h, pframe("cam-a", 2), [P1]);
    assert.deepEqual(alerts(), ["cam-a/bob/1"], "within 30 s: no second alert");
    assert.equal(faceEvents(), 1, "the same identity again is no FaceRecognition event");

    await runFrame(h, pframe("cam-b", 1), [P1]);
    assert.deepEqual(alerts(), ["cam-a/bob/1", "cam-b/bob/1"], "another camera, its own track");

    clockMs = start + 20_000;
    who = [{ faceId: "bob", authorized: false }, { faceId: "carol", authorized: false }];
    await runFrame(h, pframe("cam-a", 3), [P1, P2]);
    assert.deepEqual(
      alerts(),
      ["cam-a/bob/1", "cam-b/bob/1", "cam-a/carol/2"],
      "another track alerts at once",
    );

    clockMs = start + 30_000;
    await runFrame(h, pframe("cam-a", 4), [P1, P2]);
    assert.deepEqual(
      alerts(),
      ["cam-a/bob/1", "cam-b/bob/1", "cam-a/carol/2", "cam-a/bob/1"],
      "after its cooldown the first track alerts again; the second is still cooling down",
    );
  } finally {
    clockMs = start;
  }
});

Deno.test("two strangers give two alerts; each one again only after the cooldown", async () => {
  const h = harness(FIRST_HIT, {
    recognizer: fakeRecognizer(() => [
      { faceId: null, authorized: false },
      { faceId: null, authorized: false },
    ]),
  });
  const start = clockMs;
  try {
    await runFrame(h, pframe("cam-a", 1), [P1, P2]);
    clockMs = start + 1000;
    await runFrame(h, pframe("cam-a", 2), [P1, P2]);
    clockMs = start + 30_000;
    await runFrame(h, pframe("cam-a", 3), [P1, P2]);
  } finally {
    clockMs = start;
  }
  assert.equal(ofType(h.publisher.events, "face_recognition").length, 2, "one per track");
  assert.deepEqual(
    ofType(h.publisher.events, "alert").map((a) => [a.alert_type, a.track_id, a.frame_number]),
    [["unknown_face", 1, 1], ["unknown_face", 2, 1], ["unknown_face", 1, 3], [
      "unknown_face",
      2,
      3,
    ]],
  );
});

Deno.test("a cooldown of 0 alerts on every frame", async () => {
  const h = harness({ ...FIRST_HIT, FESS_FACES__ALERT_COOLDOWN_SECONDS: "0" }, {
    recognizer: fakeRecognizer(() => [{ faceId: "bob", authorized: false }]),
  });
  for (const n of [1, 2, 3]) await runFrame(h, pframe("cam-a", n), [P1]);
  assert.equal(ofType(h.publisher.events, "alert").length, 3);
});

// ---------------------------------------------------------------------------------------------
// failures
// ---------------------------------------------------------------------------------------------

Deno.test("a full event queue is reported in events.rejected with the reason, never thrown", async () => {
  const h = harness(FIRST_HIT, {
    recognizer: fakeRecognizer(() => [{ faceId: "bob", authorized: false }]),
  });
  h.publisher.full = true;
  const r = await runFrame(h, pframe("cam-a", 1), [PERSON_A]);
  assert.equal(h.publisher.events.length, 0);
  assert.deepEqual(r.events.published, []);
  // Motion, face and alert events: each rejected by id with the publisher's reason.
  assert.equal(r.events.rejected.length, 3);
  for (const x of r.events.rejected) {
    assert.match(x.event_id!, /^[0-9a-f-]{36}$/);
    assert.equal(x.reason, "event queue is full (10 pending)");
  }
  assert.deepEqual(r.events.rejected.map((x) => x.event_type), [
    "motion_detection",
    "face_recognition",
    "alert",
  ]);
  assert.equal(new Set(r.events.rejected.map((x) => x.event_id)).size, 3);
  assert.deepEqual(r.faces.map((f) => f.face_id), ["bob"], "faces are still returned");
  const warnings = h.records.filter((l) => l.msg === "event not accepted");
  assert.deepEqual(warnings.map((w) => w.event_type), [
    "motion_detection",
    "face_recognition",
    "alert",
  ]);
  assert.ok(warnings.every((w) => w.level === "warn" && w.camera_id === "cam-a"));

  // Once there is room again, events flow, and the refused alert did not start a cooldown:
  // the same unauthorised face on the next frame is alerted on.
  h.publisher.full = false;
  const next = await runFrame(h, pframe("cam-a", 2), [PERSON_A]);
  assert.equal(next.events.rejected.length, 0);
  assert.deepEqual(ofType(h.publisher.events, "alert").map((e) => e.face_id), ["bob"]);
});

Deno.test("a recognizer failure is logged and the frame still succeeds with its motion event", async () => {
  const recognizer = fakeRecognizer(() => [], { fail: new Error("onnx session crashed") });
  const h = harness(FIRST_HIT, { recognizer });
  const r = await runFrame(h, pframe("cam-a", 4), [PERSON_A]);
  assert.equal(recognizer.calls.length, 1);
  assert.deepEqual(r.faces, []);
  assert.equal(r.events.published.length, 1);
  assert.deepEqual(h.publisher.events.map((e) => e.event_type), ["motion_detection"]);
  const err = h.records.find((l) => l.msg === "face recognition failed");
  assert.ok(err, "the failure is logged");
  assert.equal(err.level, "error");
  assert.equal(err.camera_id, "cam-a");
  assert.deepEqual(err.error, { name: "Error", message: "onnx session crashed" });
});

Deno.test("an event that fails its schema after detection is reported as rejected, not thrown", async () => {
  const h = harness(NO_MOTION);
  // A score above 1 breaks the MotionDetection schema.
  const bad = { ...PERSON_A, score: 1.5 };
  const r = await runFrame(h, pframe("cam-a", 1), [bad]);
  assert.equal(r.detection_ran, true);
  assert.deepEqual(r.events.published, []);
  assert.equal(r.events.rejected.length, 1);
  assert.equal(r.events.rejected[0]!.event_id, null);
  assert.equal(r.events.rejected[0]!.event_type, "motion_detection");
  assert.match(r.events.rejected[0]!.reason, /score/);
});

Deno.test("without a detector process answers 503 naming why, before touching camera state", async () => {
  const h = harness({}, { detector: null, detectorError: "model file models/x.onnx is missing" });
  await assert.rejects(
    () => h.pipeline.process(pframe("cam-a", 1)),
    (err: Error & { status?: number }) =>
      err.status === 503 && /detector unavailable: model file models\/x.onnx/.test(err.message),
  );
  assert.equal(h.pipeline.cameras.size, 0);
});

Deno.test("every outcome matches the response schema", async () => {
  const h = harness({}, {
    recognizer: fakeRecognizer(() => [{ faceId: null, authorized: false }]),
  });
  const moving = await runFrame(h, pframe("cam-z", 1), [PERSON_A]);
  const still = await runFrame(h, pframe("cam-z", 2), [PERSON_A]);
  for (const o of [moving, still]) assert.deepEqual(FrameOutcomeSchema.parse(o), o);
});
