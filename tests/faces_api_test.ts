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

Deno.test("paging numbers are plain decimal integers: limit 1..1000, offset from 0, 400 naming the value", async () => {
  const { call } = await setup();
  const refused: [string, string, string][] = [
    ["limit=0", "limit", '"0"'],
    ["limit=%20", "limit", '" "'],
    ["limit=0x10", "limit", '"0x10"'],
    ["limit=1e3", "limit", '"1e3"'],
    ["limit=%2B5", "limit", '"+5"'],
    ["limit=+5", "limit", '" 5"'],
    ["limit=%0A7", "limit", '"\\n7"'],
    ["limit=2.0", "limit", '"2.0"'],
    ["limit=1001", "limit", '"1001"'],
    ["offset=1e3", "offset", '"1e3"'],
    ["offset=0b101", "offset", '"0b101"'],
    ["offset=-1", "offset", '"-1"'],
    ["offset=%201", "offset", '" 1"'],
  ];
  for (const [query, name, value] of refused) {
    const res = await call("GET", `/faces?${query}`);
    assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, "bad_request");
    assert.ok(res.body.error.includes(`${name}: expected a decimal integer`), res.body.error);
    assert.ok(
      res.body.error.includes(`got ${value}`),
      `${query} names the value: ${res.body.error}`,
    );
    assert.equal(res.body.detail.issues[0].path, name);
  }
  const empty = await call("GET", "/faces?limit=&offset=");
  assert.deepEqual([empty.status, empty.body.limit, empty.body.offset], [200, 100, 0], "defaults");
});

Deno.test("paging to next_offset visits every face once and ends with null", async () => {
  const { call } = await setup();
  for (let i = 0; i < 7; i++) await call("PUT", `/faces/p${i}`, { encoding: Array.from(vec(i)) });
  for (const limit of [1, 3, 7, 1000]) {
    const seen: string[] = [];
    let offset: number | null = 0;
    for (let pages = 0; offset !== null; pages++) {
      assert.ok(pages < 10, `limit=${limit}: paging does not end`);
      const page = await call("GET", `/faces?offset=${offset}&limit=${limit}`);
      assert.equal(page.status, 200);
      const next: number | null = page.body.next_offset;
      assert.ok(next === null || next > offset, `next_offset ${next} after offset ${offset}`);
      seen.push(...page.body.items.map((x: { face_id: string }) => x.face_id));
      offset = next;
    }
    assert.deepEqual(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"], `limit=${limit}`);
  }
  const past = await call("GET", "/faces?offset=7");
  assert.deepEqual([past.body.items, past.body.next_offset], [[], null]);
  const far = await call("GET", "/faces?offset=9007199254740991");
  assert.deepEqual([far.status, far.body.next_offset], [200, null]);
});

Deno.test("the match threshold query is a plain decimal in -1..1", async () => {
  const { call } = await setup();
  await call("PUT", "/faces/carol", { encoding: Array.from(vec(9)) });
  const encoding = Array.from(vec(9));
  for (const raw of ["%20", "0x1", "1e-1", "%2B0.5", ".5", "1.", "NaN", "Infinity", "2", "-1.5"]) {
    const res = await call("POST", `/faces/match?threshold=${raw}`, { encoding });
    assert.equal(res.status, 400, `${raw}: ${JSON.stringify(res.body)}`);
    assert.match(res.body.error, /threshold: expected a decimal number in -1\.\.1/);
    assert.ok(
      res.body.error.includes(JSON.stringify(decodeURIComponent(raw))),
      `names ${raw}: ${res.body.error}`,
    );
  }
  for (const [raw, value] of [["0.25", 0.25], ["-1", -1], ["1", 1], ["0", 0]] as const) {
    const res = await call("POST", `/faces/match?threshold=${raw}`, { encoding });
    assert.equal(res.status, 200, raw);
    assert.equal(res.body.threshold, value);
  }
  const image = await call("POST", "/faces/match?threshold=0x1", jpegWith(1), {
    "content-type": "image/jpeg",
  });
  assert.equal(image.status, 400, "image matching reads the same query");
});

Deno.test("an encoding of the wrong size or type names the expected length", async () => {
  const { call } = await setup();
  const huge = await call("POST", "/faces/match", { encoding: new Array(65537).fill(0) });
  assert.equal(huge.status, 422);
  assert.deepEqual(huge.body.detail.issues, [{
    path: "encoding",
    message:
      "expected 128 numbers or base64 of 512 bytes (128 little-endian float32), got an array of 65537 items",
  }]);
  for (const [encoding, got] of [[5, "a number"], [{}, "an object"], [null, "null"]] as const) {
    const res = await call("PUT", "/faces/x", { encoding });
    assert.equal(res.status, 422);
    assert.match(res.body.detail.issues[0].message, new RegExp(`expected 128 numbers.*got ${got}`));
  }
  const missing = await call("POST", "/faces/match", {});
  assert.match(missing.body.detail.issues[0].message, /expected 128 numbers.*got nothing/);
  const shortB64 = await call("POST", "/faces/match", { encoding: btoa("abcdefgh") });
  assert.equal(shortB64.status, 422);
  assert.match(
    shortB64.body.error,
    /expected base64 of 512 bytes \(128 little-endian float32\), got 8 bytes/,
  );
  const odd = await call("PUT", "/faces/x", { encoding: btoa("abc") });
  assert.match(odd.body.error, /expected base64 of 512 bytes.*got 3 bytes/);
  assert.equal((await call("GET", "/faces/x")).status, 404);
});

Deno.test("names and notes refuse control characters and unpaired surrogates with 422", async () => {
  const { call } = await setup();
  const encoding = Array.from(vec(1));
  const refused: [Record<string, unknown>, string, RegExp][] = [
    [{ name: "a\u0000\u001b[2J" }, "metadata.name", /control character U\+0000 at index 1/],
    [{ name: "a\u001b[2J" }, "metadata.name", /control character U\+001B at index 1/],
    [{ name: "Ann\nBob" }, "metadata.name", /control character U\+000A at index 3/],
    [{ name: "tab\there" }, "metadata.name", /control character U\+0009/],
    [{ name: "x\u0085y" }, "metadata.name", /control character U\+0085/], // C1 (NEL)
    [{ name: "del\u007f" }, "metadata.name", /control character U\+007F/],
    [{ name: "\udc00bad" }, "metadata.name", /unpaired UTF-16 surrogate U\+DC00 at index 0/],
    [{ notes: "\ud800" }, "metadata.notes", /unpaired UTF-16 surrogate U\+D800 at index 0/],
    [{ notes: "ok\u0007bell" }, "metadata.notes", /control character U\+0007 at index 2/],
    [{ notes: "x\u009bJ" }, "metadata.notes", /control character U\+009B/],
  ];
  for (const [metadata, path, reason] of refused) {
    const res = await call("PUT", "/faces/m", { encoding, metadata });
    const what = JSON.stringify(metadata);
    assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, "validation_failed");
    assert.equal(res.body.detail.issues[0].path, path, what);
    assert.match(res.body.detail.issues[0].message, reason, what);
  }
  assert.equal((await call("GET", "/faces/m")).status, 404, "nothing was stored");
  const ok = await call("PUT", "/faces/m", {
    encoding,
    metadata: { name: "  Zoë 🙂 Ñandú  ", notes: "line one\r\nline two\tindented" },
  });
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.body.metadata, {
    name: "Zoë 🙂 Ñandú",
    authorized: false,
    notes: "line one\r\nline two\tindented",
  });
  const viaQuery = await call("PUT", "/faces/q?name=a%1B%5B2J", jpegWith(1), {
    "content-type": "image/jpeg",
  });
  assert.equal(viaQuery.status, 422);
  assert.deepEqual(viaQuery.body.detail.issues.map((i: { path: string }) => i.path), ["name"]);
  assert.equal((await call("GET", "/faces/q")).status, 404);
});

Deno.test("X-Face-* headers must be ASCII: UTF-8 bytes get 400 pointing at the query parameter", async () => {
  const { call, router } = await setup();
  // What a server sees for UTF-8 "Zoë 🙂": each byte as one Latin-1 character.
  const latin1 = String.fromCharCode(...new TextEncoder().encode("Zoë 🙂"));
  for (const header of ["x-face-name", "x-face-notes"]) {
    const res = await call("PUT", "/faces/carol", jpegWith(1), {
      "content-type": "image/jpeg",
      [header]: latin1,
    });
    assert.equal(res.status, 400, header);
    assert.match(res.body.error, /holds non-ASCII bytes/);
    const query = header === "x-face-name" ? "name" : "notes";
    assert.ok(res.body.error.includes(`in the ${query} query parameter`), res.body.error);
  }
  assert.equal((await call("GET", "/faces/carol")).status, 404, "nothing was stored");
  const ok = await call("PUT", `/faces/carol?name=${encodeURIComponent("Zoë 🙂")}`, jpegWith(1), {
    "content-type": "image/jpeg",
    "x-face-notes": "plain ascii",
  });
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.body.metadata, { name: "Zoë 🙂", authorized: false, notes: "plain ascii" });

  // The same through a real listener: raw UTF-8 bytes in the header line.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, router);
  try {
    const body = jpegWith(1);
    const head = `PUT /faces/dave HTTP/1.1\r\nHost: x\r\nX-API-Key: test-key\r\n` +
      `Content-Type: image/jpeg\r\nX-Face-Name: Zoë 🙂\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n`;
    const response = await rawExchange(server.addr.port, [new TextEncoder().encode(head), body]);
    assert.match(response, /^HTTP\/1\.1 400 /);
    assert.match(response, /X-Face-Name holds non-ASCII bytes/);
  } finally {
    await server.shutdown();
  }
});

/** Writes `chunks` on a new connection and reads the whole response (the server closes it). */
async function rawExchange(port: number, chunks: Uint8Array[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const c of chunks) await conn.write(c);
    return await new Response(conn.readable).text();
  } catch (err) {
    conn.close();
    throw err;
  }
}
