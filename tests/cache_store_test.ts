/**
 * The CacheStore contract, run against the in-memory store and a real redis-server, plus
 * Redis-only behaviour: TTL expiry on the server, reconnect after a restart, fast 503s while
 * down, bit-exact binary round trips, key prefixes.
 */
import assert from "node:assert/strict";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { decodeFloat32LE, encodeFloat32LE } from "../shared/cache/codec.ts";
import { createDetectionStore } from "../shared/cache/detection_store.ts";
import { detectionKey, faceKey } from "../shared/cache/keys.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import { ServiceUnavailableError } from "../shared/errors.ts";
import { silentLogger } from "../shared/logger.ts";
import { requireService, startRedis, waitUntil } from "./support/services.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const utf8 = new TextDecoder();

/** Awkward float32 values: signed zero, subnormals, extremes, NaN payloads. */
function awkwardVector(): Float32Array {
  const v = new Float32Array(128);
  const u = new Uint32Array(v.buffer);
  for (let i = 0; i < v.length; i++) v[i] = Math.fround(Math.sin(i * 1.7) * 10 ** ((i % 9) - 4));
  v[0] = -0;
  v[1] = 1.401298464324817e-45; // smallest subnormal
  v[2] = 3.4028234663852886e38; // largest finite
  u[3] = 0x7fc00001; // NaN with a payload: JSON would lose it, bytes must not
  u[4] = 0xff800000; // -Infinity
  return v;
}

async function contract(
  name: string,
  make: () => Promise<{ store: CacheStore; done: () => Promise<void> }>,
) {
  const { store, done } = await make();
  try {
    // get/set/exists/delete
    assert.equal(await store.get("k:missing"), null);
    assert.equal(await store.exists("k:missing"), false);
    await store.set("k:s", "héllo");
    assert.equal(utf8.decode((await store.get("k:s"))!), "héllo");
    assert.equal(await store.exists("k:s"), true);
    assert.equal(await store.ttlMs("k:s"), -1, `${name}: no TTL unless asked`);
    assert.equal(await store.delete("k:s", "k:missing"), 1);
    assert.equal(await store.get("k:s"), null);
    assert.equal(await store.ttlMs("k:s"), -2);

    // binary round trip is bit-exact
    const v = awkwardVector();
    await store.set("k:bin", encodeFloat32LE(v));
    const back = decodeFloat32LE((await store.get("k:bin"))!, 128);
    assert.deepEqual(
      new Uint8Array(back.buffer),
      new Uint8Array(v.buffer),
      `${name}: bytes differ`,
    );

    // JSON
    await store.setJson("k:json", { a: [1, 2], b: "x" }, { ttlSeconds: 60 });
    assert.deepEqual(await store.getJson("k:json"), { a: [1, 2], b: "x" });
    const ttl = await store.ttlMs("k:json");
    assert.ok(ttl > 55_000 && ttl <= 60_000, `${name}: ttl ${ttl}`);

    // hashes: replace semantics, ifAbsent, index set
    const idx = { key: "k:ids", member: "a" };
    assert.equal(
      await store.putHash("k:h:a", { f1: "1", bin: encodeFloat32LE(v), old: "x" }, { index: idx }),
      true,
    );
    assert.equal(await store.putHash("k:h:a", { f1: "2" }, { ifAbsent: true, index: idx }), false);
    let h = await store.getHash("k:h:a");
    assert.equal(utf8.decode(h!.f1!), "1", `${name}: ifAbsent must not overwrite`);
    assert.deepEqual(new Uint8Array(decodeFloat32LE(h!.bin!).buffer), new Uint8Array(v.buffer));
    assert.equal(await store.putHash("k:h:a", { f1: "3" }, { index: idx, ttlSeconds: 30 }), true);
    h = await store.getHash("k:h:a");
    assert.deepEqual(Object.keys(h!).sort(), ["f1"], `${name}: putHash replaces the whole hash`);
    assert.ok((await store.ttlMs("k:h:a")) > 25_000);
    assert.deepEqual(await store.setMembers("k:ids"), ["a"]);
    assert.equal(await store.deleteHash("k:h:a", { index: idx }), true);
    assert.equal(await store.deleteHash("k:h:a", { index: idx }), false);
    assert.equal(await store.getHash("k:h:a"), null);
    assert.deepEqual(await store.setMembers("k:ids"), []);

    // set-if-absent with a TTL: one winner, no overwrite, the TTL set
    assert.equal(await store.setIfAbsent("k:nx", "first", 30_000), true);
    assert.equal(await store.setIfAbsent("k:nx", "second", 30_000), false);
    assert.equal(utf8.decode((await store.get("k:nx"))!), "first", `${name}: NX overwrote`);
    const nxTtl = await store.ttlMs("k:nx");
    assert.ok(nxTtl > 25_000 && nxTtl <= 30_000, `${name}: setIfAbsent ttl ${nxTtl}`);
    await assert.rejects(store.setIfAbsent("k:nx2", "x", 0), RangeError);
    assert.equal(await store.delete("k:nx"), 1);
    assert.equal(await store.setIfAbsent("k:nx", "third", 30_000), true);

    // counters and pub/sub
    assert.equal(await store.incr("k:ver"), 1);
    assert.equal(await store.incr("k:ver"), 2);
    const got: string[] = [];
    const unsubscribe = await store.subscribe("k:chan", (m) => got.push(m));
    await store.publish("k:chan", "one");
    // Delivery crosses a second connection: a loaded box can take far longer than usual.
    await waitUntil(`${name}: delivery of "one"`, () => Promise.resolve(got.length > 0), {
      timeoutMs: 5_000,
    });
    assert.deepEqual(got, ["one"]);
    await unsubscribe();
    await store.publish("k:chan", "two");
    await sleep(50);
    assert.deepEqual(got, ["one"], `${name}: no delivery after unsubscribe`);

    // detection store over the same cache
    const detections = createDetectionStore({ cache: store, ttlSeconds: 10 });
    await detections.put("cam-1", 42, {
      detections: [{ class_name: "person" }],
      timestamp: "2025-01-01T00:00:00Z",
    });
    assert.deepEqual(await detections.get("cam-1", 42), {
      detections: [{ class_name: "person" }],
      timestamp: "2025-01-01T00:00:00Z",
    });
    assert.ok((await store.ttlMs(detectionKey("cam-1", 42))) > 9000);
    assert.equal(await detections.get("cam-1", 43), null);

    const ping = await store.ping();
    assert.equal(ping.ok, true);
    assert.equal(ping.state, "ready");
    assert.ok(ping.latencyMs >= 0 && ping.latencyMs < 1000);
  } finally {
    await done();
  }
  // Closed stores refuse work with a 503.
  await assert.rejects(store.get("k"), ServiceUnavailableError);
  assert.equal(store.state, "closed");
}

Deno.test("memory cache store fulfils the CacheStore contract", async () => {
  await contract("memory", () => {
    const store = createMemoryCache();
    return Promise.resolve({ store, done: () => store.close() });
  });
});

Deno.test("redis cache store fulfils the CacheStore contract on a real redis-server", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  await contract("redis", async () => {
    const store = createRedisCache({ url: server.url, logger: silentLogger });
    await store.connect();
    return {
      store,
      done: async () => {
        await store.close();
        await server.close();
      },
    };
  });
});

Deno.test("memory cache expires keys after their TTL", async () => {
  let t = 1_000_000;
  const store = createMemoryCache({ now: () => t });
  await store.set("a", "1", { ttlSeconds: 2 });
  await store.putHash("h", { f: "1" }, { ttlSeconds: 1 });
  t += 1500;
  assert.equal(await store.getHash("h"), null);
  assert.equal(await store.exists("a"), true);
  assert.equal(await store.ttlMs("a"), 500);
  t += 500;
  assert.equal(await store.get("a"), null);
  await assert.rejects(store.set("b", "1", { ttlSeconds: 0 }), RangeError);
});

Deno.test(
  "redis: keys written with a TTL expire on the server",
  { ...requireService("redis") },
  async () => {
    const server = await startRedis();
    const store = createRedisCache({ url: server.url, logger: silentLogger });
    try {
      await store.connect();
      // A whole second, so the checks below land inside the TTL on a loaded box.
      await store.set("t:plain", "x", { ttlSeconds: 1 });
      await store.putHash(faceKey("ttl"), { encoding: new Uint8Array(8), metadata: "{}" }, {
        ttlSeconds: 1,
      });
      assert.equal(await store.exists("t:plain"), true);
      const hashTtl = await store.ttlMs(faceKey("ttl"));
      assert.ok(hashTtl > 0 && hashTtl <= 1000, `hash ttl ${hashTtl}`);
      await waitUntil(
        "expiry of both keys on the server",
        async () =>
          (await store.get("t:plain")) === null && (await store.getHash(faceKey("ttl"))) === null,
        { timeoutMs: 5_000 },
      );
    } finally {
      await store.close();
      await server.close();
    }
  },
);

Deno.test(
  "redis: commands fail fast with 503 while the server is down and work again after it restarts",
  { ...requireService("redis") },
  async () => {
    const server = await startRedis();
    const states: string[] = [];
    const store = createRedisCache({
      url: server.url,
      logger: silentLogger,
      maxReconnectDelayMs: 100,
      // Far above the bound asserted below: a write that queued until the command timeout
      // instead of failing at once must fail the test.
      commandTimeoutMs: 10_000,
    });
    store.onStateChange((s) => states.push(s));
    try {
      await store.connect();
      await store.set("r:1", "before");
      await server.stop();
      for (let i = 0; i < 100 && store.state === "ready"; i++) await sleep(20);
      assert.equal(store.state, "reconnecting");
      const started = performance.now();
      const err = await store.set("r:2", "during").catch((e) => e);
      assert.ok(err instanceof ServiceUnavailableError, `got ${err}`);
      assert.match(err.message, /redis SET failed/);
      const ms = performance.now() - started;
      assert.ok(ms < 3000, `a write while down must fail at once, not hang (${Math.round(ms)} ms)`);
      const ping = await store.ping();
      assert.equal(ping.ok, false);
      assert.ok(ping.error);

      await server.start();
      for (let i = 0; i < 200 && (store.state as string) !== "ready"; i++) await sleep(25);
      assert.equal(store.state as string, "ready");
      // The restarted server has no persistence: the old key is gone, new writes work.
      assert.equal(await store.get("r:1"), null);
      await store.set("r:3", "after");
      assert.equal(utf8.decode((await store.get("r:3"))!), "after");
      assert.deepEqual(states.slice(0, 3), ["connecting", "ready", "reconnecting"]);
      assert.equal(states.at(-1), "ready");
    } finally {
      await store.close();
      await server.close();
    }
  },
);

Deno.test("redis: connect() rejects with 503 naming the target when nothing listens", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  const url = server.url;
  await server.close();
  const store = createRedisCache({
    url,
    password: "s3cret-password",
    connectTimeoutMs: 300,
    logger: silentLogger,
  });
  try {
    const err = await store.connect().catch((e) => e);
    assert.ok(err instanceof ServiceUnavailableError);
    assert.match(err.message, /not ready within 300 ms/);
    assert.match(err.message, /127\.0\.0\.1/);
    assert.doesNotMatch(err.message, /s3cret/);
  } finally {
    await store.close();
  }
});

Deno.test("redis: a key prefix isolates keys and channels of two stores on one server", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  const a = createRedisCache({ url: server.url, keyPrefix: "a:", logger: silentLogger });
  const b = createRedisCache({ url: server.url, keyPrefix: "b:", logger: silentLogger });
  const raw = createRedisCache({ url: server.url, logger: silentLogger });
  try {
    await Promise.all([a.connect(), b.connect(), raw.connect()]);
    await a.putHash(faceKey("x"), { f: "a" }, { index: { key: "faces:ids", member: "x" } });
    assert.equal(await b.getHash(faceKey("x")), null);
    assert.equal(utf8.decode((await raw.getHash("a:face:x"))!.f!), "a");
    assert.deepEqual(await raw.setMembers("a:faces:ids"), ["x"]);
    const got: string[] = [];
    await b.subscribe("chan", (m) => got.push(m));
    await a.publish("chan", "for-a-only");
    await b.publish("chan", "for-b");
    await waitUntil("delivery on b's channel", () => Promise.resolve(got.length > 0), {
      timeoutMs: 5_000,
    });
    await sleep(30);
    assert.deepEqual(got, ["for-b"]);
  } finally {
    await Promise.all([a.close(), b.close(), raw.close()]);
    await server.close();
  }
});
