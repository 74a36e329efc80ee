import assert from "node:assert/strict";
import { requireService, startKafka, startRedis } from "./support/services.ts";
import { startTestApp } from "./support/app.ts";
import { vtestFramesJpeg } from "./support/media.ts";

interface Report {
  status: string;
  components: Record<string, { healthy: boolean; [k: string]: unknown }>;
}

async function health(url: string): Promise<{ code: number; body: Report; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/health`);
  return { code: res.status, body: await res.json(), ms: performance.now() - t0 };
}

async function waitFor(
  url: string,
  want: (r: Report) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Report> {
  const deadline = Date.now() + timeoutMs;
  let last: Report | undefined;
  while (Date.now() < deadline) {
    last = (await health(url)).body;
    if (want(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last /health: ${JSON.stringify(last)}`);
}

Deno.test({
  name:
    "health follows real Redis and Kafka outages: healthy -> degraded -> healthy, never hanging",
  ...requireService("redis", "kafka"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const kafka = await startKafka({ dedicated: true });
    const t = await startTestApp({
      FESS_REDIS__URL: redis.url,
      FESS_REDIS__COMMAND_TIMEOUT_MS: "500",
      FESS_KAFKA__BROKERS: kafka.brokers.join(","),
      FESS_KAFKA__RETRIES: "1",
      FESS_HEALTH__CHECK_TIMEOUT_MS: "400",
      FESS_FACES__ENABLED: "false",
      // A busy or full shared box must not turn the system check (and the status) degraded.
      FESS_HEALTH__CPU_THRESHOLD_PERCENT: "100",
      FESS_HEALTH__MEMORY_THRESHOLD_PERCENT: "100",
      FESS_HEALTH__DISK_THRESHOLD_PERCENT: "100",
    }, "error");
    const [a, b] = await vtestFramesJpeg([300, 330]);
    let frame = 0;
    const detect = async (jpeg: Uint8Array<ArrayBuffer>) => {
      const res = await fetch(`${t.url}/detect/health-cam?frame_number=${frame++}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
      await res.body?.cancel();
      return res.status;
    };
    try {
      const first = await waitFor(t.url, (r) => r.status === "healthy", "healthy at start");
      assert.equal(first.components.redis!.mode, "redis");
      assert.equal(first.components.kafka!.mode, "kafka");
      assert.deepEqual(first.components.kafka!.brokers, kafka.brokers);
      assert.equal(first.components.detector!.backend, "native");

      // Redis down: degraded (HTTP 200), detection keeps working.
      await redis.stop();
      const noRedis = await waitFor(
        t.url,
        (r) => r.components.redis!.healthy === false,
        "redis unhealthy",
      );
      assert.equal(noRedis.status, "degraded");
      assert.equal((await health(t.url)).code, 200);
      assert.equal(await detect(a!), 200, "detection runs while Redis is down");
      await redis.start();
      await waitFor(t.url, (r) => r.status === "healthy", "healthy after Redis restart");

      // Kafka down: events wait in the write-ahead log and age, health degraded; back up:
      // delivered, healthy.
      await kafka.stop();
      assert.equal(await detect(b!), 200);
      const noKafka = await waitFor(
        t.url,
        (r) => r.components.kafka!.healthy === false,
        "kafka unhealthy",
      );
      assert.equal(noKafka.status, "degraded");
      await kafka.start();
      const back = await waitFor(
        t.url,
        (r) => r.status === "healthy" && r.components.kafka!.queued === 0,
        "healthy after Kafka restart",
        60_000,
      );
      assert.equal(back.components.kafka!.queued, 0);

      // A hung Redis (SIGSTOP: connected but silent) cannot hang /health.
      redis.pause();
      try {
        const hung = await health(t.url);
        assert.ok(hung.ms < 2_000, `/health took ${hung.ms} ms while Redis hung`);
        assert.equal(hung.body.status, "degraded");
        assert.equal(hung.body.components.redis!.healthy, false);
      } finally {
        redis.resume();
      }
      await waitFor(t.url, (r) => r.status === "healthy", "healthy after Redis resumes");
    } finally {
      await t.close();
      await kafka.close();
      await redis.close();
    }
  },
});

Deno.test("without a detector model the service still answers: /health 503 unhealthy, /detect 503 naming the file", async () => {
  const empty = await Deno.makeTempDir();
  const t = await startTestApp({ FESS_MODELS_DIR: empty, FESS_FACES__ENABLED: "false" }, "error");
  try {
    const h = await health(t.url);
    assert.equal(h.code, 503);
    assert.equal(h.body.status, "unhealthy");
    assert.equal(h.body.components.detector!.healthy, false);
    assert.match(String(h.body.components.detector!.error), /rtmdet-nano-person\.onnx/);
    const ready = await fetch(`${t.url}/health/ready`);
    assert.equal(ready.status, 503);
    await ready.body?.cancel();
    const live = await fetch(`${t.url}/health/live`);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    const res = await fetch(`${t.url}/detect/cam`, {
      method: "POST",
      headers: { "content-type": "image/jpeg" },
      body: "x",
    });
    assert.equal(res.status, 503);
    assert.match((await res.json()).error, /rtmdet-nano-person\.onnx.*4720eda1/s);
  } finally {
    await t.close();
    await Deno.remove(empty);
  }
});
