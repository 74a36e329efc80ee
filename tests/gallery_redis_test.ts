/**
 * Face gallery against a real redis-server: 10,000 faces enrolled and matched (also by a second
 * instance that loads them from Redis), encrypted storage, sync between instances through
 * pub/sub, reload after a missed notice (command connection killed, or the subscription down
 * while a change was announced), and behaviour across a server restart (writes 503 while
 * down, matching keeps working, writes resume after).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import { encodeFloat32LE } from "../shared/cache/codec.ts";
import { FACE_CHANGES_CHANNEL, FACE_IDS_KEY, faceKey } from "../shared/cache/keys.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import { ServiceUnavailableError } from "../shared/errors.ts";
import { createFaceGallery } from "../shared/faces/gallery.ts";
import { silentLogger } from "../shared/logger.ts";
import { requireService, startRedis } from "./support/services.ts";

function vec(seed: number, dim = 128): Float32Array {
  const v = new Float32Array(dim);
  let x = (seed * 2654435761) % 4294967296 || 1;
  for (let i = 0; i < dim; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v[i] = x / 4294967296 - 0.5;
  }
  return v;
}
const near = (base: Float32Array, seed: number) => {
  const n = vec(seed + 1_000_003);
  return base.map((b, i) => b + 0.05 * n[i]!);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The id of the connection named `name`, from `CLIENT LIST`. */
async function clientId(raw: Redis, name: string): Promise<string> {
  const clients = (await raw.client("LIST")) as string;
  const line = clients.split("\n").find((l) => l.includes(` name=${name} `));
  assert.ok(line, `connection ${name} is listed by name`);
  return /id=(\d+)/.exec(line)![1]!;
}

/** How many connections are subscribed to the gallery's change notices. */
async function changeSubscribers(raw: Redis): Promise<number> {
  const reply = (await raw.pubsub("NUMSUB", FACE_CHANGES_CHANNEL)) as [string, number];
  return Number(reply[1]);
}

Deno.test("redis gallery: 10,000 faces enrolled, reloaded by a second instance and matched", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  const cacheA = createRedisCache({ url: server.url, logger: silentLogger });
  const cacheB = createRedisCache({ url: server.url, logger: silentLogger });
  const a = createFaceGallery({ cache: cacheA, threshold: 0.9, logger: silentLogger });
  const b = createFaceGallery({ cache: cacheB, threshold: 0.9, logger: silentLogger });
  try {
    await cacheA.connect();
    await a.start();
    const N = 10_000;
    for (let i = 0; i < N; i += 250) {
      await Promise.all(
        Array.from(
          { length: 250 },
          (_, j) =>
            a.enrol({
              faceId: `p${i + j}`,
              encoding: vec(i + j),
              metadata: { authorized: (i + j) % 2 === 0 },
            }),
        ),
      );
    }
    assert.equal(a.size, N);
    await cacheB.connect();
    await b.start();
    assert.equal(b.size, N, "the second instance loads every face from Redis");
    for (let k = 0; k < 300; k++) {
      const i = (k * 7919) % N;
      for (const g of [a, b]) {
        const m = g.match(near(vec(i), k));
        assert.equal(m.faceId, `p${i}`);
        assert.equal(m.metadata?.authorized, i % 2 === 0);
      }
    }
    assert.equal(b.match(vec(N + 12345)).matched, false);
    assert.deepEqual(await b.getEncoding("p1234"), vec(1234), "bit-exact through Redis");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all([cacheA.close(), cacheB.close()]);
    await server.close();
  }
});

Deno.test(
  "redis gallery: encodings are stored as 512 raw float32 bytes, or sealed when a key is set",
  {
    ...requireService("redis"),
  },
  async () => {
    const server = await startRedis();
    const raw = new Redis(server.url, { lazyConnect: true });
    const plainCache = createRedisCache({
      url: server.url,
      keyPrefix: "plain:",
      logger: silentLogger,
    });
    const encCache = createRedisCache({ url: server.url, keyPrefix: "enc:", logger: silentLogger });
    try {
      await Promise.all([raw.connect(), plainCache.connect(), encCache.connect()]);
      const plain = createFaceGallery({ cache: plainCache, logger: silentLogger });
      const enc = createFaceGallery({
        cache: encCache,
        encryptionKey: "k".repeat(32),
        logger: silentLogger,
      });
      await plain.start();
      await enc.start();
      const v = vec(5);
      await plain.enrol({ faceId: "f", encoding: v, metadata: { name: "F" } });
      await enc.enrol({ faceId: "f", encoding: v, metadata: { name: "F" } });
      const stored = await raw.hgetallBuffer("plain:face:f");
      assert.deepEqual(new Uint8Array(stored.encoding!), encodeFloat32LE(v));
      assert.equal(stored.metadata!.toString(), JSON.stringify({ name: "F", authorized: false }));
      assert.ok(!Number.isNaN(Date.parse(stored.cached_at!.toString())));
      const sealed = await raw.hgetallBuffer("enc:face:f");
      assert.equal(sealed.encoding!.byteLength, 512 + 40);
      assert.equal(sealed.encoding!.indexOf(Buffer.from(encodeFloat32LE(v).subarray(0, 8))), -1);
      assert.deepEqual(await enc.getEncoding("f"), v);
      assert.deepEqual(await raw.smembers("enc:faces:ids"), ["f"]);
      await Promise.all([plain.close(), enc.close()]);
    } finally {
      raw.disconnect();
      await Promise.all([plainCache.close(), encCache.close()]);
      await server.close();
    }
  },
);

Deno.test("redis gallery: instances sync by pub/sub and reload after a missed notice", {
  ...requireService("redis"),
}, async () => {
  const server = await startRedis();
  const raw = new Redis(server.url, { lazyConnect: true });
  const cacheA = createRedisCache({
    url: server.url,
    connectionName: "fess-a",
    logger: silentLogger,
    maxReconnectDelayMs: 100,
  });
  const cacheB = createRedisCache({ url: server.url, logger: silentLogger });
  const a = createFaceGallery({ cache: cacheA, logger: silentLogger });
  const b = createFaceGallery({ cache: cacheB, logger: silentLogger });
  try {
    await Promise.all([raw.connect(), cacheA.connect(), cacheB.connect()]);
    await Promise.all([a.start(), b.start()]);
    await b.enrol({ faceId: "from-b", encoding: vec(1), metadata: { name: "B" } });
    await until("a to see from-b", () => a.get("from-b") !== null);
    assert.equal(a.match(vec(1)).faceId, "from-b");
    await b.delete("from-b");
    await until("a to drop from-b", () => a.get("from-b") === null);

    // A face written behind the galleries' backs (no notice), then A's connection is killed:
    // A must reload on reconnect and pick it up.
    await raw.hset(faceKey("missed"), {
      encoding: Buffer.from(encodeFloat32LE(vec(2))),
      metadata: JSON.stringify({ name: "M", authorized: true }),
      cached_at: new Date().toISOString(),
    });
    await raw.sadd(FACE_IDS_KEY, "missed");
    assert.equal(a.get("missed"), null);
    await raw.client("KILL", "ID", await clientId(raw, "fess-a"));
    await until("a to reload after reconnect", () => a.get("missed") !== null);
    assert.equal(a.match(vec(2)).metadata?.authorized, true);
  } finally {
    raw.disconnect();
    await Promise.all([a.close(), b.close()]);
    await Promise.all([cacheA.close(), cacheB.close()]);
    await server.close();
  }
});

Deno.test(
  "redis gallery: a change announced while the subscription was down is loaded when it is back",
  {
    ...requireService("redis"),
  },
  async () => {
    const server = await startRedis();
    const raw = new Redis(server.url, { lazyConnect: true });
    const cacheA = createRedisCache({ url: server.url, logger: silentLogger });
    // B signs in as a user of its own, so that its subscriber can be kept out while A writes.
    const cacheB = createRedisCache({
      url: `redis://b:b-secret@${server.host}:${server.port}`,
      connectionName: "fess-b",
      logger: silentLogger,
      maxReconnectDelayMs: 100,
    });
    const a = createFaceGallery({ cache: cacheA, logger: silentLogger });
    const b = createFaceGallery({ cache: cacheB, logger: silentLogger });
    try {
      await raw.connect();
      await raw.acl("SETUSER", "b", "on", ">b-secret", "~*", "&*", "+@all");
      await Promise.all([cacheA.connect(), cacheB.connect()]);
      await Promise.all([a.start(), b.start()]);
      const statesOfB: string[] = [];
      cacheB.onStateChange((s) => statesOfB.push(s));

      // Connections already signed in stay; B's subscriber, cut, cannot come back until "on".
      await raw.acl("SETUSER", "b", "off");
      await raw.client("KILL", "ID", await clientId(raw, "fess-b-sub"));
      await until("b's subscriber to be gone", async () => (await changeSubscribers(raw)) === 1);
      await a.enrol({ faceId: "while-down", encoding: vec(4), metadata: { name: "W" } });
      assert.equal(b.get("while-down"), null, "the notice went nowhere");

      await raw.acl("SETUSER", "b", "on");
      await until("b to load the change it missed", () => b.get("while-down") !== null, 10_000);
      assert.equal(b.match(vec(4)).faceId, "while-down");
      // B's command connection never dropped: the reload came from the resubscription.
      assert.deepEqual(statesOfB, []);
    } finally {
      raw.disconnect();
      await Promise.all([a.close(), b.close()]);
      await Promise.all([cacheA.close(), cacheB.close()]);
      await server.close();
    }
  },
);

Deno.test(
  "redis gallery: across a server restart writes 503, matching continues, then writes resume",
  {
    ...requireService("redis"),
  },
  async () => {
    const server = await startRedis();
    const cacheA = createRedisCache({
      url: server.url,
      logger: silentLogger,
      maxReconnectDelayMs: 100,
    });
    const cacheB = createRedisCache({
      url: server.url,
      logger: silentLogger,
      maxReconnectDelayMs: 100,
    });
    const a = createFaceGallery({ cache: cacheA, logger: silentLogger });
    const b = createFaceGallery({ cache: cacheB, logger: silentLogger });
    const raw = new Redis(server.url, { lazyConnect: true });
    try {
      await Promise.all([cacheA.connect(), cacheB.connect()]);
      await Promise.all([a.start(), b.start()]);
      await a.enrol({ faceId: "before", encoding: vec(1) });
      await server.stop();
      await until("a to notice the outage", () => cacheA.state !== "ready");
      const err = await a.enrol({ faceId: "during", encoding: vec(2) }).catch((e) => e);
      assert.ok(err instanceof ServiceUnavailableError);
      assert.equal(err.status, 503);
      assert.match(err.message, /redis/);
      assert.equal(a.match(vec(1)).faceId, "before", "matching keeps running from the index");
      assert.equal(a.get("during"), null);

      await server.start();
      await until("both to reconnect", () => cacheA.state === "ready" && cacheB.state === "ready");
      await until("a to reload", () => a.loaded);
      // The test server has no persistence, so Redis (the source of truth) came back empty and
      // the reload reflects that.
      assert.equal(a.get("before"), null);
      // The subscriptions have connections of their own that may come back later; once both
      // are live, the write below reaches B as a notice.
      await raw.connect();
      await until("both to resubscribe", async () => (await changeSubscribers(raw)) >= 2);
      await a.enrol({ faceId: "after", encoding: vec(3) });
      await until("b to see the write made after the restart", () => b.get("after") !== null);
      assert.equal(b.match(vec(3)).faceId, "after");
    } finally {
      raw.disconnect();
      await Promise.all([a.close(), b.close()]);
      await Promise.all([cacheA.close(), cacheB.close()]);
      await server.close();
    }
  },
);
