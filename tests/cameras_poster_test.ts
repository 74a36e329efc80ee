// Latest-frame-wins upload scheduling, with an upload function the test resolves by hand.
import assert from "node:assert/strict";
import { createBackoff } from "../cameras/backoff.ts";
import { CameraStats } from "../cameras/camera_stats.ts";
import type { CameraFrame } from "../cameras/frame.ts";
import { createFramePoster } from "../cameras/frame_poster.ts";
import { classifyResponse, type UploadOutcome } from "../cameras/frame_upload.ts";

const BACKOFF_MS = 500;

interface Pending {
  frame: CameraFrame;
  resolve: (o: UploadOutcome) => void;
}

function harness() {
  const stats = new CameraStats("cam");
  const calls: Pending[] = [];
  const released: number[] = [];
  const fatal: UploadOutcome[] = [];
  const poster = createFramePoster({
    upload: (frame) => new Promise((resolve) => calls.push({ frame, resolve })),
    stats,
    // Long enough that a stalled test process cannot see the pause end early.
    backoff: createBackoff({ initialMs: BACKOFF_MS, maxMs: BACKOFF_MS, jitter: 0 }),
    onFatal: (o) => fatal.push(o),
  });
  const frame = (number: number): CameraFrame => ({
    data: new Uint8Array(3),
    width: 1,
    height: 1,
    format: "bgr24",
    number,
    capturedAtMs: Date.now(),
    capturedMono: performance.now(),
    release: () => released.push(number),
  });
  return { stats, calls, released, fatal, poster, frame };
}

const OK: UploadOutcome = { kind: "ok", status: 200, detectionRan: true, detections: 2 };
const tick = () => new Promise((r) => setTimeout(r, 0));

/** Waits until `done()` holds, failing after `ms`. */
async function until(done: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("frames offered while one is in flight replace each other: the newest is sent next", async () => {
  const h = harness();
  for (let n = 1; n <= 5; n++) h.poster.offer(h.frame(n));
  assert.equal(h.calls.length, 1, "one upload in flight");
  assert.equal(h.calls[0]!.frame.number, 1);
  assert.deepEqual(h.released, [2, 3, 4], "replaced frames are released at once");
  assert.equal(h.stats.dropped, 3);
  h.calls[0]!.resolve(OK);
  await tick();
  assert.equal(h.calls.length, 2);
  assert.equal(h.calls[1]!.frame.number, 5, "the latest frame wins");
  h.calls[1]!.resolve({ kind: "ok", status: 200, detectionRan: false, detections: 0 });
  await tick();
  await h.poster.stop();
  assert.equal(h.stats.maxInFlight, 1);
  assert.equal(h.stats.framesOut, 2);
  assert.equal(h.stats.framesDetected, 1);
  assert.equal(h.stats.framesSkipped, 1);
  assert.equal(h.stats.detections, 2);
  assert.deepEqual(h.released.sort(), [1, 2, 3, 4, 5], "every buffer released exactly once");
});

Deno.test("after a retryable failure uploads pause for the backoff, then send the newest frame", async () => {
  const h = harness();
  h.poster.offer(h.frame(1));
  const failedAt = Date.now();
  h.calls[0]!.resolve({ kind: "retry", status: null, reason: "server unreachable" });
  await tick();
  h.poster.offer(h.frame(2));
  h.poster.offer(h.frame(3));
  await tick();
  assert.equal(h.calls.length, 1, "nothing is sent while backing off");
  assert.equal(h.stats.serverDown, true);
  assert.equal(h.stats.lastError, "server unreachable");
  await until(() => h.calls.length > 1, "the upload after the backoff");
  const pausedMs = Date.now() - failedAt;
  assert.ok(pausedMs >= BACKOFF_MS, `sent again after ${pausedMs} ms, before the backoff ended`);
  assert.equal(h.calls.length, 2);
  assert.equal(h.calls[1]!.frame.number, 3);
  h.calls[1]!.resolve(OK);
  await tick();
  assert.equal(h.stats.serverDown, false);
  assert.equal(h.stats.uploadErrors, 1);
  assert.equal(h.stats.dropped, 1);
  await h.poster.stop();
});

Deno.test("a fatal answer stops all uploads and reports once", async () => {
  const h = harness();
  h.poster.offer(h.frame(1));
  h.poster.offer(h.frame(2));
  h.calls[0]!.resolve({ kind: "fatal", status: 401, reason: "refused" });
  await tick();
  h.poster.offer(h.frame(3));
  await tick();
  assert.equal(h.calls.length, 1, "no request after the refusal");
  assert.equal(h.fatal.length, 1);
  assert.equal(h.stats.dropped, 2);
  assert.deepEqual(h.released.sort(), [1, 2, 3]);
  await h.poster.stop();
});

Deno.test("stop waits for the upload in flight and drops the pending frame", async () => {
  const h = harness();
  h.poster.offer(h.frame(1));
  h.poster.offer(h.frame(2));
  let stopped = false;
  const stopping = h.poster.stop().then(() => (stopped = true));
  await tick();
  assert.equal(stopped, false);
  h.calls[0]!.resolve(OK);
  await stopping;
  assert.equal(h.stats.framesOut, 1);
  assert.equal(h.stats.dropped, 1);
  assert.equal(h.calls.length, 1);
});

Deno.test("responses are classified: 2xx ok, 401/403 fatal key, 429/5xx retry, other 4xx fatal", () => {
  const ok = classifyResponse(200, JSON.stringify({ detection_ran: false, detections: [] }));
  assert.deepEqual(ok, { kind: "ok", status: 200, detectionRan: false, detections: 0 });
  const denied = classifyResponse(
    401,
    JSON.stringify({ error: "unauthorized", detail: "missing key" }),
  );
  assert.equal(denied.kind, "fatal");
  assert.match(
    (denied as { reason: string }).reason,
    /API key.*HTTP 401 unauthorized: missing key/,
  );
  assert.equal(classifyResponse(403, "").kind, "fatal");
  assert.equal(classifyResponse(429, "{}").kind, "retry");
  assert.equal(classifyResponse(503, "busy").kind, "retry");
  const bad = classifyResponse(
    400,
    JSON.stringify({ error: "bad_request", detail: "pixel format" }),
  );
  assert.equal(bad.kind, "fatal");
  assert.match((bad as { reason: string }).reason, /rejected the frames.*pixel format/);
});
