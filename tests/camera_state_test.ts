/**
 * Per-camera state is bounded: one record per camera in the pipeline, forgotten with every
 * per-camera metric series when the camera goes idle, and at most `server.max_cameras` of
 * them (a new camera beyond that gets 429).
 */
import assert from "node:assert/strict";
import { Counter } from "prom-client";
import { createLogger, silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createCameraRegistry } from "../shared/pipeline/camera_registry.ts";
import { createCameraScene } from "../shared/pipeline/camera_scene.ts";
import type { FrameInput } from "../shared/pipeline/frame_input.ts";
import { createPipeline } from "../shared/pipeline/pipeline.ts";
import { TooManyRequestsError } from "../shared/errors.ts";
import { fakeDetector, pipelineSettings, recordingPublisher } from "./support/pipeline_fakes.ts";

const T0 = Date.parse("2024-05-01T12:00:00Z");

/** The series a /metrics text exposes (name and labels), without their values, which vary. */
function seriesOf(text: string): string[] {
  return text.split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.slice(0, line.lastIndexOf(" ")))
    .sort();
}

function input(cameraId: string, nowMs: number, level = 0): FrameInput {
  return {
    cameraId,
    frameNumber: null,
    timestamp: new Date(nowMs).toISOString(),
    frame: {
      data: new Uint8Array(8 * 6 * 3).fill(level),
      width: 8,
      height: 6,
      channels: 3,
      layout: "rgb",
    },
    source: "raw",
    decodeMs: 0,
  };
}

Deno.test("camera activity drives fess_active_cameras and fess_fps, dropping idle cameras", async () => {
  let t = 0;
  const metrics = createMetrics({ defaultMetrics: false });
  const cams = createCameraRegistry({
    maxCameras: 10,
    idleSeconds: 2,
    metrics,
    logger: silentLogger,
    now: () => t,
    build: { scene: (id) => createCameraScene(pipelineSettings(), id, "person") },
  });
  for (let i = 0; i < 5; i++) {
    cams.admit("cam-a");
    t += 100; // 10 fps
  }
  cams.admit("cam-b");
  const fps = cams.get("cam-a")!.activity.fps;
  assert.ok(Math.abs(fps - 10) < 0.01, `fps ${fps}`);
  let text = await metrics.registry.metrics();
  assert.match(text, /fess_active_cameras 2/);
  assert.match(text, /fess_fps\{camera_id="cam-a"\} 10/);
  t += 5000;
  assert.equal(await cams.prune(), 2);
  text = await metrics.registry.metrics();
  assert.match(text, /fess_active_cameras 0/);
  assert.doesNotMatch(text, /fess_fps\{camera_id="cam-a"\}/);
  assert.equal(cams.get("cam-a"), undefined);
  assert.equal(cams.size, 0);
});

Deno.test("an idle camera loses its series in every metric with a camera_id label, whoever registered it", async () => {
  let t = T0;
  const metrics = createMetrics({ defaultMetrics: false });
  // A metric some later module registers: pruning finds it by its label, not by name.
  const custom = new Counter({
    name: "fess_test_tracks_total",
    help: "test",
    labelNames: ["camera_id", "kind"] as const,
    registers: [metrics.registry],
  });
  const cams = createCameraRegistry({
    maxCameras: 10,
    idleSeconds: 60,
    metrics,
    logger: silentLogger,
    now: () => t,
    build: { scene: (id) => createCameraScene(pipelineSettings(), id, "person") },
  });
  for (const id of ["gone", "kept"]) {
    cams.admit(id);
    cams.admit(id);
    metrics.detectionsTotal.inc({ camera_id: id, object_class: "person" });
    metrics.detectionsTotal.inc({ camera_id: id, object_class: "car" });
    metrics.detectionLatency.observe({ camera_id: id }, 0.02);
    metrics.faceRecognitionsTotal.inc({ camera_id: id, authorized: "true" });
    metrics.faceRecognitionsTotal.inc({ camera_id: id, authorized: "false" });
    custom.inc({ camera_id: id, kind: "entered" });
    t += 30_000;
  }
  t += 1_000; // "gone" idle for 61 s, "kept" for 31 s
  await cams.prune();
  const text = await metrics.registry.metrics();
  assert.doesNotMatch(text, /camera_id="gone"/);
  for (
    const name of [
      "fess_fps",
      "fess_detections_total",
      "fess_detection_latency_seconds_count",
      "fess_face_recognitions_total",
      "fess_test_tracks_total",
    ]
  ) {
    assert.match(text, new RegExp(`^${name}\\{[^}]*camera_id="kept"`, "m"), name);
  }
});

Deno.test("3000 distinct camera ids, then idle: /metrics shrinks back and no camera state is left", async () => {
  let t = T0;
  const metrics = createMetrics({ defaultMetrics: false });
  const detector = fakeDetector();
  detector.next = [{
    class_id: 0,
    class_name: "person",
    score: 0.9,
    bbox: { x1: 0, y1: 0, x2: 4, y2: 4 },
  }];
  const pipeline = createPipeline({
    settings: pipelineSettings({
      FESS_SERVER__MAX_CAMERAS: "4000",
      FESS_MOTION__CAMERA_IDLE_SECONDS: "60",
    }),
    detector,
    publisher: recordingPublisher(),
    cache: null,
    recognizer: null,
    metrics,
    logger: silentLogger,
    now: () => t,
  });
  const start = await metrics.registry.metrics();
  const before = start.length;
  for (let i = 0; i < 3000; i++) {
    const cam = `cam-${i}`;
    await pipeline.process(input(cam, t));
    await pipeline.process(input(cam, t, 200)); // a second frame: fess_fps too
    metrics.faceRecognitionsTotal.inc({ camera_id: cam, authorized: "false" });
  }
  assert.equal(pipeline.cameras.size, 3000);
  const busy = (await metrics.registry.metrics()).length;
  assert.ok(busy > before + 3000 * 100, `metrics text grew to ${busy} bytes from ${before}`);

  t += 61_000;
  assert.equal(await pipeline.prune(), 3000);
  const text = await metrics.registry.metrics();
  assert.equal(pipeline.cameras.size, 0);
  assert.equal(pipeline.cameras.get("cam-0"), undefined);
  assert.doesNotMatch(text, /camera_id=/);
  assert.match(text, /^fess_active_cameras 0$/m);
  // Sizes alone would flake: CPU and RSS gauges change their digit count between scrapes.
  assert.deepEqual(seriesOf(text), seriesOf(start), "the same series as before any camera");
});

Deno.test("a new camera past server.max_cameras gets 429 naming the limit, Retry-After when one can go idle", async () => {
  let t = T0;
  const records: Record<string, unknown>[] = [];
  const pipeline = createPipeline({
    settings: pipelineSettings({
      FESS_SERVER__MAX_CAMERAS: "2",
      FESS_MOTION__CAMERA_IDLE_SECONDS: "10",
    }),
    detector: fakeDetector(),
    publisher: recordingPublisher(),
    cache: null,
    recognizer: null,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: "debug", sink: (l) => records.push(JSON.parse(l)) }),
    now: () => t,
  });
  await pipeline.process(input("a", t));
  await pipeline.process(input("b", t));
  await assert.rejects(
    () => pipeline.process(input("c", t)),
    (err: unknown) =>
      err instanceof TooManyRequestsError && err.status === 429 &&
      /camera limit reached: 2 cameras are active \(server\.max_cameras\); camera c is refused/
        .test(err.message) &&
      // Idle means strictly more than 10 s of silence: 11 whole seconds from now.
      err.retryAfterSeconds === 11 && /retry in 11 s/.test(err.message),
  );
  assert.equal(pipeline.cameras.get("c"), undefined, "the refused camera keeps no state");
  t += 5_000;
  await pipeline.process(input("a", t)); // known cameras are never refused
  // b, silent for 5 s, is the first that can go: Retry-After counts down to it, not to a.
  const retry = await pipeline.process(input("c", t)).then(
    () => assert.fail("c was admitted"),
    (err: TooManyRequestsError) => err.retryAfterSeconds!,
  );
  assert.equal(retry, 6);
  t += (retry - 1) * 1000; // one second early: b has been silent for exactly 10 s
  await assert.rejects(() => pipeline.process(input("c", t)), TooManyRequestsError);
  t += 1000; // b idle for 11 s, a for 6 s: as Retry-After said
  const c = await pipeline.process(input("c", t));
  assert.equal(c.camera_id, "c");
  assert.equal(pipeline.cameras.get("b"), undefined, "the idle camera made room");
  assert.equal(pipeline.cameras.size, 2);
});
