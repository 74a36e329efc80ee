/**
 * Unit tests of the frame pipeline (motion gate -> detection cache -> MotionDetection event ->
 * faces in person boxes -> FaceRecognition and Alert events), with fakes only behind the real
 * interfaces: a recording {@link Publisher} that can answer "queue full", a {@link FaceRecognizer}
 * returning prepared events, and the real motion gate, camera activity, metrics and in-memory
 * cache.
 */
import assert from "node:assert/strict";
import { createDetectionStore } from "../shared/cache/detection_store.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { createCameraActivity } from "../shared/camera_activity.ts";
import { TooManyRequestsError } from "../shared/errors.ts";
import {
  type AlertEvent,
  type BoundingBox,
  createFaceRecognitionEvent,
  type Detection,
  type FessEvent,
  FessEventSchema,
  type MotionDetectionEvent,
} from "../shared/events.ts";
import type { Publisher, PublishReceipt } from "../shared/events/publisher.ts";
import type { FaceRecognizer, RecognizeContext } from "../shared/faces/recognizer.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { createLogger, type Logger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createMotionGate } from "../shared/motion/motion_gate.ts";
import {
  createFramePipeline,
  type FramePipeline,
  type FramePipelineDeps,
  type PipelineFrame,
} from "../shared/pipeline/frame_pipeline.ts";

// ---------------------------------------------------------------------------------------------
// fakes and fixtures
// ---------------------------------------------------------------------------------------------

/** A publisher that records what it accepts and answers 429 while `full` is set. */
interface RecordingPublisher extends Publisher {
  readonly events: FessEvent[];
  full: boolean;
}

function recordingPublisher(): RecordingPublisher {
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

interface PreparedFace {
  readonly faceId: string | null;
  readonly authorized: boolean;
}

/** A recognizer returning one prepared face event per entry of `faces` (or throwing). */
function fakeRecognizer(
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
            bbox: { x1: 10 + i * 20, y1: 5, x2: 25 + i * 20, y2: 22 },
            detection_score: 0.9,
            face_id: f.faceId,
            name: f.faceId === null ? null : f.faceId.toUpperCase(),
            similarity: f.faceId === null ? 0.2 : 0.8,
            authorized: f.authorized,
          })
        ),
      );
    },
  };
}

/** A logger that keeps every record. */
function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => records.push(JSON.parse(line)) });
  return { logger, records };
}

const W = 64, H = 48;

/** An RGB frame filled with one grey level (two levels differ everywhere). */
function flatFrame(
  level: number,
  size?: { width: number; height: number },
): PipelineFrame["frame"] {
  return {
    data: new Uint8Array(W * H * 3).fill(level),
    width: W,
    height: H,
    channels: 3,
    layout: "rgb",
    ...(size ? { source: size } : {}),
  };
}

let clockMs = Date.parse("2024-05-01T12:00:00Z");

function pframe(
  cameraId: string,
  frameNumber: number | null,
  frame: PipelineFrame["frame"] = flatFrame(0),
): PipelineFrame {
  return { cameraId, frameNumber, timestamp: new Date(clockMs).toISOString(), frame };
}

function det(className: string, bbox: BoundingBox, score = 0.8): Detection {
  return { class_id: className === "person" ? 0 : 2, class_name: className, score, bbox };
}

const PERSON_A = det("person", { x1: 1, y1: 2, x2: 30, y2: 40 });
const PERSON_B = det("person", { x1: 32, y1: 3, x2: 60, y2: 45 }, 0.6);
const CAR = det("car", { x1: 0, y1: 30, x2: 20, y2: 47 });

interface Harness {
  pipeline: FramePipeline;
  publisher: RecordingPublisher;
  records: Record<string, unknown>[];
  metrics: ReturnType<typeof createMetrics>;
}

function harness(over: Partial<FramePipelineDeps> = {}): Harness {
  const publisher = recordingPublisher();
  const { logger, records } = recordingLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  const pipeline = createFramePipeline({
    publisher,
    activity: createCameraActivity({ metrics, idleSeconds: 60 }),
    logger,
    motionGate: createMotionGate({
      pixelThreshold: 25,
      minAreaFraction: 0.01,
      analysisWidth: 32,
      idleSeconds: 60,
    }),
    alertCooldownSeconds: 30,
    now: () => clockMs,
    ...over,
  });
  return { pipeline, publisher, records, metrics };
}

/** Runs a frame the way the detect handler does: afterDetect only when the gate says run. */
async function runFrame(
  pipeline: FramePipeline,
  f: PipelineFrame,
  detections: Detection[],
): Promise<{ run: boolean; info: Record<string, unknown>; after: Record<string, unknown> | null }> {
  const { run, info } = await pipeline.beforeDetect(f);
  return { run, info, after: run ? await pipeline.afterDetect(f, detections) : null };
}

const ofType = <T extends FessEvent["event_type"]>(events: FessEvent[], type: T) =>
  events.filter((e): e is Extract<FessEvent, { event_type: T }> => e.event_type === type);

interface AfterResult {
  cached: boolean | null;
  faces: { face_id: string | null; authorized: boolean }[];
  events: { published: string[]; rejected: { event_id: string; reason: string }[] };
}

// ---------------------------------------------------------------------------------------------
// motion gate and MotionDetection events
// ---------------------------------------------------------------------------------------------

Deno.test("a frame identical to the camera's previous one does not run detection or publish", async () => {
  const h = harness();
  const first = await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A]);
  assert.equal(first.run, true, "a camera's first frame always counts as motion");
  assert.deepEqual(first.info.motion, { detected: true, score: 1 });
  assert.equal(h.publisher.events.length, 1);

  const still = await h.pipeline.beforeDetect(pframe("cam-a", 2));
  assert.equal(still.run, false);
  assert.deepEqual(still.info, { frame_number: 2, motion: { detected: false, score: 0 } });
  assert.equal(h.publisher.events.length, 1, "nothing published for the still frame");

  // A changed frame moves again.
  const moved = await runFrame(h.pipeline, pframe("cam-a", 3, flatFrame(200)), []);
  assert.equal(moved.run, true);
  assert.deepEqual(moved.info.motion, { detected: true, score: 1 });
  assert.equal(h.publisher.events.length, 2);
});

Deno.test("a moving frame publishes one MotionDetection event with camera, frame, score and detections", async () => {
  const h = harness();
  await runFrame(h.pipeline, pframe("cam-a", 7), []);
  // Half the frame changes: score 0.5.
  const half = flatFrame(0);
  half.data.fill(255, 0, (W * H * 3) / 2);
  const f = pframe("cam-a", 8, half);
  const r = await runFrame(h.pipeline, f, [PERSON_A, CAR]);
  assert.equal(r.run, true);
  const motion = r.info.motion as { detected: boolean; score: number };
  assert.equal(motion.score, 0.5);

  const events = ofType(h.publisher.events, "motion_detection");
  assert.equal(events.length, 2);
  const e: MotionDetectionEvent = events[1]!;
  assert.equal(e.camera_id, "cam-a");
  assert.equal(e.frame_number, 8);
  assert.equal(e.timestamp, f.timestamp);
  assert.equal(e.motion_score, 0.5);
  assert.deepEqual(e.detections, [PERSON_A, CAR]);
  assert.equal(e.frame_width, W);
  assert.equal(e.frame_height, H);
  const after = r.after as unknown as AfterResult;
  assert.deepEqual(after.events.published, [e.event_id]);
  assert.deepEqual(after.events.rejected, []);
});

Deno.test("the MotionDetection event reports the source size of a frame decoded smaller", async () => {
  const h = harness();
  await runFrame(h.pipeline, pframe("cam-s", 1, flatFrame(9, { width: 1024, height: 768 })), []);
  const [e] = ofType(h.publisher.events, "motion_detection");
  assert.equal(e!.frame_width, 1024);
  assert.equal(e!.frame_height, 768);
});

Deno.test("without a motion gate every frame is detected with motion null and score 1", async () => {
  const h = harness({ motionGate: undefined });
  for (const n of [1, 2]) {
    const r = await runFrame(h.pipeline, pframe("cam-a", n), []);
    assert.equal(r.run, true);
    assert.equal(r.info.motion, null);
  }
  const events = ofType(h.publisher.events, "motion_detection");
  assert.deepEqual(events.map((e) => e.motion_score), [1, 1]);
});

Deno.test("frames without a frame number get a per-camera sequence that follows numbered frames", async () => {
  const h = harness({ motionGate: undefined });
  const numbers = async (cameraId: string, given: number | null) =>
    (await h.pipeline.beforeDetect(pframe(cameraId, given))).info.frame_number;
  assert.equal(await numbers("cam-a", null), 0);
  assert.equal(await numbers("cam-a", null), 1);
  assert.equal(await numbers("cam-b", null), 0, "each camera has its own sequence");
  assert.equal(await numbers("cam-a", null), 2);
  assert.equal(await numbers("cam-a", 40), 40);
  assert.equal(await numbers("cam-a", null), 41, "continues after a numbered frame");

  // The number given by beforeDetect is the one the events carry.
  const f = pframe("cam-c", null);
  await runFrame(h.pipeline, f, []);
  await runFrame(h.pipeline, pframe("cam-c", null), []);
  assert.deepEqual(
    ofType(h.publisher.events, "motion_detection").map((e) => [e.camera_id, e.frame_number]),
    [["cam-c", 0], ["cam-c", 1]],
  );
});

Deno.test("each frame is noted as camera activity", async () => {
  const h = harness({ motionGate: undefined });
  await runFrame(h.pipeline, pframe("cam-a", 1), []);
  await runFrame(h.pipeline, pframe("cam-b", 1), []);
  assert.match(await h.metrics.registry.metrics(), /^fess_active_cameras 2$/m);
});

// ---------------------------------------------------------------------------------------------
// detection cache
// ---------------------------------------------------------------------------------------------

Deno.test("detections are cached under detection:{camera}:{frame} with the configured TTL", async () => {
  const cache = createMemoryCache({ now: () => clockMs });
  const h = harness({ detectionStore: createDetectionStore({ cache, ttlSeconds: 120 }) });
  const f = pframe("cam-a", 5);
  const r = await runFrame(h.pipeline, f, [PERSON_A, CAR]);
  assert.equal((r.after as unknown as AfterResult).cached, true);
  assert.deepEqual(await cache.getJson("detection:cam-a:5"), {
    detections: [PERSON_A, CAR],
    timestamp: f.timestamp,
  });
  assert.equal(await cache.ttlMs("detection:cam-a:5"), 120_000);

  // Unnumbered frames are cached under their sequence number.
  await runFrame(h.pipeline, pframe("cam-b", null), [PERSON_B]);
  assert.deepEqual(
    ((await cache.getJson("detection:cam-b:0")) as { detections: unknown[] }).detections,
    [PERSON_B],
  );
});

Deno.test("with the cache down the frame still succeeds with cached false and a warning", async () => {
  const cache: CacheStore = createMemoryCache();
  await cache.close(); // every later write rejects, as a Redis outage does
  const h = harness({ detectionStore: createDetectionStore({ cache }) });
  const r = await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A]);
  const after = r.after as unknown as AfterResult;
  assert.equal(after.cached, false);
  assert.equal(after.events.published.length, 1, "the event is still published");
  const warn = h.records.find((l) => l.msg === "detections not cached");
  assert.ok(warn, "a warning names the failure");
  assert.equal(warn.level, "warn");
  assert.equal(warn.camera_id, "cam-a");
  assert.match(String(warn.reason), /cache is closed/);
});

Deno.test("without a detection store cached is null", async () => {
  const h = harness();
  const r = await runFrame(h.pipeline, pframe("cam-a", 1), []);
  assert.equal((r.after as unknown as AfterResult).cached, null);
});

// ---------------------------------------------------------------------------------------------
// faces and alerts
// ---------------------------------------------------------------------------------------------

Deno.test("faces are searched only when a person is detected, inside the person boxes", async () => {
  const recognizer = fakeRecognizer(() => [{ faceId: "alice", authorized: true }]);
  const h = harness({ motionGate: undefined, recognizer });

  const cars = await runFrame(h.pipeline, pframe("cam-a", 1), [CAR]);
  assert.equal(recognizer.calls.length, 0, "no person: the recognizer is not called");
  assert.deepEqual((cars.after as unknown as AfterResult).faces, []);

  const f = pframe("cam-a", 2);
  await runFrame(h.pipeline, f, [PERSON_A, CAR, PERSON_B]);
  assert.equal(recognizer.calls.length, 1);
  const call = recognizer.calls[0]!;
  assert.equal(call.frame, f.frame, "the full frame is searched");
  assert.deepEqual(call.ctx.regions, [PERSON_A.bbox, PERSON_B.bbox]);
  assert.equal(call.ctx.cameraId, "cam-a");
  assert.equal(call.ctx.frameNumber, 2);
  assert.equal(call.ctx.timestamp, f.timestamp);
});

Deno.test("personClass chooses which detections are searched for faces", async () => {
  const recognizer = fakeRecognizer(() => []);
  const h = harness({ motionGate: undefined, recognizer, personClass: "car" });
  await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A, CAR]);
  assert.deepEqual(recognizer.calls[0]!.ctx.regions, [CAR.bbox]);
});

Deno.test("recognised faces are published and returned; unauthorized and unknown ones raise alerts", async () => {
  const recognizer = fakeRecognizer(() => [
    { faceId: "alice", authorized: true },
    { faceId: "bob", authorized: false },
    { faceId: null, authorized: false },
  ]);
  const h = harness({ motionGate: undefined, recognizer });
  const f = pframe("cam-a", 3);
  const r = await runFrame(h.pipeline, f, [PERSON_A]);
  const after = r.after as unknown as AfterResult;

  const faces = ofType(h.publisher.events, "face_recognition");
  assert.deepEqual(faces.map((e) => [e.face_id, e.authorized]), [
    ["alice", true],
    ["bob", false],
    [null, false],
  ]);
  assert.deepEqual(after.faces.map((x) => [x.face_id, x.authorized]), [
    ["alice", true],
    ["bob", false],
    [null, false],
  ]);
  assert.deepEqual(Object.keys(after.faces[0]!).sort(), [
    "authorized",
    "bbox",
    "face_id",
    "name",
    "score",
    "similarity",
  ]);

  const alerts: AlertEvent[] = ofType(h.publisher.events, "alert");
  assert.deepEqual(alerts.map((a) => [a.alert_type, a.face_id]), [
    ["unauthorized_face", "bob"],
    ["unknown_face", null],
  ]);
  for (const a of alerts) {
    assert.equal(a.camera_id, "cam-a");
    assert.equal(a.frame_number, 3);
    assert.equal(a.timestamp, f.timestamp);
    assert.equal(a.severity, "warning");
  }
  assert.match(alerts[0]!.message, /bob is not authorised on camera cam-a/);
  assert.ok(!alerts.some((a) => a.face_id === "alice"), "an authorized face raises no alert");

  // Motion event, 3 faces, 2 alerts: all reported as published, in that order.
  assert.equal(h.publisher.events.length, 6);
  assert.deepEqual(after.events.published, h.publisher.events.map((e) => e.event_id));
});

Deno.test("an alert for the same camera and face is raised at most once per cooldown", async () => {
  let who: PreparedFace[] = [{ faceId: "bob", authorized: false }];
  const h = harness({ motionGate: undefined, recognizer: fakeRecognizer(() => who) });
  const alerts = () =>
    ofType(h.publisher.events, "alert").map((a) => `${a.camera_id}/${a.face_id}`);
  const start = clockMs;
  try {
    await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A]);
    assert.deepEqual(alerts(), ["cam-a/bob"]);

    clockMs = start + 10_000;
    await runFrame(h.pipeline, pframe("cam-a", 2), [PERSON_A]);
    assert.deepEqual(alerts(), ["cam-a/bob"], "within 30 s: no second alert");
    assert.equal(ofType(h.publisher.events, "face_recognition").length, 2, "faces still published");

    await runFrame(h.pipeline, pframe("cam-b", 1), [PERSON_A]);
    assert.deepEqual(alerts(), ["cam-a/bob", "cam-b/bob"], "another camera has its own cooldown");

    who = [{ faceId: "carol", authorized: false }];
    await runFrame(h.pipeline, pframe("cam-a", 3), [PERSON_A]);
    assert.deepEqual(alerts(), ["cam-a/bob", "cam-b/bob", "cam-a/carol"], "another face too");

    who = [{ faceId: "bob", authorized: false }];
    clockMs = start + 30_000;
    await runFrame(h.pipeline, pframe("cam-a", 4), [PERSON_A]);
    assert.deepEqual(
      alerts(),
      ["cam-a/bob", "cam-b/bob", "cam-a/carol", "cam-a/bob"],
      "after the cooldown it alerts again",
    );
  } finally {
    clockMs = start;
  }
});

Deno.test("unknown faces on one camera share one alert cooldown", async () => {
  const h = harness({
    motionGate: undefined,
    recognizer: fakeRecognizer(() => [
      { faceId: null, authorized: false },
      { faceId: null, authorized: false },
    ]),
  });
  await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A]);
  await runFrame(h.pipeline, pframe("cam-a", 2), [PERSON_A]);
  assert.equal(ofType(h.publisher.events, "face_recognition").length, 4);
  assert.deepEqual(
    ofType(h.publisher.events, "alert").map((a) => [a.alert_type, a.frame_number]),
    [["unknown_face", 1]],
  );
});

Deno.test("a cooldown of 0 alerts on every frame", async () => {
  const h = harness({
    motionGate: undefined,
    alertCooldownSeconds: 0,
    recognizer: fakeRecognizer(() => [{ faceId: "bob", authorized: false }]),
  });
  for (const n of [1, 2, 3]) await runFrame(h.pipeline, pframe("cam-a", n), [PERSON_A]);
  assert.equal(ofType(h.publisher.events, "alert").length, 3);
});

// ---------------------------------------------------------------------------------------------
// failures
// ---------------------------------------------------------------------------------------------

Deno.test("a full event queue is reported in events.rejected with the reason, never thrown", async () => {
  const h = harness({
    motionGate: undefined,
    recognizer: fakeRecognizer(() => [{ faceId: "bob", authorized: false }]),
  });
  h.publisher.full = true;
  const r = await runFrame(h.pipeline, pframe("cam-a", 1), [PERSON_A]);
  const after = r.after as unknown as AfterResult;
  assert.equal(h.publisher.events.length, 0);
  assert.deepEqual(after.events.published, []);
  // Motion, face and alert events: each rejected by id with the publisher's reason.
  assert.equal(after.events.rejected.length, 3);
  for (const x of after.events.rejected) {
    assert.match(x.event_id, /^[0-9a-f-]{36}$/);
    assert.equal(x.reason, "event queue is full (10 pending)");
  }
  assert.equal(new Set(after.events.rejected.map((x) => x.event_id)).size, 3);
  assert.deepEqual(after.faces.map((f) => f.face_id), ["bob"], "faces are still returned");
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
  const next = await runFrame(h.pipeline, pframe("cam-a", 2), [PERSON_A]);
  assert.equal((next.after as unknown as AfterResult).events.rejected.length, 0);
  assert.deepEqual(ofType(h.publisher.events, "alert").map((e) => e.face_id), ["bob"]);
});

Deno.test("a recognizer failure is logged and the frame still succeeds with its motion event", async () => {
  const recognizer = fakeRecognizer(() => [], { fail: new Error("onnx session crashed") });
  const h = harness({ motionGate: undefined, recognizer });
  const r = await runFrame(h.pipeline, pframe("cam-a", 4), [PERSON_A]);
  const after = r.after as unknown as AfterResult;
  assert.equal(recognizer.calls.length, 1);
  assert.deepEqual(after.faces, []);
  assert.equal(after.events.published.length, 1);
  assert.deepEqual(h.publisher.events.map((e) => e.event_type), ["motion_detection"]);
  const err = h.records.find((l) => l.msg === "face recognition failed");
  assert.ok(err, "the failure is logged");
  assert.equal(err.level, "error");
  assert.equal(err.camera_id, "cam-a");
  assert.deepEqual(err.error, { name: "Error", message: "onnx session crashed" });
});
