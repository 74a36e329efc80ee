import assert from "node:assert/strict";
import sharp from "sharp";
import { createSnapshotsHandler } from "../functions/snapshots.ts";
import { mountApi } from "./support/api.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import { snapshotKey } from "../shared/cache/keys.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import { createCacheSnapshotStore } from "../shared/snapshots/cache_snapshot_store.ts";
import { createSnapshotStore } from "../shared/snapshots/create_snapshot_store.ts";
import { createMemorySnapshotStore } from "../shared/snapshots/memory_snapshot_store.ts";
import { renderSnapshot } from "../shared/snapshots/render_snapshot.ts";
import { snapshotUrl } from "../shared/snapshots/snapshot_store.ts";
import { requireService, startRedis, waitUntil } from "./support/services.ts";

const jpegOf = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const ID = "6f1c1d7e-2a3b-4c5d-8e9f-0a1b2c3d4e5f";

// ---------------------------------------------------------------------------------------------
// memory store
// ---------------------------------------------------------------------------------------------

Deno.test("memory snapshots expire after the TTL", async () => {
  let t = 0;
  const store = createMemorySnapshotStore({ ttlSeconds: 10, maxBytes: 1000, now: () => t });
  assert.equal(await store.put("a", jpegOf(10)), true);
  t = 9_999;
  assert.deepEqual(await store.get("a"), jpegOf(10));
  t = 10_000;
  assert.equal(await store.get("a"), null);
  assert.equal(store.bytes, 0, "the expired entry is freed");
});

Deno.test("memory snapshots stay within max_bytes, evicting the least recently used", async () => {
  let t = 0;
  const store = createMemorySnapshotStore({ ttlSeconds: 100, maxBytes: 300, now: () => t });
  await store.put("a", jpegOf(100, 1));
  await store.put("b", jpegOf(100, 2));
  await store.put("c", jpegOf(100, 3));
  t = 1;
  await store.get("a"); // a is now the most recently used
  await store.put("d", jpegOf(150, 4)); // needs 150: b and c go
  assert.equal(await store.get("b"), null);
  assert.equal(await store.get("c"), null);
  assert.deepEqual(await store.get("a"), jpegOf(100, 1));
  assert.deepEqual(await store.get("d"), jpegOf(150, 4));
  assert.equal(store.bytes, 250);
  assert.equal(store.count, 2);
  assert.equal(await store.put("huge", jpegOf(301)), false, "larger than the budget: not kept");
  assert.equal(store.bytes, 250);
  await store.put("a", jpegOf(50, 9)); // replacing frees the old bytes
  assert.equal(store.bytes, 200);
});

Deno.test("expired snapshots are swept before live ones are evicted", async () => {
  let t = 0;
  const store = createMemorySnapshotStore({ ttlSeconds: 1, maxBytes: 200, now: () => t });
  await store.put("old", jpegOf(100));
  t = 500;
  await store.put("live", jpegOf(100));
  t = 1_200; // old expired, live not
  await store.put("new", jpegOf(100));
  assert.notEqual(await store.get("live"), null);
  assert.equal(store.count, 2);
});

// ---------------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------------

async function decode(jpeg: Uint8Array): Promise<{ data: Uint8Array; width: number }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data: new Uint8Array(data), width: info.width };
}

function pixel(img: { data: Uint8Array; width: number }, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return [img.data[p]!, img.data[p + 1]!, img.data[p + 2]!];
}

const near = (a: number[], b: number[], tol = 40) =>
  a.every((v, i) => Math.abs(v - b[i]!) <= tol) || assert.fail(`${a} is not near ${b}`);

Deno.test("a snapshot is a JPEG of the frame with the box drawn, BGR frames in true colour", async () => {
  const width = 200;
  const height = 100;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = 200; // BGR: blue
    data[i + 1] = 0;
    data[i + 2] = 0;
  }
  const frame: RawFrame = { data, width, height, channels: 3, layout: "bgr" };
  const before = data.slice();
  const jpeg = await renderSnapshot(frame, { x1: 50, y1: 20, x2: 150, y2: 80 }, { quality: 90 });
  assert.deepEqual(data, before, "the frame itself is untouched");
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], "JPEG magic");
  const img = await decode(jpeg);
  near(pixel(img, 100, 21), [255, 0, 0]); // the top edge, red
  near(pixel(img, 51, 50), [255, 0, 0]); // the left edge
  near(pixel(img, 100, 50), [0, 0, 200]); // inside: the frame's blue, as RGB
  near(pixel(img, 10, 10), [0, 0, 200]); // outside
});

Deno.test("boxes in source pixels are scaled onto a pre-scaled frame", async () => {
  const frame = {
    data: new Uint8Array(100 * 50 * 3),
    width: 100,
    height: 50,
    channels: 3 as const,
    layout: "rgb" as const,
    source: { width: 400, height: 200 },
  };
  const img = await decode(
    await renderSnapshot(frame, { x1: 100, y1: 40, x2: 300, y2: 160 }, { quality: 95 }),
  );
  near(pixel(img, 50, 11), [255, 0, 0]); // top edge at y = 40 / 4
  near(pixel(img, 50, 25), [0, 0, 0]);
});

// ---------------------------------------------------------------------------------------------
// handler
// ---------------------------------------------------------------------------------------------

Deno.test("GET /snapshots/{event_id} serves the JPEG behind the API key; 404, 400, 405", async () => {
  const store = createMemorySnapshotStore({ ttlSeconds: 60, maxBytes: 1 << 20 });
  await store.put(ID, jpegOf(64, 7));
  const key = "k".repeat(32);
  const router = mountApi({ keys: [key], bodyLimitBytes: 1024 }, createSnapshotsHandler({ store }));
  const get = (path: string, init: RequestInit = {}) =>
    router(new Request(`http://fess${path}`, init));
  const auth = { headers: { authorization: `Bearer ${key}` } };

  const noKey = await get(`/snapshots/${ID}`);
  assert.equal(noKey.status, 401);
  await noKey.body?.cancel();

  const ok = await get(`/snapshots/${ID}`, auth);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type"), "image/jpeg");
  assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), jpegOf(64, 7));

  const upper = await get(`/snapshots/${ID.toUpperCase()}`, auth);
  assert.equal(upper.status, 200);
  await upper.body?.cancel();

  const missing = await get(`/snapshots/${crypto.randomUUID()}`, auth);
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).error, /never stored, expired or evicted/);

  const bad = await get("/snapshots/not-a-uuid", auth);
  assert.equal(bad.status, 400);
  await bad.body?.cancel();

  const post = await get(`/snapshots/${ID}`, { ...auth, method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();

  const bare = await get("/snapshots", auth);
  assert.equal(bare.status, 404);
  await bare.body?.cancel();
});

Deno.test("snapshot_url is the path, or under the configured base URL", () => {
  assert.equal(snapshotUrl(ID), `/snapshots/${ID}`);
  assert.equal(
    snapshotUrl(ID, "https://fess.example.com/"),
    `https://fess.example.com/snapshots/${ID}`,
  );
});

Deno.test("the store is Redis when the cache is Redis, else memory", () => {
  const settings = { ttl_seconds: 10, max_bytes: 1000 };
  assert.equal(createSnapshotStore(settings).kind, "memory");
  assert.equal(createSnapshotStore(settings, createMemoryCache()).kind, "memory");
});

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "Redis snapshots are stored as bytes with the TTL and expire",
  ...requireService("redis"),
  async fn() {
    const server = await startRedis();
    const cache = createRedisCache({ url: server.url, logger: silentLogger });
    try {
      await cache.connect();
      const store = createSnapshotStore({ ttl_seconds: 60, max_bytes: 1 }, cache);
      assert.equal(store.kind, "redis");
      const jpeg = new Uint8Array(50_000).map((_, i) => i % 251); // binary-safe, beyond max_bytes
      assert.equal(await store.put(ID, jpeg), true);
      assert.deepEqual(new Uint8Array((await store.get(ID))!), jpeg);
      const ttl = await cache.ttlMs(snapshotKey(ID));
      assert.ok(ttl > 55_000 && ttl <= 60_000, `ttl ${ttl}`);
      assert.equal(await store.get(crypto.randomUUID()), null);

      // A whole second, so the read-back lands inside the TTL on a loaded box.
      const short = createCacheSnapshotStore({ cache, ttlSeconds: 1 });
      await short.put("brief", jpeg.subarray(0, 10));
      assert.notEqual(await short.get("brief"), null);
      await waitUntil(
        "expiry of the brief snapshot in Redis",
        async () => (await short.get("brief")) === null,
        { timeoutMs: 5_000 },
      );
    } finally {
      await cache.close();
      await server.close();
    }
  },
});
