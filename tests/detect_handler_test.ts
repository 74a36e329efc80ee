/**
 * `POST /detect/{camera_id}` through the real router, handler, pipeline and detector on a
 * loopback server (a recording publisher behind the real interface): request parsing, decode,
 * timestamps, the stable response, and 4xx for every bad input before any detection.
 */
import assert from "node:assert/strict";
import { getModelManifest } from "../models/registry.ts";
import { createDetectHandler } from "../functions/detect.ts";
import { mountApi } from "./support/api.ts";
import { createDetector, type Detector } from "../shared/detector/detector.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics, type FessMetrics } from "../shared/metrics.ts";
import { FrameOutcomeSchema } from "../shared/pipeline/frame_outcome.ts";
import { createPipeline } from "../shared/pipeline/pipeline.ts";
import {
  modelsDir,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
  vtestFramesJpeg,
  vtestFramesYuv420,
} from "./support/media.ts";
import {
  pipelineSettings,
  type RecordingPublisher,
  recordingPublisher,
} from "./support/pipeline_fakes.ts";
import { yuv420ToBgr } from "../shared/image/yuv.ts";

interface Served {
  url: string;
  metrics: FessMetrics;
  publisher: RecordingPublisher;
  close(): Promise<void>;
}

let shared: Detector | null = null;
async function detector(): Promise<Detector> {
  shared ??= await createDetector({
    modelsDir: modelsDir(),
    manifest: getModelManifest("rtmdet-nano-person"),
    backend: "native",
    logger: silentLogger,
  });
  return shared;
}

const NOW = Date.parse("2026-01-02T03:04:05.000Z");

/**
 * A real Deno.serve on loopback: router, detect handler, pipeline (settings from `env`; motion
 * gating off unless asked) and the real detector, all on one fixed clock.
 */
async function serve(
  options: { env?: Record<string, string> } = {},
): Promise<Served> {
  const metrics = createMetrics({ defaultMetrics: false });
  const publisher = recordingPublisher();
  const settings = pipelineSettings({ FESS_MOTION__ENABLED: "false", ...options.env });
  const pipeline = createPipeline({
    settings,
    detector: await detector(),
    publisher,
    cache: null,
    recognizer: null,
    metrics,
    logger: silentLogger,
    now: () => NOW,
  });
  const handler = createDetectHandler({
    pipeline,
    bodyLimitBytes: 4 * 1024 * 1024,
    timestampSkewSeconds: settings.server.timestamp_skew_seconds,
    now: () => new Date(NOW),
  });
  const router = mountApi({ bodyLimitBytes: 8 * 1024 * 1024 }, handler);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, router);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    metrics,
    publisher,
    close: () => server.shutdown(),
  };
}

const TIMING_KEYS = [
  "alerts_ms",
  "batch_size",
  "decode_ms",
  "faces_ms",
  "inference_ms",
  "motion_ms",
  "postprocess_ms",
  "preprocess_ms",
  "publish_ms",
  "queue_ms",
  "total_ms",
  "track_ms",
];

/** Detections without their track ids (a camera's second frame confirms its tracks). */
function boxes(detections: { track_id: number | null }[]): unknown[] {
  return detections.map(({ track_id: _, ...d }) => d);
}

Deno.test("POST /detect/{camera} with a JPEG returns person detections, frame metadata and timing", async () => {
  const s = await serve();
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const res = await fetch(`${s.url}/detect/cam-1?frame_number=200&timestamp=1767315845000`, {
      method: "POST",
      headers: { "content-type": "image/jpeg" },
      body: jpeg,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.camera_id, "cam-1");
    assert.equal(body.frame_number, 200);
    assert.equal(body.timestamp, "2026-01-02T01:04:05.000Z");
    assert.equal(body.source, "jpeg");
    assert.deepEqual([body.width, body.height], [768, 576]);
    assert.deepEqual(body.model, { id: "rtmdet-nano-person", backend: "native", input_size: 320 });
    assert.ok(body.detections.length >= 3, `only ${body.detections.length} detections`);
    assert.ok(
      body.detections.every((d: { class_name: string; score: number }) =>
        d.class_name === "person" && d.score >= 0.3
      ),
    );
    assert.deepEqual(Object.keys(body.timing).sort(), TIMING_KEYS);
    for (const k of TIMING_KEYS) {
      assert.ok(typeof body.timing[k] === "number" && body.timing[k] >= 0, k);
    }
    assert.ok(body.timing.inference_ms > 0);
    assert.equal(body.timing.batch_size, 1);
    assert.equal(body.motion, null, "motion gating is off here");
    assert.deepEqual(body.faces, []);
    assert.equal(body.cached, null);
    assert.equal(body.events.published.length, 1);
    assert.deepEqual(body.events.rejected, []);
    assert.deepEqual(FrameOutcomeSchema.parse(body), body);
    const text = await s.metrics.registry.metrics();
    assert.match(
      text,
      new RegExp(
        `fess_detections_total\\{camera_id="cam-1",object_class="person"\\} ${body.detections.length}`,
      ),
    );
    assert.match(text, /fess_detection_latency_seconds_count\{camera_id="cam-1"\} 1/);
  } finally {
    await s.close();
  }
});

Deno.test("raw bgr24 frames with X-Frame-* headers give the same detections as the query form", async () => {
  const s = await serve();
  try {
    const [raw] = await vtestFramesBgr([200]);
    const viaHeaders = await fetch(`${s.url}/detect/cam-2`, {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        "x-frame-width": String(VTEST_WIDTH),
        "x-frame-height": String(VTEST_HEIGHT),
        "x-pixel-format": "bgr24",
        "x-frame-number": "7",
        "x-frame-timestamp": "2026-01-02T07:08:09Z",
      },
      body: raw,
    });
    assert.equal(viaHeaders.status, 200);
    const a = await viaHeaders.json();
    assert.equal(a.frame_number, 7);
    assert.equal(a.timestamp, "2026-01-02T07:08:09.000Z");
    const viaQuery = await fetch(`${s.url}/detect/cam-2?width=768&height=576&pixel_format=bgr24`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: raw,
    });
    const b = await viaQuery.json();
    assert.equal(b.timestamp, "2026-01-02T03:04:05.000Z", "defaults to the arrival time");
    assert.deepEqual(boxes(a.detections), boxes(b.detections));
    assert.ok(a.detections.every((d: { track_id: unknown }) => d.track_id === null));
    assert.ok(b.detections.some((d: { track_id: unknown }) => d.track_id !== null));
    assert.ok(a.detections.length >= 3);
  } finally {
    await s.close();
  }
});

Deno.test("bad input gets a 4xx with a reason and the server keeps serving", async () => {
  const s = await serve();
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = (
      path: string,
      type: string | null,
      body: Uint8Array<ArrayBuffer> | string,
      headers: Record<string, string> = {},
    ) =>
      fetch(`${s.url}${path}`, {
        method: "POST",
        headers: { ...(type ? { "content-type": type } : {}), ...headers },
        body,
      });
    const cases: [string, Promise<Response>, number, RegExp][] = [
      [
        "non-image bytes",
        post("/detect/cam", "image/jpeg", "definitely not a jpeg"),
        400,
        /not a JPEG or PNG/,
      ],
      [
        "truncated JPEG",
        post("/detect/cam", "image/jpeg", jpeg!.subarray(0, 5000)),
        400,
        /cannot decode jpeg/,
      ],
      [
        "wrong raw size",
        post(
          "/detect/cam?width=768&height=576&pixel_format=rgb24",
          "application/octet-stream",
          new Uint8Array(1000),
        ),
        400,
        /needs 1327104 bytes, got 1000/,
      ],
      [
        "missing raw format",
        post("/detect/cam?width=4&height=4", "application/octet-stream", new Uint8Array(48)),
        400,
        /pixel format/,
      ],
      [
        "oversize body",
        post("/detect/cam", "image/jpeg", new Uint8Array(5 * 1024 * 1024)),
        413,
        /exceeds the limit/,
      ],
      ["bad camera id", post("/detect/-bad%20id!", "image/jpeg", jpeg!), 400, /invalid camera id/],
      ["unsupported type", post("/detect/cam", "text/plain", "hi"), 415, /not accepted/],
      [
        "bad frame number",
        post("/detect/cam?frame_number=-3", "image/jpeg", jpeg!),
        400,
        /frame_number/,
      ],
      [
        "bad timestamp",
        post("/detect/cam", "image/jpeg", jpeg!, { "x-frame-timestamp": "yesterday" }),
        422,
        /timestamp "yesterday" is neither RFC 3339/,
      ],
      ["no camera", post("/detect", "image/jpeg", jpeg!), 404, /no route/],
      ["nested path", post("/detect/a/b", "image/jpeg", jpeg!), 404, /no route/],
    ];
    for (const [what, pending, status, reason] of cases) {
      const res = await pending;
      const body = await res.json();
      assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`);
      assert.match(body.error, reason, what);
    }
    const get = await fetch(`${s.url}/detect/cam`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    const ok = await post("/detect/cam", "image/jpeg", jpeg!);
    assert.equal(ok.status, 200, "still serving after the bad requests");
    await ok.body?.cancel();
  } finally {
    await s.close();
  }
});

Deno.test("frame numbers and raw sizes are plain decimal digits; anything else is a 400 naming it", async () => {
  const s = await serve();
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = (query: string, headers: Record<string, string> = {}, raw = false) =>
      fetch(`${s.url}/detect/strict-cam?${query}`, {
        method: "POST",
        headers: { "content-type": raw ? "application/octet-stream" : "image/jpeg", ...headers },
        body: raw ? new Uint8Array(4 * 4 * 3) : jpeg,
      });
    const refused: [string, Promise<Response>, string][] = [
      ["frame_number", post("frame_number=0x10"), '"0x10"'],
      ["frame_number", post("frame_number=1e3"), '"1e3"'],
      ["frame_number", post("frame_number=0b101"), '"0b101"'],
      ["frame_number", post("frame_number=%2B5"), '"+5"'],
      ["frame_number", post("frame_number=+5"), '" 5"'], // "+" is a space in a query
      ["frame_number", post("frame_number=%0A7"), '"\\n7"'],
      ["frame_number", post("frame_number=%20"), '" "'],
      ["frame_number", post("frame_number=7.0"), '"7.0"'],
      ["frame_number", post("frame_number=9007199254740992"), '"9007199254740992"'],
      ["width", post("width=0x300&height=576&pixel_format=rgb24", {}, true), '"0x300"'],
      ["width", post("width=7.68e2&height=576&pixel_format=rgb24", {}, true), '"7.68e2"'],
      ["width", post("width=%20768&height=576&pixel_format=rgb24", {}, true), '" 768"'],
      ["height", post("width=4&height=0&pixel_format=rgb24", {}, true), '"0"'],
      ["height", post("width=4&height=16385&pixel_format=rgb24", {}, true), '"16385"'],
      ["X-Frame-Number", post("", { "x-frame-number": "0x10" }), '"0x10"'],
      ["X-Frame-Number", post("", { "x-frame-number": "-3" }), '"-3"'],
      [
        "X-Frame-Width",
        post("pixel_format=rgb24", { "x-frame-width": "1e1", "x-frame-height": "4" }, true),
        '"1e1"',
      ],
    ];
    for (const [name, pending, value] of refused) {
      const res = await pending;
      const body = await res.json();
      assert.equal(res.status, 400, `${name}=${value}: ${JSON.stringify(body)}`);
      assert.equal(body.code, "bad_request");
      assert.ok(
        body.error.includes(`${name}: expected a decimal integer in `) &&
          body.error.includes(`got ${value}`),
        `names ${name} and ${value}: ${body.error}`,
      );
    }
    const text = await s.metrics.registry.metrics();
    assert.doesNotMatch(text, /camera_id="strict-cam"/, "no refused frame reached the pipeline");
    const ok = await post("frame_number=0016");
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).frame_number, 16);
  } finally {
    await s.close();
  }
});

Deno.test("a still frame answers with the same keys as a detected one, empty where nothing ran", async () => {
  const s = await serve({ env: { FESS_MOTION__ENABLED: "true" } });
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = async (n: number) =>
      await (await fetch(`${s.url}/detect/lobby?frame_number=${n}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      })).json();
    const ran = await post(1);
    const still = await post(2);
    assert.equal(ran.detection_ran, true);
    assert.ok(ran.detections.length >= 3);
    assert.equal(still.detection_ran, false);
    assert.deepEqual(Object.keys(still).sort(), Object.keys(ran).sort(), "same keys");
    assert.deepEqual(Object.keys(still.timing).sort(), TIMING_KEYS);
    assert.deepEqual(Object.keys(ran.timing).sort(), TIMING_KEYS);
    assert.deepEqual(still.motion, { detected: false, score: 0 });
    assert.deepEqual(still.detections, []);
    assert.deepEqual(still.faces, []);
    assert.deepEqual(still.events, { published: [], rejected: [] });
    assert.equal(still.cached, null);
    for (const k of ["queue_ms", "preprocess_ms", "inference_ms", "faces_ms", "publish_ms"]) {
      assert.equal(still.timing[k], 0, k);
    }
    assert.equal(still.timing.batch_size, 0);
    for (const body of [ran, still]) assert.deepEqual(FrameOutcomeSchema.parse(body), body);
    assert.equal(
      s.publisher.events.length,
      1,
      "one MotionDetection event, none for the still frame",
    );
    const text = await s.metrics.registry.metrics();
    assert.match(
      text,
      /fess_detection_latency_seconds_count\{camera_id="lobby"\} 1/,
      "skipped frames record no latency",
    );
  } finally {
    await s.close();
  }
});

Deno.test("timestamps: RFC 3339 with an offset or epoch milliseconds near now; anything else 422 before detection", async () => {
  const s = await serve();
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = (ts: string) =>
      fetch(`${s.url}/detect/ts-cam?timestamp=${encodeURIComponent(ts)}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
    const accepted: [string, string][] = [
      ["2026-01-02T01:00:00Z", "2026-01-02T01:00:00.000Z"],
      ["2026-01-02T05:04:05.5+02:00", "2026-01-02T03:04:05.500Z"],
      ["2026-01-01T22:04:05-05:00", "2026-01-02T03:04:05.000Z"],
      [String(NOW - 60_000), "2026-01-02T03:03:05.000Z"],
    ];
    for (const [given, normalised] of accepted) {
      const res = await post(given);
      const body = await res.json();
      assert.equal(res.status, 200, `${given}: ${JSON.stringify(body)}`);
      assert.equal(body.timestamp, normalised, given);
    }
    const refused = [
      "2026-01-02T03:04:05", // naive: no offset
      "2026-01-02 03:04:05",
      "-1",
      "8640000000000000",
      "+275760-09-13T00:00:00Z",
      "1767323045", // epoch seconds: 1970 as milliseconds
      String(NOW + 25 * 3600_000), // a day and an hour ahead
      "2026-02-30T00:00:00Z",
      "yesterday",
      "1767323045000.5",
    ];
    for (const given of refused) {
      const res = await post(given);
      const body = await res.json();
      assert.equal(res.status, 422, `${given}: ${JSON.stringify(body)}`);
      assert.equal(body.code, "validation_failed");
      assert.ok(body.error.includes(JSON.stringify(given)), `names the value: ${body.error}`);
    }
    const text = await s.metrics.registry.metrics();
    const ran = Number(
      /fess_detection_latency_seconds_count\{camera_id="ts-cam"\} (\d+)/.exec(text)![1],
    );
    assert.equal(ran, accepted.length, "refused frames never reached the detector");
  } finally {
    await s.close();
  }
});

Deno.test("a new camera past server.max_cameras gets 429 over HTTP with the reason and Retry-After", async () => {
  const s = await serve({ env: { FESS_SERVER__MAX_CAMERAS: "1" } });
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = (cam: string) =>
      fetch(`${s.url}/detect/${cam}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
    const first = await post("only-cam");
    await first.body?.cancel();
    assert.equal(first.status, 200);
    const refused = await post("second-cam");
    const body = await refused.json();
    assert.equal(refused.status, 429);
    assert.equal(body.code, "too_many_requests");
    assert.match(body.error, /camera limit reached: 1 cameras are active \(server\.max_cameras\)/);
    assert.deepEqual(body.detail, { max_cameras: 1, idle_seconds: 60, retry_after_seconds: 61 });
    // One clock for both frames: the only camera can be forgotten after more than 60 s.
    assert.equal(refused.headers.get("retry-after"), "61");
    const again = await post("only-cam");
    await again.body?.cancel();
    assert.equal(again.status, 200, "the known camera is still served");
  } finally {
    await s.close();
  }
});

Deno.test("a yuv420p frame is detected exactly like its OpenCV BGR conversion sent as bgr24", async () => {
  const s = await serve();
  try {
    const [yuv] = await vtestFramesYuv420([200], "yuv420p");
    const bgr = yuv420ToBgr(yuv!, VTEST_WIDTH, VTEST_HEIGHT, "i420");
    const post = async (body: Uint8Array<ArrayBuffer>, format: string) =>
      await (await fetch(`${s.url}/detect/c?width=${VTEST_WIDTH}&height=${VTEST_HEIGHT}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", "x-pixel-format": format },
        body,
      })).json();
    const [a, b] = [await post(yuv!, "yuv420p"), await post(new Uint8Array(bgr), "bgr24")];
    assert.deepEqual([a.width, a.height], [VTEST_WIDTH, VTEST_HEIGHT]);
    assert.ok(a.detections.length >= 3, `pedestrians found: ${a.detections.length}`);
    assert.deepEqual(boxes(a.detections), boxes(b.detections));
  } finally {
    await s.close();
  }
});

Deno.test("an odd-sized yuv420p frame is a 400 and a PNG declaring too many pixels a 413", async () => {
  const s = await serve();
  try {
    const odd = await fetch(`${s.url}/detect/c?width=5&height=4&pixel_format=yuv420p`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(30),
    });
    assert.equal(odd.status, 400);
    assert.match((await odd.json()).error, /even width and height/);
    // A PNG signature and an IHDR claiming 12000x12000, then nothing decodable.
    const png = new Uint8Array(64);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    new DataView(png.buffer).setUint32(16, 12000);
    new DataView(png.buffer).setUint32(20, 12000);
    const big = await fetch(`${s.url}/detect/c`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: png,
    });
    assert.equal(big.status, 413);
    const body = await big.json();
    assert.equal(body.code, "frame_too_large");
    assert.deepEqual([body.detail.width, body.detail.height], [12000, 12000]);
  } finally {
    await s.close();
  }
});

Deno.test({
  name: "close the shared detector",
  fn: async () => {
    await shared?.close();
    shared = null;
  },
});
