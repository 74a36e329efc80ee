/**
 * Face gallery behaviour over the in-memory cache: enrol/get/list/delete/match, validation,
 * duplicates, hit/miss metrics, TTL, capacity, encryption at rest (wrong key and tampering fail
 * loudly), and two instances kept in sync through change notices.
 */
import assert from "node:assert/strict";
import { decodeFloat32LE } from "../shared/cache/codec.ts";
import { faceKey } from "../shared/cache/keys.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { ConflictError, ServiceUnavailableError, ValidationError } from "../shared/errors.ts";
import { FaceEncryptionError } from "../shared/faces/encoding_cipher.ts";
import { createFaceGallery, GalleryFullError } from "../shared/faces/gallery.ts";
import { createLogger, silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";

/** Deterministic pseudo-random unit-ish vector. */
function vec(seed: number, dim = 128): Float32Array {
  const v = new Float32Array(dim);
  let x = seed * 2654435761 % 4294967296 || 1;
  for (let i = 0; i < dim; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v[i] = x / 4294967296 - 0.5;
  }
  return v;
}

/** `base` plus a little noise: the same face seen again. */
function near(base: Float32Array, seed: number, amount = 0.05): Float32Array {
  const n = vec(seed);
  return base.map((b, i) => b + amount * n[i]!);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("gallery enrols, gets, lists (sorted, paginated), matches and deletes faces", async () => {
  const cache = createMemoryCache();
  const g = createFaceGallery({ cache, threshold: 0.8, logger: silentLogger });
  await g.start();
  for (const id of ["carol", "alice", "bob"]) {
    const { created, record } = await g.enrol({
      faceId: id,
      encoding: vec(id.length * 7 + id.charCodeAt(0)),
      metadata: { name: id.toUpperCase(), authorized: id !== "bob" },
    });
    assert.equal(created, true);
    assert.equal(record.faceId, id);
  }
  assert.equal(g.size, 3);
  assert.deepEqual(g.get("alice")?.metadata, { name: "ALICE", authorized: true });
  assert.equal(g.get("nobody"), null);
  const page1 = g.list({ offset: 0, limit: 2 });
  assert.deepEqual(page1.items.map((r) => r.faceId), ["alice", "bob"]);
  assert.equal(page1.total, 3);
  assert.deepEqual(g.list({ offset: 2, limit: 2 }).items.map((r) => r.faceId), ["carol"]);

  const bobVec = vec("bob".length * 7 + "b".charCodeAt(0));
  const m = g.match(near(bobVec, 99));
  assert.equal(m.matched, true);
  assert.equal(m.faceId, "bob");
  assert.equal(m.metadata?.authorized, false);
  assert.ok(m.similarity > 0.9 && m.similarity <= 1);
  // Scale does not matter for cosine similarity.
  assert.equal(g.match(bobVec.map((x) => x * 1000)).faceId, "bob");
  const stranger = g.match(vec(424242));
  assert.equal(stranger.matched, false);
  assert.equal(stranger.faceId, null);
  assert.ok(stranger.similarity < 0.8);
  assert.equal(g.match(near(bobVec, 5), { threshold: 0.9999 }).matched, false);

  // Stored bytes are exactly the float32 values given.
  assert.deepEqual(await g.getEncoding("bob"), bobVec);
  const raw = await cache.getHash(faceKey("bob"));
  assert.deepEqual(Object.keys(raw!).sort(), ["cached_at", "encoding", "metadata"]);
  assert.equal(raw!.encoding!.byteLength, 512);
  assert.deepEqual(decodeFloat32LE(raw!.encoding!), bobVec);

  assert.equal(await g.delete("bob"), true);
  assert.equal(await g.delete("bob"), false);
  assert.equal(g.get("bob"), null);
  assert.notEqual(g.match(bobVec).faceId, "bob");
  assert.equal(g.size, 2);
  await g.close();
});

Deno.test("gallery rejects bad encodings, bad ids and bad metadata with 422", async () => {
  const g = createFaceGallery({ cache: createMemoryCache(), logger: silentLogger });
  await g.start();
  const bad = async (input: Parameters<typeof g.enrol>[0], re: RegExp) => {
    const err = await g.enrol(input).catch((e) => e);
    assert.ok(err instanceof ValidationError, `expected 422, got ${err}`);
    assert.match(err.message, re);
  };
  await bad(
    { faceId: "a", encoding: new Float32Array(127).fill(1) },
    /exactly 128 values, got 127/,
  );
  const withNaN = vec(1);
  withNaN[5] = NaN;
  await bad({ faceId: "a", encoding: withNaN }, /encoding\[5\].*NaN or Infinity/);
  const withInf = Array.from(vec(1));
  withInf[9] = Infinity;
  await bad({ faceId: "a", encoding: withInf }, /encoding\[9\]/);
  const overflow = Array.from(vec(1));
  overflow[3] = 1e39; // finite double, Infinity as float32
  await bad({ faceId: "a", encoding: overflow }, /encoding\[3\]/);
  await bad({ faceId: "a", encoding: new Float32Array(128) }, /non-zero/);
  await bad({ faceId: "bad id!", encoding: vec(1) }, /face_id must be/);
  await bad({ faceId: "match", encoding: vec(1) }, /reserved/);
  await bad(
    { faceId: "a", encoding: vec(1), metadata: { authorized: "yes" } as never },
    /metadata/,
  );
  await bad({ faceId: "a", encoding: vec(1), metadata: { nmae: "typo" } as never }, /metadata/);
  // Whoever calls enrol, not only the HTTP routes: no control characters, no lone surrogates.
  await bad({ faceId: "a", encoding: vec(1), metadata: { name: "a\u001b[2J" } }, /metadata/);
  await bad({ faceId: "a", encoding: vec(1), metadata: { notes: "\ud800" } }, /metadata/);
  assert.throws(() => g.match([1, 2, 3]), ValidationError);
  assert.equal(g.size, 0);
});

Deno.test("gallery refuses duplicate ids with 409 unless overwrite is set", async () => {
  const g = createFaceGallery({ cache: createMemoryCache(), logger: silentLogger });
  await g.start();
  await g.enrol({ faceId: "dup", encoding: vec(1), metadata: { name: "first" } });
  await assert.rejects(g.enrol({ faceId: "dup", encoding: vec(2) }), ConflictError);
  assert.equal(g.get("dup")?.metadata.name, "first");
  const again = await g.enrol({
    faceId: "dup",
    encoding: vec(2),
    metadata: { name: "second" },
    overwrite: true,
  });
  assert.equal(again.created, false);
  assert.equal(g.get("dup")?.metadata.name, "second");
  assert.equal(g.match(vec(2)).faceId, "dup");
  assert.ok(g.match(vec(1)).similarity < 0.5, "the old encoding is gone from the index");
  assert.equal(g.size, 1);
});

Deno.test("gallery counts cache hits and misses for lookups and matches", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const g = createFaceGallery({
    cache: createMemoryCache(),
    threshold: 0.9,
    logger: silentLogger,
    metrics,
  });
  await g.start();
  await g.enrol({ faceId: "a", encoding: vec(1) });
  g.get("a");
  g.get("zzz");
  g.match(vec(1));
  g.match(vec(2));
  g.match(vec(3));
  const text = await metrics.registry.metrics();
  assert.match(text, /^fess_face_cache_hits_total 2$/m);
  assert.match(text, /^fess_face_cache_misses_total 3$/m);
});

Deno.test("gallery forgets faces whose TTL has passed", async () => {
  let t = Date.parse("2025-01-01T00:00:00Z");
  const now = () => t;
  const cache = createMemoryCache({ now });
  const g = createFaceGallery({ cache, ttlSeconds: 60, logger: silentLogger, now });
  await g.start();
  await g.enrol({ faceId: "early", encoding: vec(1) });
  t += 30_000;
  await g.enrol({ faceId: "late", encoding: vec(2) });
  assert.equal(await cache.ttlMs(faceKey("late")), 60_000);
  t += 31_000;
  assert.equal(g.get("early"), null);
  assert.equal(g.match(vec(1), { threshold: 0.99 }).matched, false);
  assert.equal(g.match(vec(2)).faceId, "late");
  assert.equal(g.size, 1);
  // A fresh instance loads only the live face and tidies the index set.
  const g2 = createFaceGallery({ cache, ttlSeconds: 60, logger: silentLogger, now });
  await g2.start();
  assert.deepEqual(g2.list().items.map((r) => r.faceId), ["late"]);
  assert.deepEqual(await cache.setMembers("faces:ids"), ["late"]);
});

Deno.test("gallery refuses new faces beyond maxFaces with 507 but allows overwrites", async () => {
  const g = createFaceGallery({ cache: createMemoryCache(), maxFaces: 2, logger: silentLogger });
  await g.start();
  await g.enrol({ faceId: "a", encoding: vec(1) });
  await g.enrol({ faceId: "b", encoding: vec(2) });
  const err = await g.enrol({ faceId: "c", encoding: vec(3) }).catch((e) => e);
  assert.ok(err instanceof GalleryFullError);
  assert.equal(err.status, 507);
  await g.enrol({ faceId: "a", encoding: vec(4), overwrite: true });
});

Deno.test("two gallery instances on one cache stay in sync through change notices", async () => {
  const cache = createMemoryCache();
  const a = createFaceGallery({ cache, logger: silentLogger });
  const b = createFaceGallery({ cache, logger: silentLogger });
  await a.start();
  await b.start();
  await a.enrol({ faceId: "x", encoding: vec(10), metadata: { name: "X" } });
  for (let i = 0; i < 50 && !b.get("x"); i++) await sleep(5);
  assert.equal(b.get("x")?.metadata.name, "X");
  assert.equal(b.match(vec(10)).faceId, "x");
  await b.enrol({ faceId: "x", encoding: vec(11), metadata: { name: "X2" }, overwrite: true });
  for (let i = 0; i < 50 && a.get("x")?.metadata.name !== "X2"; i++) await sleep(5);
  assert.equal(a.match(vec(11)).faceId, "x");
  // A duplicate enrolled by the other instance is refused even before its notice arrives.
  const c = createFaceGallery({ cache, logger: silentLogger });
  await c.start();
  await a.enrol({ faceId: "y", encoding: vec(12) });
  await assert.rejects(c.enrol({ faceId: "y", encoding: vec(13) }), ConflictError);
  await a.delete("x");
  for (let i = 0; i < 50 && b.get("x"); i++) await sleep(5);
  assert.equal(b.get("x"), null);
  await Promise.all([a.close(), b.close(), c.close()]);
});

Deno.test("gallery writes fail with 503 and change nothing when the cache is down; reads keep working", async () => {
  const cache = createMemoryCache();
  const g = createFaceGallery({ cache, logger: silentLogger });
  await g.start();
  await g.enrol({ faceId: "kept", encoding: vec(1) });
  await cache.close();
  await assert.rejects(g.enrol({ faceId: "new", encoding: vec(2) }), ServiceUnavailableError);
  await assert.rejects(g.delete("kept"), ServiceUnavailableError);
  assert.equal(g.get("new"), null);
  assert.equal(g.match(vec(1)).faceId, "kept");
});

Deno.test("encrypted gallery stores no plaintext, round-trips, and fails loudly on a wrong key", async () => {
  const cache = createMemoryCache();
  const key = "correct horse battery staple";
  const g = createFaceGallery({ cache, encryptionKey: key, logger: silentLogger });
  await g.start();
  const v = vec(7);
  await g.enrol({ faceId: "secret", encoding: v, metadata: { name: "S", authorized: true } });
  const raw = (await cache.getHash(faceKey("secret")))!;
  assert.notEqual(raw.encoding!.byteLength, 512);
  const plain = new Uint8Array(v.buffer);
  const asText = Array.from(raw.encoding!).join(",");
  assert.ok(
    !asText.includes(Array.from(plain.subarray(0, 16)).join(",")),
    "plaintext bytes leaked",
  );
  assert.deepEqual(await g.getEncoding("secret"), v);

  // Same key, new instance: loads and matches.
  const same = createFaceGallery({ cache, encryptionKey: key, logger: silentLogger });
  await same.start();
  assert.equal(same.match(v).faceId, "secret");

  const wrong = createFaceGallery({
    cache,
    encryptionKey: "another key of enough length",
    logger: silentLogger,
  });
  await assert.rejects(
    wrong.start(),
    (e: unknown) => e instanceof FaceEncryptionError && /another key/.test(e.message),
  );
  const none = createFaceGallery({ cache, logger: silentLogger });
  await assert.rejects(
    none.start(),
    (e: unknown) => e instanceof FaceEncryptionError && /no encryption key/.test(e.message),
  );

  // Editing metadata in the store breaks authentication.
  await cache.putHash(faceKey("secret"), {
    ...raw,
    metadata: JSON.stringify({ name: "S", authorized: false }),
  });
  const tampered = createFaceGallery({ cache, encryptionKey: key, logger: silentLogger });
  await assert.rejects(
    tampered.start(),
    (e: unknown) => e instanceof FaceEncryptionError && /altered/.test(e.message),
  );
  await assert.rejects(g.getEncoding("secret"), FaceEncryptionError);
});

Deno.test("an encryption key configured over a plaintext gallery fails loudly", async () => {
  const cache = createMemoryCache();
  const plain = createFaceGallery({ cache, logger: silentLogger });
  await plain.start();
  await plain.enrol({ faceId: "p", encoding: vec(1) });
  const enc = createFaceGallery({ cache, encryptionKey: "0123456789abcdef", logger: silentLogger });
  await assert.rejects(enc.start(), /not encrypted but an encryption key is configured/);
  assert.throws(() => createFaceGallery({ cache, threshold: 2, logger: silentLogger }), RangeError);
  const short = createFaceGallery({ cache, encryptionKey: "short", logger: silentLogger });
  await assert.rejects(short.start(), /at least 16 characters/);
});

Deno.test("gallery logs never contain encodings or the encryption key", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const key = "a-very-secret-encryption-key";
  const g = createFaceGallery({ cache: createMemoryCache(), encryptionKey: key, logger });
  await g.start();
  const v = vec(3);
  await g.enrol({ faceId: "logged", encoding: v, metadata: { name: "L" } });
  await g.delete("logged");
  const all = lines.join("\n");
  assert.ok(lines.length >= 2);
  assert.ok(all.includes("logged"));
  assert.ok(!all.includes(key));
  assert.ok(!all.includes(String(v[0])), "an encoding value appeared in the logs");
});
