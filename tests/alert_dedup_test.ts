/**
 * Alert claims across replicas: exactly one of several racing claimers wins a key (on a real
 * redis-server, through separate connections as separate replicas would), the claim expires
 * with the cooldown, a released claim can be won again, and a cache outage fails open.
 */
import assert from "node:assert/strict";
import { createAlertDeduper } from "../shared/alerts/alert_dedup.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import { createLogger, silentLogger } from "../shared/logger.ts";
import { requireService, startRedis } from "./support/services.ts";

Deno.test("a claim is won once per TTL, and again after it expires or is released", async () => {
  let t = 1_000_000;
  const cache = createMemoryCache({ now: () => t });
  const dedup = createAlertDeduper({ cache, ttlMs: 30_000, logger: silentLogger });
  assert.equal(await dedup.claim("cam-1:unknown"), true);
  assert.equal(await dedup.claim("cam-1:unknown"), false);
  assert.equal(await dedup.claim("cam-2:unknown"), true, "keys are independent");
  t += 29_999;
  assert.equal(await dedup.claim("cam-1:unknown"), false);
  t += 1;
  assert.equal(await dedup.claim("cam-1:unknown"), true, "claim expired with the cooldown");
  await dedup.release("cam-1:unknown");
  assert.equal(await dedup.claim("cam-1:unknown"), true, "released claim is free again");
  await cache.close();
});

Deno.test("a claim may carry its own TTL (a rule's cooldown)", async () => {
  let t = 1_000_000;
  const cache = createMemoryCache({ now: () => t });
  const dedup = createAlertDeduper({ cache, ttlMs: 30_000, logger: silentLogger });
  assert.equal(await dedup.claim("cam-1:r:face:bob", 5_000), true);
  t += 4_999;
  assert.equal(await dedup.claim("cam-1:r:face:bob", 5_000), false);
  t += 1;
  assert.equal(await dedup.claim("cam-1:r:face:bob", 5_000), true);
  await cache.close();
});

Deno.test("marks tell other holders, not their own, that a place was alerted on", async () => {
  let t = 1_000_000;
  const cache = createMemoryCache({ now: () => t });
  const dedup = createAlertDeduper({ cache, ttlMs: 30_000, logger: silentLogger });
  const cells = ["cam-1:r:person:cell:3.4", "cam-1:r:person:cell:3.5"];
  assert.equal(await dedup.heldByOthers(cells, "record-a"), false, "nothing marked");
  await dedup.mark(cells[1]!, "record-a", 10_000);
  assert.equal(await dedup.heldByOthers(cells, "record-a"), false, "its own mark");
  assert.equal(await dedup.heldByOthers(cells, "record-b"), true, "another record's mark");
  t += 10_000;
  assert.equal(await dedup.heldByOthers(cells, "record-b"), false, "expired with the cooldown");
  await cache.close();
});

Deno.test("a deduper refuses a non-positive TTL", () => {
  const cache = createMemoryCache();
  assert.throws(
    () => createAlertDeduper({ cache, ttlMs: 0, logger: silentLogger }),
    RangeError,
  );
});

Deno.test("a cache failure fails open (the alert is raised) and is logged once per outage", async () => {
  const cache = createMemoryCache();
  const lines: string[] = [];
  const logger = createLogger({ level: "info", sink: (l) => lines.push(l) });
  const dedup = createAlertDeduper({ cache, ttlMs: 1000, logger });
  await cache.close(); // every call now rejects with 503
  assert.equal(await dedup.claim("cam-1:unknown"), true);
  assert.equal(await dedup.claim("cam-1:unknown"), true);
  await dedup.release("cam-1:unknown");
  const warnings = lines.filter((l) => l.includes("alert claims unavailable"));
  assert.equal(warnings.length, 1, lines.join("\n"));
});

Deno.test("replicas racing on one Redis: exactly one claim per alert key wins", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  // A claim that times out fails open (a second winner), and one issued after the TTL ran out
  // wins again: both bounds sit far above how long 600 claims take on a loaded box, so the
  // count below measures the SET NX race, not scheduling.
  const ttlMs = 30_000;
  const replicas = [1, 2, 3].map((i) =>
    createRedisCache({
      url: server.url,
      logger: silentLogger,
      connectionName: `replica-${i}`,
      commandTimeoutMs: 10_000,
    })
  );
  try {
    await Promise.all(replicas.map((c) => c.connect()));
    const dedupers = replicas.map((cache, i) =>
      createAlertDeduper({ cache, ttlMs, owner: `replica-${i + 1}`, logger: silentLogger })
    );
    const keys = Array.from({ length: 20 }, (_, i) => `cam-${i}:unknown`);
    // Every replica claims every key, ten times, all at once.
    const attempts = keys.flatMap((key) =>
      dedupers.flatMap((d, r) =>
        Array.from({ length: 10 }, () => d.claim(key).then((won) => ({ key, r, won })))
      )
    );
    const results = await Promise.all(attempts);
    for (const key of keys) {
      const winners = results.filter((x) => x.key === key && x.won);
      assert.equal(winners.length, 1, `${key}: ${winners.length} winners`);
      const owner = new TextDecoder().decode((await replicas[0]!.get(`alert:${key}`))!);
      assert.equal(owner, `replica-${winners[0]!.r + 1}`, "the claim names its replica");
      const ttl = await replicas[0]!.ttlMs(`alert:${key}`);
      assert.ok(ttl > 0 && ttl <= ttlMs, `ttl ${ttl}`);
    }
  } finally {
    for (const c of replicas) await c.close();
    await server.close();
  }
});
