import assert from "node:assert/strict";
import { getModelManifest } from "../models/registry.ts";
import { createDetectHandler, type DetectHooks, type FrameContext } from "../functions/detect.ts";
import { mountApi } from "./support/api.ts";
import { createDetector, type Detector } from "../shared/detector/detector.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics, type FessMetrics } from "../shared/metrics.ts";
import {
  modelsDir,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
  vtestFramesJpeg,
} from "./support/media.ts";

interface Served {
  url: string;
  metrics: FessMetrics;
  seen: FrameContext[];
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

/** A real Deno.serve on loopback with the router and the detect handler. */
async function serve(
  hooks?: (seen: FrameContext[]) => DetectHooks,
  scaledDecode?: boolean,
): Promise<Served> {
  const metrics = createMetrics({ defaultMetrics: false });
  const seen: FrameContext[] = [];
  const handler = createDetectHandler({
    detector: await detector(),
    logger: silentLogger,
    metrics,
    hooks: hooks?.(seen),
    bodyLimitBytes: 4 * 1024 * 1024,
    scaledDecode,
    now: () => new Date("2026-01-02T03:04:05.000Z"),
  });
  const router = mountApi({ bodyLimitBytes: 8 * 1024 * 1024 }, handler);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, router);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    metrics,
    seen,
    close: () => server.shutdown(),
  };
}

Deno.test("POST /detect/{camera} with a JPEG returns person detections, frame metadata and timing", async () => {
  const s = await serve();
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const res = await fetch(`${s.url}/detect/cam-1?frame_number=200&timestamp=1700000000`, {
      method: "POST",
      headers: { "content-type": "image/jpeg" },
      body: jpeg,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.camera_id, "cam-1");
    assert.equal(body.frame_number, 200);
    assert.equal(body.timestamp, "2023-11-14T22:13:20.000Z");
    assert.deepEqual([body.width, body.height], [768, 576]);
    assert.deepEqual(body.model, { id: "rtmdet-nano-person", backend: "native", input_size: 320 });
    assert.ok(body.detections.length >= 3, `only ${body.detections.length} detections`);
    assert.ok(
      body.detections.every((d: { class_name: string; score: number }) =>
        d.class_name === "person" && d.score >= 0.3
      ),
    );
    for (const k of ["decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "total_ms"]) {
      assert.ok(typeof body.timing[k] === "number" && body.timing[k] >= 0, k);
    }
    assert.ok(body.timing.inference_ms > 0);
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
        "x-frame-timestamp": "2026-05-06T07:08:09Z",
      },
      body: raw,
    });
    assert.equal(viaHeaders.status, 200);
    const a = await viaHeaders.json();
    assert.equal(a.frame_number, 7);
    assert.equal(a.timestamp, "2026-05-06T07:08:09.000Z");
    const viaQuery = await fetch(`${s.url}/detect/cam-2?width=768&height=576&pixel_format=bgr24`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: raw,
    });
    const b = await viaQuery.json();
    assert.equal(b.timestamp, "2026-01-02T03:04:05.000Z", "defaults to the arrival time");
    assert.deepEqual(a.detections, b.detections);
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
        400,
        /timestamp/,
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

Deno.test("hooks see the decoded frame, can skip detection, and their results are merged into the response", async () => {
  const s = await serve((seen) => ({
    beforeDetect(frame) {
      seen.push(frame);
      return Promise.resolve({
        run: frame.frameNumber !== 1,
        info: { motion: { gated: frame.frameNumber === 1 } },
      });
    },
    afterDetect(frame, detections) {
      return Promise.resolve({
        faces: [],
        people_seen: detections.length,
        cam: frame.cameraId,
        detections: "ignored",
      });
    },
  }));
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = (n: number) =>
      fetch(`${s.url}/detect/lobby?frame_number=${n}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
    const skipped = await (await post(1)).json();
    assert.equal(skipped.detection_ran, false);
    assert.deepEqual(skipped.detections, []);
    assert.deepEqual(skipped.motion, { gated: true });
    assert.equal(skipped.people_seen, undefined, "afterDetect only runs when detection ran");
    const ran = await (await post(2)).json();
    assert.equal(ran.detection_ran, true);
    assert.equal(ran.people_seen, ran.detections.length);
    assert.ok(Array.isArray(ran.detections), "hooks cannot overwrite the handler's fields");
    assert.equal(ran.cam, "lobby");
    assert.ok(ran.timing.before_hook_ms >= 0 && ran.timing.after_hook_ms >= 0);
    const frame = s.seen[1]!;
    assert.deepEqual([frame.cameraId, frame.frameNumber, frame.source], ["lobby", 2, "jpeg"]);
    assert.deepEqual([
      frame.frame.width,
      frame.frame.height,
      frame.frame.layout,
      frame.frame.data.length,
    ], [768, 576, "rgb", 768 * 576 * 3]);
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

Deno.test("the scaled JPEG decode finds the same pedestrians as the full decode, in frame pixels", async () => {
  const [fast, full] = [await serve(), await serve(undefined, false)];
  try {
    const [jpeg] = await vtestFramesJpeg([200]);
    const post = async (s: Served) =>
      await (await fetch(`${s.url}/detect/c`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      })).json();
    const [a, b] = [await post(fast), await post(full)];
    assert.deepEqual([a.width, a.height], [768, 576]);
    const confident = b.detections.filter((d: { score: number }) => d.score >= 0.5);
    assert.ok(confident.length >= 3);
    type D = { score: number; bbox: { x1: number; y1: number; x2: number; y2: number } };
    for (const d of confident as D[]) {
      const twin = (a.detections as D[]).find((o) =>
        Math.abs(o.bbox.x1 - d.bbox.x1) <= 6 && Math.abs(o.bbox.y1 - d.bbox.y1) <= 6 &&
        Math.abs(o.bbox.x2 - d.bbox.x2) <= 6 && Math.abs(o.bbox.y2 - d.bbox.y2) <= 6 &&
        Math.abs(o.score - d.score) <= 0.1
      );
      assert.ok(twin, `no twin for ${JSON.stringify(d)}`);
    }
  } finally {
    await fast.close();
    await full.close();
  }
});

Deno.test({
  name: "close the shared detector",
  fn: async () => {
    await shared?.close();
    shared = null;
  },
});
