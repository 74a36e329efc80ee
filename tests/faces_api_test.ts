/**
 * `/faces` over HTTP through the real router, with a memory-backed gallery and a fake face
 * encoder (the real models are exercised in recognition_test.ts): routes, status codes, bad
 * input, pagination, encodings only on request and never in logs, 503 when the cache is down.
 */
import assert from "node:assert/strict";
import { createFacesHandler } from "../functions/faces.ts";
import { mountApi } from "./support/api.ts";
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { encodeFloat32LE } from "../shared/cache/codec.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import type { EncodedFace, FaceImageEncoder } from "../shared/faces/face_types.ts";
import { createFaceGallery } from "../shared/faces/gallery.ts";
import { createLogger } from "../shared/logger.ts";

function vec(seed: number): Float32Array {
  const v = new Float32Array(128);
  let x = (seed * 2654435761) % 4294967296 || 1;
  for (let i = 0; i < 128; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v[i] = x / 4294967296 - 0.5;
  }
  return v;
}

/** Fake encoder: the image's first byte after the JPEG magic says how many faces it holds. */
const fakeEncoder: FaceImageEncoder = {
  encodeImage(bytes) {
    const n = bytes[3] ?? 0;
    const faces: EncodedFace[] = Array.from({ length: n }, (_, i) => ({
      bbox: { x1: 10 * i, y1: 0, x2: 10 * i + 8, y2: 8 },
      landmarks: Array.from({ length: 5 }, () => ({ x: 1, y: 1 })),
      score: 0.9,
      encoding: vec(100 + i + bytes[4]!),
    }));
    return Promise.resolve(faces);
  },
};
const jpegWith = (faces: number, seed = 0) => new Uint8Array([0xff, 0xd8, 0xff, faces, seed]);

async function setup(cache: CacheStore = createMemoryCache()) {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const gallery = createFaceGallery({ cache, threshold: 0.9, logger });
  await gallery.start();
  const router = mountApi(
    { keys: [{ key: "test-key", scopes: ["faces"] }], logger, bodyLimitBytes: 1 << 20 },
    createFacesHandler({ gallery, faceEncoder: fakeEncoder, logger }),
  );
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const init: RequestInit = { method, headers: { "x-api-key": "test-key", ...headers } };
    if (body instanceof Uint8Array) init.body = body as Uint8Array<ArrayBuffer>;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const res = await router(new Request(`http://fess${path}`, init));
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };
  return { call, lines, gallery, router, cache };
}

Deno.test("PUT/GET/DELETE /faces/{id} with JSON encodings, and 409 on duplicates", async () => {
  const { call } = await setup();
  const v = vec(1);
  const put = await call("PUT", "/faces/alice", {
    encoding: Array.from(v),
    metadata: { name: "Alice", authorized: true, notes: "front desk" },
  });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("location"), "/faces/alice");
  assert.deepEqual(put.body.metadata, { name: "Alice", authorized: true, notes: "front desk" });
  assert.equal(put.body.created, true);
  assert.equal(put.body.encoding, undefined);

  const dup = await call("PUT", "/faces/alice", { encoding: Array.from(vec(2)) });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, "conflict");
  const over = await call("PUT", "/faces/alice?overwrite=true", {
    encoding: Array.from(v),
    metadata: { name: "Alice B" },
  });
  assert.equal(over.status, 200);
  assert.equal(over.body.created, false);

  const get = await call("GET", "/faces/alice");
  assert.equal(get.status, 200);
  assert.equal(get.body.metadata.name, "Alice B");
  assert.equal(get.body.encoding, undefined, "no encoding unless asked");
  const withEnc = await call("GET", "/faces/alice?include_encoding=true");
  assert.deepEqual(
    Float32Array.from(withEnc.body.encoding),
    v,
    "float32 values survive JSON exactly",
  );

  // base64 of little-endian float32 bytes is accepted too.
  const b64 = btoa(String.fromCharCode(...encodeFloat32LE(vec(3))));
  assert.equal((await call("PUT", "/faces/bob", { encoding: b64 })).status, 201);
  assert.equal((await call("GET", "/faces/bob")).body.metadata.authorized, false);

  assert.equal((await call("DELETE", "/faces/alice")).status, 204);
  assert.equal((await call("DELETE", "/faces/alice")).status, 404);
  assert.equal((await call("GET", "/faces/alice")).status, 404);
});

Deno.test("bad encodings and ids are refused with precise errors", async () => {
  const { call } = await setup();
  const short = await call("PUT", "/faces/a", { encoding: [1, 2, 3] });
  assert.equal(short.status, 422);
  assert.match(short.body.error, /exactly 128 values, got 3/);
  const inf = Array.from(vec(1)) as unknown[];
  const infBody = JSON.stringify({ encoding: inf }).replace(
    /^\{"encoding":\[[^,]+/,
    '{"encoding":[1e999',
  );
  const r = await (await setup()).router(
    new Request("http://fess/faces/a", {
      method: "PUT",
      headers: { "x-api-key": "test-key", "content-type": "application/json" },
      body: infBody,
    }),
  );
  assert.equal(r.status, 422);
  assert.match((await r.json()).error, /encoding\[0\].*NaN or Infinity/);
  inf[4] = "NaN";
  assert.match(
    (await call("PUT", "/faces/a", { encoding: inf })).body.error,
    /encoding\[4\] is not a number/,
  );
  assert.equal((await call("PUT", "/faces/a", { encoding: "%%%" })).status, 422);
  assert.equal(
    (await call("PUT", "/faces/a", { encoding: Array.from(vec(1)), extra: 1 })).status,
    422,
  );
  assert.equal(
    (await call("PUT", "/faces/a", {
      encoding: Array.from(vec(1)),
      metadata: { authorized: "no" },
    })).status,
    422,
  );
  assert.equal(
    (await call("PUT", "/faces/bad%20id", { encoding: Array.from(vec(1)) })).status,
    400,
  );
  assert.equal(
    (await call("PUT", "/faces/a", "not json", { "content-type": "text/plain" })).status,
    415,
  );
  const badJson = await call("PUT", "/faces/a", new TextEncoder().encode("{"), {
    "content-type": "application/json",
  });
  assert.equal(badJson.status, 400);
  assert.equal((await call("POST", "/faces/a", { encoding: [] })).status, 405);
  assert.equal((await call("PUT", "/faces/match", { encoding: [] })).status, 405);
  assert.equal((await call("GET", "/faces/a/b")).status, 404);
  const noKey = await (await setup()).router(new Request("http://fess/faces"));
  assert.equal(noKey.status, 401);
});

Deno.test("GET /faces lists sorted pages without encodings unless include_encoding=true", async () => {
  const { call } = await setup();
  for (let i = 0; i < 5; i++) await call("PUT", `/faces/f${i}`, { encoding: Array.from(vec(i)) });
  const p1 = await call("GET", "/faces?limit=2");
  assert.deepEqual(p1.body.items.map((x: { face_id: string }) => x.face_id), ["f0", "f1"]);
  assert.equal(p1.body.total, 5);
  assert.equal(p1.body.next_offset, 2);
  assert.ok(!("encoding" in p1.body.items[0]));
  const last = await call("GET", "/faces?offset=4&limit=2&include_encoding=true");
  assert.deepEqual(last.body.items.map((x: { face_id: string }) => x.face_id), ["f4"]);
  assert.equal(last.body.next_offset, null);
  assert.deepEqual(Float32Array.from(last.body.items[0].encoding), vec(4));
  assert.equal((await call("GET", "/faces?limit=5000")).status, 400);
  assert.equal((await call("GET", "/faces?offset=-1")).status, 400);
});

Deno.test("POST /faces/match with an encoding returns the best match and score", async () => {
  const { call } = await setup();
  await call("PUT", "/faces/carol", {
    encoding: Array.from(vec(9)),
    metadata: { name: "Carol", authorized: true },
  });
  const hit = await call("POST", "/faces/match", { encoding: Array.from(vec(9)) });
  assert.equal(hit.status, 200);
  assert.equal(hit.body.matched, true);
  assert.equal(hit.body.face_id, "carol");
  assert.equal(hit.body.name, "Carol");
  assert.equal(hit.body.authorized, true);
  assert.ok(Math.abs(hit.body.similarity - 1) < 1e-6);
  const miss = await call("POST", "/faces/match", { encoding: Array.from(vec(10)) });
  assert.equal(miss.body.matched, false);
  assert.equal(miss.body.face_id, null);
  assert.equal(miss.body.authorized, false);
  const strict = await call("POST", "/faces/match?threshold=0.1", {
    encoding: Array.from(vec(10)),
  });
  assert.equal(strict.body.threshold, 0.1);
  assert.equal(
    (await call("POST", "/faces/match", { encoding: Array.from(vec(1)), threshold: 3 })).status,
    422,
  );
});

Deno.test("image enrolment needs exactly one face; metadata comes from query or headers", async () => {
  const { call } = await setup();
  for (const n of [0, 2]) {
    const r = await call("PUT", "/faces/img", jpegWith(n), { "content-type": "image/jpeg" });
    assert.equal(r.status, 422);
    assert.match(r.body.error, new RegExp(`exactly one face in the image, found ${n}`));
    assert.equal(r.body.detail.faces_found, n);
  }
  const ok = await call("PUT", "/faces/img?name=Dee%20Dee&authorized=true", jpegWith(1), {
    "content-type": "image/jpeg",
  });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.source, "image");
  assert.deepEqual(ok.body.metadata, { name: "Dee Dee", authorized: true });
  assert.equal(ok.body.face.detection_score, 0.9);
  const viaHeaders = await call("PUT", "/faces/img2", jpegWith(1, 7), {
    "content-type": "image/png",
    "x-face-name": "Eve",
    "x-face-authorized": "false",
    "x-face-notes": "visitor",
  });
  assert.equal(viaHeaders.status, 201);
  assert.deepEqual(viaHeaders.body.metadata, { name: "Eve", authorized: false, notes: "visitor" });
  const dup = await call("PUT", "/faces/img", jpegWith(1), { "content-type": "image/jpeg" });
  assert.equal(dup.status, 409);
  const bad = await call("PUT", "/faces/x?authorized=maybe", jpegWith(1), {
    "content-type": "image/jpeg",
  });
  assert.equal(bad.status, 400);
  const matches = await call("POST", "/faces/match", jpegWith(2), { "content-type": "image/jpeg" });
  assert.equal(matches.body.count, 2);
  assert.equal(matches.body.faces[0].face_id, "img");
  assert.equal(matches.body.faces[0].matched, true);
});

Deno.test("images get 503 when no face models are loaded", async () => {
  const gallery = createFaceGallery({
    cache: createMemoryCache(),
    logger: createLogger({ sink: () => {} }),
  });
  const handler = mountApi(
    {},
    createFacesHandler({ gallery, logger: createLogger({ sink: () => {} }) }),
  );
  const res = await handler(
    new Request("http://x/faces/a", {
      method: "PUT",
      headers: { "content-type": "image/jpeg" },
      body: jpegWith(1),
    }),
  );
  assert.equal(res.status, 503);
  assert.match((await res.json()).error, /face models are not loaded/);
});

Deno.test("writes answer 503 with the reason while the cache is down; GET and match keep working", async () => {
  const cache = createMemoryCache();
  const { call } = await setup(cache);
  await call("PUT", "/faces/kept", { encoding: Array.from(vec(1)) });
  await cache.close();
  const put = await call("PUT", "/faces/new", { encoding: Array.from(vec(2)) });
  assert.equal(put.status, 503);
  assert.equal(put.body.code, "service_unavailable");
  assert.match(put.body.error, /cache is closed/);
  assert.equal((await call("DELETE", "/faces/kept")).status, 503);
  assert.equal((await call("GET", "/faces/kept")).status, 200);
  assert.equal(
    (await call("POST", "/faces/match", { encoding: Array.from(vec(1)) })).body.face_id,
    "kept",
  );
  assert.equal((await call("GET", "/faces/kept?include_encoding=true")).status, 503);
});

Deno.test("encodings never appear in logs, even for rejected requests", async () => {
  const { call, lines } = await setup();
  const v = vec(5);
  await call("PUT", "/faces/logme", { encoding: Array.from(v) });
  await call("PUT", "/faces/logme", { encoding: Array.from(v) });
  await call("PUT", "/faces/short", { encoding: Array.from(v).slice(0, 100) });
  await call("POST", "/faces/match", { encoding: Array.from(v) });
  const all = lines.join("\n");
  assert.ok(all.includes("logme"));
  assert.ok(
    !all.includes(String(v[0])) && !all.includes(String(v[1])),
    "an encoding value was logged",
  );
});
