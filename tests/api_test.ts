/**
 * The application's shared HTTP behaviour through real route modules mounted on `createApi`:
 * 404/405, auth and scopes, body limits and deadlines, validation errors in FESS's shape, the
 * one error path, request ids, in-flight limit and CORS.
 */
import assert from "node:assert/strict";
import { createRoute, z } from "@hono/zod-openapi";
import { REQUEST_ID_HEADER } from "../functions/api.ts";
import { createRoutes, errorResponses, scoped } from "../functions/openapi.ts";
import { BadRequestError, ServiceUnavailableError } from "../shared/errors.ts";
import { readBodyBytes, readJson } from "../shared/http.ts";
import { createLogger, type Logger } from "../shared/logger.ts";
import { mountApi } from "./support/api.ts";

const KEY = "test-key-0123456789abcdef";

const ok = (description: string) => ({
  ...errorResponses([]),
  200: {
    description,
    content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
  },
});

/** Test routes: open, echo (scope detect, counts the body), json, and three that fail. */
function testRoutes(limit: number) {
  const get = (path: string) => createRoute({ method: "get", path, responses: ok(path) });
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const routes = createRoutes()
    .openapi(get("/open"), (c) => c.json({ ok: true }, 200))
    .openapi(get("/open/{x}"), (c) => c.json({ ok: true }, 200))
    .openapi(
      createRoute({ method: "post", path: "/open", responses: ok("post open") }),
      async (c) => c.json({ bytes: (await readBodyBytes(c.req.raw, limit)).byteLength }, 200),
    )
    .openapi(
      createRoute({ method: "post", path: "/echo", ...scoped("detect"), responses: ok("echo") }),
      async (c) => c.json({ bytes: (await readBodyBytes(c.req.raw, limit)).byteLength }, 200),
    )
    .openapi(
      createRoute({ method: "get", path: "/gallery", ...scoped("faces"), responses: ok("g") }),
      (c) => c.json({ ok: true }, 200),
    )
    .openapi(
      createRoute({ method: "post", path: "/json", responses: ok("json") }),
      async (c) => c.json(await readJson(c.req.raw, z.object({ n: z.number().int() }), limit), 200),
    )
    .openapi(
      createRoute({
        method: "post",
        path: "/validated",
        request: {
          query: z.object({ n: z.coerce.number().int().optional() }),
          body: {
            required: true,
            content: { "application/json": { schema: z.object({ n: z.number().int() }) } },
          },
        },
        responses: ok("validated"),
      }),
      (c) => c.json({ n: c.req.valid("json").n }, 200),
    )
    .openapi(get("/boom"), () => {
      throw new Error("secret internal detail");
    })
    .openapi(get("/down"), () => {
      throw new ServiceUnavailableError("redis is down");
    })
    .openapi(get("/bad"), () => {
      throw new BadRequestError("nope", { detail: { field: "x" } });
    })
    .openapi(get("/held"), async (c) => {
      await held;
      return c.json({ ok: true }, 200);
    });
  return { routes, release: () => release() };
}

function setup(keys: string[] = [KEY], limit = 1024, extra: { maxInflight?: number } = {}) {
  const lines: string[] = [];
  const logger: Logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const { routes, release } = testRoutes(limit);
  const router = mountApi({ keys, logger, bodyLimitBytes: limit, ...extra }, routes);
  return { router, lines, release };
}

const req = (path: string, init?: RequestInit) => new Request(`http://fess.test${path}`, init);

Deno.test("unknown paths get 404 JSON with a reason", async () => {
  const { router } = setup();
  const res = await router(req("/nothing/here"));
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.code, "not_found");
  assert.match(body.error, /no route for \/nothing\/here/);
});

Deno.test("a route matches its own path, not look-alikes", async () => {
  const { router } = setup();
  assert.equal((await router(req("/open"))).status, 200);
  assert.equal((await router(req("/open/x"))).status, 200);
  assert.equal((await router(req("/openx"))).status, 404);
});

Deno.test("wrong method gets 405 with an Allow header", async () => {
  const { router } = setup([]);
  const res = await router(req("/echo", { method: "GET" }));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  assert.equal((await res.json()).code, "method_not_allowed");
});

Deno.test("protected routes need a key: none, wrong, Bearer and X-API-Key", async () => {
  const { router } = setup();
  const post = (headers: HeadersInit) =>
    router(req("/echo", { method: "POST", headers, body: "hi" }));
  const none = await post({});
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="fess"');
  await none.body?.cancel();
  const wrong = await post({ authorization: "Bearer wrong-key-0123456789" });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error, "the API key is not valid");
  assert.equal((await post({ authorization: `Bearer ${KEY}` })).status, 200);
  assert.equal((await post({ "x-api-key": KEY })).status, 200);
});

Deno.test("with no keys configured protected routes are open", async () => {
  const { router } = setup([]);
  assert.equal((await router(req("/echo", { method: "POST", body: "x" }))).status, 200);
});

Deno.test("bodies over the limit get 413, by Content-Length or by counting a stream", async () => {
  const { router } = setup([], 16);
  const declared = await router(
    req("/open", { method: "POST", body: "x".repeat(17), headers: { "content-length": "17" } }),
  );
  assert.equal(declared.headers.get("connection"), "close");
  assert.equal(declared.status, 413);
  assert.equal((await declared.json()).detail.limit_bytes, 16);
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(8));
      c.close();
    },
  });
  const streamed = await router(req("/echo", { method: "POST", body: stream }));
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
});

Deno.test("invalid JSON is 400, a wrong shape is 422 listing issue paths", async () => {
  const { router } = setup([]);
  const bad = await router(req("/json", { method: "POST", body: "{nope" }));
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const shape = await router(req("/json", { method: "POST", body: '{"n":"x"}' }));
  assert.equal(shape.status, 422);
  assert.deepEqual((await shape.json()).detail.issues.map((i: { path: string }) => i.path), ["n"]);
  const ok = await router(req("/json", { method: "POST", body: '{"n":3}' }));
  assert.deepEqual(await ok.json(), { n: 3 });
});

Deno.test("typed errors keep their status and detail; unexpected ones become a bare 500", async () => {
  const { router, lines } = setup([]);
  const bad = await router(req("/bad"));
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), {
    error: "nope",
    code: "bad_request",
    detail: { field: "x" },
  });
  const down = await router(req("/down"));
  assert.equal(down.status, 503);
  assert.equal((await down.json()).error, "redis is down");
  const boom = await router(req("/boom"));
  assert.equal(boom.status, 500);
  const body = await boom.json();
  assert.equal(body.error, "internal error");
  assert.ok(!JSON.stringify(body).includes("secret internal detail"));
  assert.ok(
    lines.some((l) => l.includes('"level":"error"') && l.includes("secret internal detail")),
    "logged for operators",
  );
});

Deno.test("every response carries a request id; a sane client id is kept", async () => {
  const { router } = setup([]);
  const gen = await router(req("/open"));
  assert.match(gen.headers.get(REQUEST_ID_HEADER)!, /^[0-9a-f-]{36}$/);
  const kept = await router(req("/open", { headers: { [REQUEST_ID_HEADER]: "abc-123" } }));
  assert.equal(kept.headers.get(REQUEST_ID_HEADER), "abc-123");
  const replaced = await router(
    req("/open", { headers: { [REQUEST_ID_HEADER]: "bad id with spaces" } }),
  );
  assert.notEqual(replaced.headers.get(REQUEST_ID_HEADER), "bad id with spaces");
});

Deno.test("a key without the route's scope gets 403; admin and the right scope pass", async () => {
  const keys = [
    { key: "camera-key-0123456789", scopes: ["detect" as const], name: "cam" },
    { key: "gallery-key-012345678", scopes: ["faces" as const], name: "ops" },
    { key: "admin-key-0123456789a", scopes: ["admin" as const], name: "root" },
  ];
  const { routes } = testRoutes(1024);
  const router = mountApi({ keys }, routes);
  const get = (key: string) => router(req("/gallery", { headers: { "x-api-key": key } }));
  const denied = await get("camera-key-0123456789");
  assert.equal(denied.status, 403);
  const body = await denied.json();
  assert.equal(body.code, "forbidden");
  assert.match(body.error, /cam lacks the faces scope/);
  assert.equal((await get("gallery-key-012345678")).status, 200);
  assert.equal((await get("admin-key-0123456789a")).status, 200);
  const post = await router(
    req("/echo", { method: "POST", body: "x", headers: { "x-api-key": "camera-key-0123456789" } }),
  );
  assert.equal(post.status, 200);
});

Deno.test("schema validation failures use FESS's error shape: 400 for the query, 422 for the body", async () => {
  const { router } = setup([]);
  const query = await router(
    req("/validated?n=x", {
      method: "POST",
      body: '{"n":1}',
      headers: { "content-type": "application/json" },
    }),
  );
  assert.equal(query.status, 400);
  const q = await query.json();
  assert.equal(q.code, "bad_request");
  assert.equal(q.detail.issues[0].path, "n");
  const body = await router(
    req("/validated", {
      method: "POST",
      body: '{"n":"x"}',
      headers: { "content-type": "application/json" },
    }),
  );
  assert.equal(body.status, 422);
  assert.deepEqual((await body.json()).detail.issues.map((i: { path: string }) => i.path), ["n"]);
  const malformed = await router(
    req("/validated", {
      method: "POST",
      body: "{",
      headers: { "content-type": "application/json" },
    }),
  );
  assert.equal(malformed.status, 400);
  assert.equal((await malformed.json()).code, "bad_request");
  const type = await router(
    req("/validated", { method: "POST", body: "n=1", headers: { "content-type": "text/plain" } }),
  );
  assert.equal(type.status, 415);
  assert.equal((await type.json()).code, "unsupported_media_type");
});

Deno.test("a body that stalls is cut with 408 within the deadline, in FESS's error shape", async () => {
  const { routes } = testRoutes(1 << 20);
  const router = mountApi(
    { bodyLimitBytes: 1 << 20, readTimeoutMs: 100, minBodyBytesPerSecond: 1 << 20 },
    routes,
  );
  // Half of the body, then nothing: the deadline is 100 ms plus 1 KiB at 1 MiB/s.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(512));
    },
  });
  const res = await router(
    req("/open", { method: "POST", body: stream, headers: { "content-length": "1024" } }),
  );
  assert.equal(res.status, 408);
  const body = await res.json();
  assert.equal(body.code, "request_timeout");
  assert.equal(body.detail.received_bytes, 512);
  assert.equal(res.headers.get("connection"), "close");
});

Deno.test("past max_inflight requests get 503 with Retry-After, and pass again once one finishes", async () => {
  const { router, release } = setup([], 1024, { maxInflight: 1 });
  const first = router(req("/held"));
  const second = await router(req("/open"));
  assert.equal(second.status, 503);
  assert.equal(second.headers.get("retry-after"), "1");
  assert.equal((await second.json()).code, "overloaded");
  release();
  assert.equal((await first).status, 200);
  assert.equal((await router(req("/open"))).status, 200);
});

Deno.test("CORS is off by default and answers preflights for listed origins", async () => {
  const { routes } = testRoutes(1024);
  const off = mountApi({}, routes);
  const plain = await off(req("/open", { headers: { origin: "https://ops.example" } }));
  assert.equal(plain.headers.get("access-control-allow-origin"), null);
  const on = mountApi({ corsOrigins: ["https://ops.example"] }, testRoutes(1024).routes);
  const pre = await on(
    req("/open", {
      method: "OPTIONS",
      headers: { origin: "https://ops.example", "access-control-request-method": "GET" },
    }),
  );
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://ops.example");
  const other = await on(req("/open", { headers: { origin: "https://evil.example" } }));
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

Deno.test("a 401 says what is wrong with the credentials sent", async () => {
  const { router } = setup();
  const post = async (headers: HeadersInit, path = "/echo") => {
    const res = await router(req(path, { method: "POST", headers, body: "hi" }));
    const body = await res.json();
    return { status: res.status, body, challenge: res.headers.get("www-authenticate") };
  };
  const twice = new Headers();
  twice.append("authorization", `Bearer ${KEY}`);
  twice.append("authorization", `Bearer ${KEY}`);
  const refused: [string, HeadersInit, RegExp][] = [
    ["no credentials", {}, /^an API key is required \(Authorization: Bearer or X-API-Key\)$/],
    [
      "another scheme",
      { authorization: `Token ${KEY}` },
      /unsupported Authorization scheme "Token" \(expected Bearer\)/,
    ],
    ["Basic", { authorization: "Basic dXNlcjpwYXNz" }, /unsupported Authorization scheme "Basic"/],
    ["extra words", { authorization: `Bearer ${KEY} extra` }, /malformed bearer token/],
    ["no token", { authorization: "Bearer" }, /has no bearer token/],
    ["two headers", twice, /several bearer credentials \(sent twice\?\)/],
    ["mixed schemes", { authorization: `Basic abc, Bearer ${KEY}` }, /several credentials/],
    [
      "keys that disagree",
      { authorization: `Bearer ${KEY}`, "x-api-key": "other-key-0123456789" },
      /conflicting credentials: Authorization: Bearer and X-API-Key carry different keys/,
    ],
    ["empty X-API-Key", { "x-api-key": " " }, /X-API-Key header is empty/],
    ["unknown key", { authorization: "Bearer wrong-key-0123456789" }, /^the API key is not valid$/],
  ];
  for (const [what, headers, reason] of refused) {
    const res = await post(headers);
    assert.equal(res.status, 401, what);
    assert.equal(res.body.code, "unauthorized", what);
    assert.match(res.body.error, reason, what);
    assert.equal(res.challenge, 'Bearer realm="fess"', what);
  }
  // The same key in both headers, and a proxy's Basic credentials next to X-API-Key, pass.
  assert.equal((await post({ authorization: `Bearer ${KEY}`, "x-api-key": KEY })).status, 200);
  assert.equal((await post({ authorization: `bearer  ${KEY} ` })).status, 200);
  assert.equal((await post({ authorization: "Basic dXNlcjpwYXNz", "x-api-key": KEY })).status, 200);
  // Open routes ignore other schemes, but a broken bearer credential is refused like a bad key.
  assert.equal((await post({ authorization: "Basic dXNlcjpwYXNz" }, "/open")).status, 200);
  const broken = await post({ authorization: `Bearer ${KEY} extra` }, "/open");
  assert.equal(broken.status, 401);
  assert.match(broken.body.error, /malformed bearer token/);
});

/** Sends a GET for `target` as written (no URL normalisation); returns status, Allow and body. */
async function rawGet(port: number, target: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = `GET ${target} HTTP/1.1\r\nHost: fess.test\r\nConnection: close\r\n\r\n`;
  await conn.write(new TextEncoder().encode(request));
  const text = await new Response(conn.readable).text();
  const [head = "", body = ""] = text.split("\r\n\r\n", 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const allow = /^allow: (.*)$/im.exec(head)?.[1] ?? null;
  return { status, allow, body };
}

Deno.test("a path with dot segments gets 400 with the reason, not a 405 for another path", async () => {
  const { router } = setup([]);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, router);
  try {
    const port = server.addr.port;
    // GET /x/../echo normalises to /echo, which takes POST only: the old answer was 405.
    for (
      const target of [
        "/x/../echo",
        "/open/../open",
        "/./open",
        "/open/.",
        "/open/x/..",
        "/x/%2e%2E/echo",
        "/x/.%2e/open",
        "/x/%2E/open",
      ]
    ) {
      const res = await rawGet(port, target);
      assert.equal(res.status, 400, `${target}: ${res.body}`);
      assert.equal(res.allow, null, target);
      const body = JSON.parse(res.body);
      assert.equal(body.code, "bad_request");
      assert.match(body.error, /has a dot segment \("\." or "\.\."\); send the normalised path/);
    }
    // Dots that are not whole segments, and dot segments in the query, are ordinary.
    for (const target of ["/open", "/open/...", "/open/.x", "/open/a..b", "/open?next=/../x"]) {
      assert.equal((await rawGet(port, target)).status, 200, target);
    }
    assert.equal((await rawGet(port, "/nothing/../here")).status, 400);
    const missing = await rawGet(port, "/nothing/here");
    assert.equal(missing.status, 404);
    const wrongMethod = await rawGet(port, "/echo");
    assert.deepEqual([wrongMethod.status, wrongMethod.allow], [405, "POST"]);
  } finally {
    await server.shutdown();
  }
});
