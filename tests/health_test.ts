import assert from "node:assert/strict";
import { createHealthHandler } from "../functions/health.ts";
import { createHealthService, type HealthCheck, systemHealthCheck } from "../shared/health.ts";
import { createSystemStatsReader } from "../shared/system_stats.ts";
import { mountApi } from "./support/api.ts";

const check = (
  name: string,
  critical: boolean,
  healthy: boolean | "hang" | "throw",
): HealthCheck => ({
  name,
  critical,
  check: () =>
    healthy === "hang"
      ? new Promise(() => {})
      : healthy === "throw"
      ? Promise.reject(new Error(`${name} exploded`))
      : Promise.resolve({ healthy }),
});

Deno.test("all components healthy -> healthy", async () => {
  const h = createHealthService({
    checks: [check("detector", true, true), check("redis", false, true)],
    timeoutMs: 100,
  });
  const r = await h.report();
  assert.equal(r.status, "healthy");
  assert.deepEqual(Object.keys(r.components), ["detector", "redis"]);
});

Deno.test("a failing non-critical component -> degraded; a failing critical one -> unhealthy", async () => {
  const degraded = await createHealthService({
    checks: [check("detector", true, true), check("kafka", false, "throw")],
    timeoutMs: 100,
  }).report();
  assert.equal(degraded.status, "degraded");
  assert.equal(degraded.components.kafka!.error, "kafka exploded");
  const unhealthy = await createHealthService({
    checks: [check("detector", true, false), check("kafka", false, false)],
    timeoutMs: 100,
  }).report();
  assert.equal(unhealthy.status, "unhealthy");
});

Deno.test("a hung dependency is cut off at the timeout", async () => {
  const h = createHealthService({
    checks: [check("detector", true, true), check("redis", false, "hang")],
    timeoutMs: 50,
  });
  const t0 = performance.now();
  const r = await h.report();
  const elapsed = performance.now() - t0;
  assert.equal(r.status, "degraded");
  assert.match(String(r.components.redis!.error), /timed out after 50 ms/);
  assert.ok(elapsed < 1000, `report took ${elapsed} ms`);
});

Deno.test("/health answers 200 when degraded, 503 when unhealthy; live and ready", async () => {
  let critical = true;
  const handler = createHealthHandler({
    health: createHealthService({
      checks: [{
        name: "detector",
        critical: true,
        check: () => Promise.resolve({ healthy: critical }),
      }],
      timeoutMs: 100,
    }),
    ready: () => critical,
    version: "t",
  });
  const get = (p: string) => mountApi({}, handler)(new Request(`http://x${p}`));
  assert.equal((await get("/health")).status, 200);
  critical = false;
  const res = await get("/health");
  assert.equal(res.status, 503);
  assert.equal((await res.json()).status, "unhealthy");
  assert.equal((await get("/health/live")).status, 200);
  assert.equal((await get("/health/ready")).status, 503);
});

Deno.test("system check reports readings and fails past a threshold", async () => {
  const read = () => ({ cpu_percent: 10, memory_percent: 95, disk_percent: 20 });
  const r = await systemHealthCheck(read, { cpuPercent: 90, memoryPercent: 90, diskPercent: 90 })
    .check(new AbortController().signal);
  assert.equal(r.healthy, false);
  assert.match(String(r.error), /memory 95% > 90%/);
  const real = createSystemStatsReader(".")();
  for (const v of Object.values(real)) assert.ok(v >= 0 && v <= 100, `reading ${v} out of range`);
});

Deno.test("/health without a key shows only the status; any key's scope sees the components", async () => {
  const handler = createHealthHandler({
    health: createHealthService({
      checks: [{
        name: "kafka",
        critical: false,
        check: () => Promise.resolve({ healthy: false, brokers: ["10.0.0.5:9092"] }),
      }],
      timeoutMs: 100,
    }),
    ready: () => true,
    version: "t",
  });
  const app = mountApi({ keys: [{ key: "camera-key-0123456789", scopes: ["detect"] }] }, handler);
  const anonymous = await app(new Request("http://x/health"));
  assert.equal(anonymous.status, 200);
  const open = await anonymous.json();
  assert.deepEqual(Object.keys(open).sort(), ["status", "timestamp"]);
  assert.equal(open.status, "degraded");
  const keyed = await app(
    new Request("http://x/health", { headers: { authorization: "Bearer camera-key-0123456789" } }),
  );
  assert.deepEqual((await keyed.json()).components.kafka.brokers, ["10.0.0.5:9092"]);
  const wrong = await app(new Request("http://x/health", { headers: { "x-api-key": "nope" } }));
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
});
