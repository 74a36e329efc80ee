/**
 * Issue 12 through `pipeline.process`: track ids in responses and events with their lifecycle,
 * zone `enter` and `dwell` rules with a per-track cooldown, motion masks, alert snapshots
 * stored off the frame's path, alert de-duplication when a camera moves to another replica
 * (two pipelines sharing one cache), and the live page's camera listing. Fakes only behind
 * the real interfaces (detector, recognizer, publisher); everything else is real.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { createAlertDeduper } from "../shared/alerts/alert_dedup.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import type { BoundingBox, Detection, FessEvent } from "../shared/events.ts";
import { createFramePreviewer } from "../shared/live/frame_preview.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import type { FrameInput } from "../shared/pipeline/frame_input.ts";
import { createPipeline, type PipelineDeps } from "../shared/pipeline/pipeline.ts";
import { createMemorySnapshotStore } from "../shared/snapshots/memory_snapshot_store.ts";
import {
  fakeDetector,
  fakeRecognizer,
  pipelineSettings,
  recordingPublisher,
} from "./support/pipeline_fakes.ts";

const W = 200, H = 100;
const T0 = Date.parse("2024-05-01T12:00:00Z");

function frameOf(level: number): FrameInput["frame"] {
  return {
    data: new Uint8Array(W * H * 3).fill(level),
    width: W,
    height: H,
    channels: 3,
    layout: "rgb",
  };
}

function input(cameraId: string, ms: number, frame = frameOf(0)): FrameInput {
  return {
    cameraId,
    frameNumber: null,
    timestamp: new Date(ms).toISOString(),
    frame,
    source: "raw",
    decodeMs: 0,
  };
}

/** A person whose feet are at (x, feetY). */
function person(x: number, feetY: number, score = 0.9): Detection {
  return {
    class_id: 0,
    class_name: "person",
    score,
    bbox: { x1: x - 10, y1: feetY - 40, x2: x + 10, y2: feetY },
  };
}

const ofType = <T extends FessEvent["event_type"]>(events: FessEvent[], type: T) =>
  events.filter((e): e is Extract<FessEvent, { event_type: T }> => e.event_type === type);

// The right half of the frame, bottom-centre tested.
const YARD = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]];

function harness(env: Record<string, string>, over: Partial<PipelineDeps> = {}) {
  let t = T0;
  const publisher = recordingPublisher();
  const detector = fakeDetector();
  const pipeline = createPipeline({
    settings: pipelineSettings({
      FESS_MOTION__ENABLED: "false",
      FESS_TRACKER__MIN_HITS: "1",
      ...env,
    }),
    detector,
    publisher,
    cache: null,
    recognizer: null,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silentLogger,
    now: () => t,
    ...over,
  });
  return {
    pipeline,
    publisher,
    /** Runs one frame `ms` after T0 with these detections. */
    run(cameraId: string, ms: number, detections: Detection[], frame?: FrameInput["frame"]) {
      t = T0 + ms;
      detector.next = detections;
      return pipeline.process(input(cameraId, T0 + ms, frame));
    },
    alerts: () => ofType(publisher.events, "alert"),
  };
}

const cameras = (doc: unknown) => ({ FESS_CAMERAS: JSON.stringify(doc) });

Deno.test("track ids persist across frames in responses and events, with the track lifecycle", async () => {
  const h = harness({ FESS_TRACKER__MIN_HITS: "2", FESS_TRACKER__MAX_MISSED: "1" });
  const first = await h.run("cam-1", 0, [person(40, 80)]);
  assert.deepEqual(first.detections.map((d) => d.track_id), [null], "tentative: no id yet");
  const second = await h.run("cam-1", 100, [person(42, 80)]);
  assert.deepEqual(second.detections.map((d) => d.track_id), [1], "confirmed on its 2nd hit");
  const third = await h.run("cam-1", 200, [person(44, 80)]);
  assert.deepEqual(third.detections.map((d) => d.track_id), [1], "the same id");
  await h.run("cam-1", 300, []);
  await h.run("cam-1", 400, []);
  const events = ofType(h.publisher.events, "motion_detection");
  assert.deepEqual(events.map((e) => e.detections.map((d) => d.track_id)), [
    [null],
    [1],
    [1],
    [],
    [],
  ]);
  assert.deepEqual(events.map((e) => (e.tracks ?? []).map((t) => `${t.track_id}:${t.phase}`)), [
    [],
    ["1:new"],
    ["1:update"],
    ["1:lost"],
    ["1:end"],
  ]);
  const born = events[1]!.tracks![0]!;
  assert.equal(born.first_seen, new Date(T0).toISOString());
  assert.equal(born.class_name, "person");
});

Deno.test("low-score boxes are reported only while they carry a confirmed track's id", async () => {
  const h = harness({ FESS_DETECTOR__SCORE_THRESHOLD: "0.3", FESS_TRACKER__LOW_THRESHOLD: "0.1" });
  await h.run("cam-1", 0, [person(40, 80, 0.9)]);
  const occluded = await h.run("cam-1", 100, [person(41, 80, 0.2), person(150, 80, 0.2)]);
  assert.deepEqual(
    occluded.detections.map((d) => [d.bbox.x1, d.score, d.track_id]),
    [[31, 0.2, 1]],
    "the occluded person keeps its id; a lone low-score box is not reported",
  );
});

Deno.test("enter fires once per entry into the zone, per track; objects present at start do not enter", async () => {
  const h = harness(cameras({
    "cam-1": {
      zones: { yard: YARD },
      rules: [{ id: "yard-person", classes: ["person"], zone: "yard", on: "enter" }],
    },
  }));
  // Someone already in the yard on the camera's first frame, someone walking in later.
  await h.run("cam-1", 0, [person(150, 80), person(20, 80)]);
  assert.deepEqual(h.alerts(), [], "present at start: no enter; outside: nothing yet");
  // The walker steps 5 px a frame from x = 20 into the yard (x >= 100) and on to 140.
  let entered = -1;
  for (let i = 1, x = 25; x <= 140; i++, x += 5) {
    await h.run("cam-1", 3000 + i * 100, [person(150, 80), person(x, 80)]);
    if (x >= 100 && entered < 0) entered = 3000 + i * 100;
  }
  const alerts = h.alerts();
  assert.equal(alerts.length, 1);
  const a = alerts[0]!;
  assert.equal(a.alert_type, "enter");
  assert.equal(a.rule_id, "yard-person");
  assert.equal(a.zone, "yard");
  // The walker was in view at start too, but outside the yard: walking in is an entry.
  assert.equal(a.track_id, 2, "the walker's track, not the one standing in the yard");
  assert.equal(a.object_class, "person");
  assert.equal(a.score, 0.9);
  assert.equal(a.captured_at, new Date(T0 + entered).toISOString());
  assert.deepEqual(a.bbox, person(100, 80).bbox);
  assert.equal(a.snapshot_url, null, "no snapshot store: no snapshot");
});

Deno.test("dwell fires after min_dwell_seconds in the zone, then once per cooldown per track", async () => {
  const h = harness(cameras({
    "cam-1": {
      zones: { yard: YARD },
      rules: [{
        id: "loiter",
        zone: "yard",
        on: "dwell",
        min_dwell_seconds: 5,
        cooldown_seconds: 10,
      }],
    },
  }));
  for (let s = 0; s <= 26; s++) await h.run("cam-1", s * 1000, [person(150, 80)]);
  assert.deepEqual(
    h.alerts().map((a) => [a.alert_type, a.track_id, a.dwell_seconds]),
    [["dwell", 1, 5], ["dwell", 1, 15], ["dwell", 1, 25]],
    "one loiterer: one alert per cooldown",
  );
});

Deno.test("motion inside a camera's mask is ignored", async () => {
  const h = harness({
    FESS_MOTION__ENABLED: "true",
    FESS_MOTION__ANALYSIS_WIDTH: "40",
    ...cameras({ "cam-1": { masks: [[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]] } }),
  });
  await h.run("cam-1", 0, []);
  const left = frameOf(0);
  for (let y = 0; y < H; y++) left.data.fill(255, y * W * 3, (y * W + W / 2 - 5) * 3);
  const masked = await h.run("cam-1", 100, [], left);
  assert.equal(masked.detection_ran, false, "change only inside the mask");
  assert.equal(masked.motion!.score, 0);
  const right = frameOf(0);
  for (let y = 0; y < H; y++) right.data.fill(255, (y * W + W / 2 + 5) * 3, (y * W + W) * 3);
  const open = await h.run("cam-1", 200, [], right);
  assert.equal(open.detection_ran, true, "change outside the mask counts");
  assert.ok(open.motion!.score > 0.8, `score over the unmasked half: ${open.motion!.score}`);
});

Deno.test("each alert's snapshot is stored off the frame's path and served from the store", async () => {
  const store = createMemorySnapshotStore({ ttlSeconds: 60, maxBytes: 1 << 20 });
  const h = harness(
    {
      FESS_SNAPSHOTS__BASE_URL: "https://fess.example",
      ...cameras({ "cam-1": { rules: [{ id: "any", on: "enter" }] } }),
    },
    { snapshots: store },
  );
  const frame = frameOf(30);
  await h.run("cam-1", 0, [], frame);
  await h.run("cam-1", 3000, [person(100, 90)], frame);
  frame.data.fill(200); // the source may reuse its buffer once process returns
  await h.pipeline.settled();
  const [alert] = h.alerts();
  assert.ok(alert);
  assert.equal(alert.snapshot_url, `https://fess.example/snapshots/${alert.event_id}`);
  const jpeg = await store.get(alert.event_id);
  assert.ok(jpeg, "stored under the event id");
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [W, H]);
  const px = (x: number, y: number) => [...data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
  const near = (got: number[], want: number[]) =>
    assert.ok(got.every((v, i) => Math.abs(v - want[i]!) < 40), `${got} vs ${want}`);
  near(px(100, 51), [255, 0, 0]); // the box's top edge, drawn
  near(px(20, 20), [30, 30, 30]); // the frame as it was when the alert fired
});

Deno.test("a camera moving to another replica does not alert again for what it already alerted on", async () => {
  const cache = createMemoryCache(); // stands in for the Redis the replicas share
  const recognizer = fakeRecognizer(() => [
    { faceId: null, authorized: false },
    { faceId: "bob", authorized: false },
  ]);
  const replica = (owner: string) =>
    harness({}, {
      recognizer,
      deduper: createAlertDeduper({ cache, ttlMs: 30_000, owner, logger: silentLogger }),
    });
  // Two people whose faces (fake recognizer: centres x = 17.5 and 37.5) fall in their boxes.
  const stranger: Detection = { ...person(17, 60), bbox: { x1: 5, y1: 2, x2: 28, y2: 60 } };
  const bob: Detection = { ...person(39, 60), bbox: { x1: 30, y1: 2, x2: 48, y2: 60 } };
  const a = replica("r1");
  await a.run("cam-1", 0, [stranger, bob]);
  assert.deepEqual(a.alerts().map((x) => x.alert_type), ["unknown_face", "unauthorized_face"]);

  // r1 goes away; r2 gets the camera with both people still there.
  const b = replica("r2");
  await b.run("cam-1", 1000, [stranger, bob]);
  await b.run("cam-1", 2000, [stranger, bob]);
  assert.deepEqual(b.alerts(), [], "no duplicate for the stranger nor for bob");

  // Someone new appears later on r2: alerted as usual.
  const newcomer: Detection = { ...person(60, 60), bbox: { x1: 50, y1: 2, x2: 70, y2: 60 } };
  const fresh = fakeRecognizer(() => [
    { faceId: null, authorized: false },
    { faceId: "bob", authorized: false },
    { faceId: null, authorized: false },
  ]);
  const c = harness({}, {
    recognizer: fresh,
    deduper: createAlertDeduper({ cache, ttlMs: 30_000, owner: "r3", logger: silentLogger }),
  });
  await c.run("cam-1", 1000, [stranger, bob]);
  await c.run("cam-1", 5000, [stranger, bob, newcomer]);
  assert.deepEqual(
    c.alerts().map((x) => [x.alert_type, x.bbox!.x1]),
    [["unknown_face", 50]],
    "only the newcomer",
  );
  await cache.close();
});

Deno.test("the camera listing shows each camera's latest frame view and last alert", async () => {
  const previewer = createFramePreviewer();
  const h = harness(cameras({ "cam-2": { rules: [{ id: "any", on: "enter" }] } }), {
    previewer,
  });
  await h.run("cam-2", 0, []);
  await h.run("cam-2", 3000, [person(100, 90)]);
  await h.run("cam-1", 3000, []);
  const list = h.pipeline.cameras.list();
  assert.deepEqual(list.map((c) => c.camera_id), ["cam-1", "cam-2"]);
  const cam2 = list[1]!;
  assert.equal(cam2.last_frame?.frame_number, 1);
  assert.equal(cam2.last_frame?.detection_ran, true);
  assert.deepEqual(cam2.last_frame?.detections.map((d) => d.track_id), [1]);
  const [alert] = h.alerts();
  assert.deepEqual(cam2.last_alert, {
    event_id: alert!.event_id,
    alert_type: "enter",
    rule_id: "any",
    timestamp: new Date(T0 + 3000).toISOString(),
  });
  assert.equal(cam2.motion, null, "motion gating is off here");
  assert.equal(await h.pipeline.cameras.frameJpeg("cam-9"), null, "no such camera");
  assert.equal(list[0]!.last_alert, null);
  const bbox: BoundingBox = cam2.last_frame!.detections[0]!.bbox;
  assert.deepEqual(bbox, person(100, 90).bbox);
});
