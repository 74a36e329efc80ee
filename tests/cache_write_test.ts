/**
 * Dependency writes never stall a frame: the detection-cache write runs beside the frame and
 * the frame waits for it at most `cache.detection_write_wait_ms`; failures and skipped writes
 * are counted in `fess_cache_write_failures_total`.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { createDetectionStore, type DetectionStore } from "../shared/cache/detection_store.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createDetectionCacheWriter } from "../shared/pipeline/cache_stage.ts";
import { createPipeline } from "../shared/pipeline/pipeline.ts";
import { startTestApp } from "./support/app.ts";
import { vtestFramesJpeg } from "./support/media.ts";
import { fakeDetector, pipelineSettings, recordingPublisher } from "./support/pipeline_fakes.ts";
import { find, parseExposition } from "./support/prometheus_text.ts";
import { requireService, startRedis } from "./support/services.ts";

/** Value of `name{labels}`, or null when the series does not exist. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  return find(parseExposition(text), name, labels)[0]?.value ?? null;
}

/** A cache whose writes never settle, like a Redis that stopped answering. */
function frozenCache(): CacheStore & { pending: number } {
  const memory = createMemoryCache();
  return Object.assign(Object.create(memory) as CacheStore, {
    pending: 0,
    setJson(this: { pending: number }) {
      this.pending++;
      return new Promise<void>(() => {});
    },
  });
}

Deno.test("a frame returns while its detection-cache write hangs, reporting cached false", async () => {
  const cache = frozenCache();
  const detector = fakeDetector();
  detector.next = [{
    class_id: 0,
    class_name: "person",
    score: 0.9,
    bbox: { x1: 1, y1: 1, x2: 5, y2: 5 },
  }];
  const publisher = recordingPublisher();
  const pipeline = createPipeline({
    settings: pipelineSettings({ FESS_CACHE__DETECTION_WRITE_WAIT_MS: "20" }),
    detector,
    publisher,
    cache,
    recognizer: null,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silentLogger,
  });
  // Were the write awaited, this would never resolve.
  const outcome = await pipeline.process({
    cameraId: "frozen",
    frameNumber: 1,
    timestamp: new Date().toISOString(),
    frame: { data: new Uint8Array(12), width: 2, height: 2, channels: 3, layout: "rgb" },
    source: "raw",
    decodeMs: 0,
  });
  assert.equal(cache.pending, 1, "the write was started");
  assert.equal(outcome.cached, false, "not confirmed within the wait");
  assert.equal(outcome.detections.length, 1);
  assert.equal(outcome.events.published.length, 1, "the later stages ran");
});

Deno.test("writes past the in-flight bound are skipped and counted as backlog, failed ones as error", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const hung: DetectionStore = {
    put: () => new Promise(() => {}),
    get: () => Promise.resolve(null),
  };
  const writer = createDetectionCacheWriter({
    store: hung,
    waitMs: 1,
    maxInFlight: 2,
    metrics,
    logger: silentLogger,
  });
  const results = await Promise.all(
    [1, 2, 3, 4].map((n) => writer.write("c", n, new Date().toISOString(), []).settle()),
  );
  assert.deepEqual(results, [false, false, false, false]);
  assert.equal(writer.inFlight, 2, "two writes still hang; the others were never started");
  let text = await metrics.registry.metrics();
  assert.equal(sample(text, "fess_cache_write_failures_total", { reason: "backlog" }), 2);

  const closed = createMemoryCache();
  await closed.close();
  const failing = createDetectionCacheWriter({
    store: createDetectionStore({ cache: closed }),
    waitMs: 1000,
    metrics,
    logger: silentLogger,
  });
  assert.equal(await failing.write("c", 1, new Date().toISOString(), []).settle(), false);
  text = await metrics.registry.metrics();
  assert.equal(sample(text, "fess_cache_write_failures_total", { reason: "error" }), 1);
  assert.equal(failing.inFlight, 0);
});

Deno.test({
  name: "a frozen real Redis (SIGSTOP) does not stall POST /detect; the write lands after it thaws",
  ...requireService("redis"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    // A command timeout far beyond the test: only the bounded wait can return the frame early.
    const t = await startTestApp({
      FESS_REDIS__URL: redis.url,
      FESS_REDIS__COMMAND_TIMEOUT_MS: "120000",
      // Generous for the answering case (a busy event loop must not time out a live Redis),
      // still far below the command timeout for the frozen one.
      FESS_CACHE__DETECTION_WRITE_WAIT_MS: "2000",
      FESS_FACES__ENABLED: "false",
      FESS_MOTION__ENABLED: "false",
      FESS_DETECTOR__BACKEND: "native",
      FESS_DETECTOR__WARMUP: "false",
    }, "error");
    try {
      const [jpeg] = await vtestFramesJpeg([200]);
      const post = async (n: number) => {
        const res = await fetch(`${t.url}/detect/frozen-redis?frame_number=${n}`, {
          method: "POST",
          headers: { "content-type": "image/jpeg" },
          body: jpeg,
        });
        assert.equal(res.status, 200);
        return await res.json();
      };
      assert.equal((await post(1)).cached, true, "Redis answering: stored");

      redis.pause();
      let frozen;
      let frozenMs;
      try {
        const started = performance.now();
        frozen = await post(2);
        frozenMs = performance.now() - started;
        // Still paused here: the frame came back while its write was pending, not failed.
        const text = await (await fetch(`${t.url}/metrics`)).text();
        assert.equal(sample(text, "fess_cache_write_failures_total", { reason: "error" }), null);
      } finally {
        redis.resume();
      }
      assert.equal(frozen.cached, false);
      assert.ok(frozenMs < 60_000, `the frame waited ${frozenMs} ms, not the command timeout`);
      assert.ok(frozen.detections.length >= 3, "the frame was fully processed");

      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      try {
        const deadline = Date.now() + 10_000;
        let landed = false;
        while (!landed && Date.now() < deadline) {
          landed = await client.exists("detection:frozen-redis:2") === 1;
          if (!landed) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(landed, "the pending write completed once Redis thawed");
      } finally {
        client.disconnect();
      }
    } finally {
      await t.close();
      await redis.close();
    }
  },
});
