// What the sidecar shows and how it paces itself: status table, rates, latency percentiles,
// capture timestamps, reconnect backoff.
import assert from "node:assert/strict";
import { createBackoff } from "../cameras/backoff.ts";
import { CameraStats, LATENCY_WINDOW, percentile } from "../cameras/camera_stats.ts";
import { formatCaptureTime } from "../cameras/capture_time.ts";
import {
  createRateTracker,
  renderStatusTable,
  startStatusReporter,
} from "../cameras/status_report.ts";
import { createLogger } from "../shared/logger.ts";

Deno.test("the status table shows state, rates, drops, p50 latency and the last error per camera", () => {
  const a = new CameraStats("front-door");
  a.state = "streaming";
  a.framesIn = 50;
  a.framesOut = 40;
  a.dropped = 7;
  a.framesDetected = 30;
  for (const ms of [10, 20, 30, 40, 50]) a.recordLatency(ms);
  const b = new CameraStats("yard");
  b.state = "failed";
  b.lastError = "the server refused the API key (HTTP 401 unauthorized: missing or wrong key)";
  const rates = createRateTracker();
  rates([a.snapshot(), b.snapshot()], 0);
  a.framesIn = 60;
  a.framesOut = 45;
  const table = renderStatusTable(rates([a.snapshot(), b.snapshot()], 2000), 100);
  const lines = table.split("\n");
  assert.match(
    lines[0]!,
    /^camera\s+state\s+fps in\s+fps out\s+dropped\s+p50 ms\s+detected\s+errors\s+last error$/,
  );
  assert.match(lines[1]!, /^front-door\s+streaming\s+5\.0\s+2\.5\s+7\s+30\s+30\s+0\s*$/);
  assert.match(lines[2]!, /^yard\s+failed\s+0\.0\s+0\.0\s+0\s+-\s+0\s+0\s+the server refused/);
  assert.ok(lines.every((l) => l.length <= 100), "clipped to the terminal width");
  assert.ok(lines[2]!.endsWith("…"));
});

Deno.test("without a terminal the reporter writes one JSON status line per camera", async () => {
  const lines: string[] = [];
  const logger = createLogger({ sink: (l) => lines.push(l) });
  const stats = new CameraStats("cam-1");
  stats.state = "streaming";
  const reporter = startStatusReporter({
    snapshots: () => [stats.snapshot()],
    mode: "json",
    logger,
    intervalMs: 20,
  });
  stats.framesIn = 4;
  await new Promise((r) => setTimeout(r, 70));
  reporter.stop();
  const records = lines.map((l) => JSON.parse(l));
  assert.ok(records.length >= 1);
  assert.equal(records[0].msg, "camera status");
  assert.equal(records[0].camera_id, "cam-1");
  assert.equal(records[0].frames_in, 4);
  assert.ok(records[0].fps_in > 0);
});

Deno.test("latency percentiles are nearest-rank over a fixed window of recent responses", () => {
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
  assert.equal(percentile(Float64Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99);
  const stats = new CameraStats("c");
  for (let i = 0; i < LATENCY_WINDOW; i++) stats.recordLatency(1000);
  for (let i = 0; i < LATENCY_WINDOW; i++) stats.recordLatency(5);
  assert.equal(stats.snapshot().latencyP99Ms, 5, "old responses leave the window");
});

Deno.test("capture times are RFC 3339 with an explicit offset and milliseconds", () => {
  const t = Date.UTC(2025, 0, 2, 3, 4, 5, 67);
  assert.equal(formatCaptureTime(t, 0), "2025-01-02T03:04:05.067+00:00");
  assert.equal(formatCaptureTime(t, 120), "2025-01-02T05:04:05.067+02:00");
  assert.equal(formatCaptureTime(t, -330), "2025-01-01T21:34:05.067-05:30");
  assert.equal(Date.parse(formatCaptureTime(t, -330)), t);
  assert.match(formatCaptureTime(t), /[+-]\d\d:\d\d$/);
});

Deno.test("reconnect backoff doubles up to its cap and starts over after a reset", () => {
  const b = createBackoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  assert.equal(b.attempts, 6);
  b.reset();
  assert.equal(b.next(), 100);
  const jittered = createBackoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 0 });
  assert.equal(jittered.next(), 800, "jitter spreads below the cap, never above");
});
