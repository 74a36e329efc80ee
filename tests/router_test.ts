import assert from "node:assert/strict";
import {
  createRouter,
  type Handler,
  REQUEST_ID_HEADER,
  requireMethod,
} from "../functions/router.ts";
import { createAuthenticator } from "../shared/auth.ts";
import { BadRequestError, ServiceUnavailableError } from "../shared/errors.ts";
import { jsonResponse, readBodyBytes, readJson } from "../shared/http.ts";
import { createLogger, type Logger } from "../shared/logger.ts";
import { z } from "zod";

const KEY = "test-key-0123456789abcdef";

function setup(keys: string[] = [KEY], limit = 1024) {
  const lines: string[] = [];
  const logger: Logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const echo: Handler = async (req) => {
    requireMethod(req, ["POST"]);
    const body = await readBodyBytes(req, limit);
    return jsonResponse({ bytes: body.byteLength });
  };
  const schema = z.object({ n: z.number().int() });
  const router = createRouter({
    logger,
    authenticator: createAuthenticator(keys),
    bodyLimitBytes: limit,
    mounts: [
      {
        prefix: "/open",
        handler: () => Promise.resolve(jsonResponse({ ok: true })),
        protected: false,
      },
      { prefix: "/echo", handler: echo, protected: true },
      {
        prefix: "/json",
        handler: async (req) => jsonResponse(await readJson(req, schema, limit)),
        protected: false,
      },
      {
        prefix: "/boom",
        handler: () => Promise.reject(new Error("secret internal detail")),
        protected: false,
      },
      {
        prefix: "/down",
        handler: () => Promise.reject(new ServiceUnavailableError("redis is down")),
        protected: false,
      },
      {
        prefix: "/bad",
        handler: () => Promise.reject(new BadRequestError("nope", { detail: { field: "x" } })),
        protected: false,
      },
    ],
  });
  return { router, lines };
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

Deno.test("a prefix matches itself and sub-paths, not look-alikes", async () => {
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
  await res.body?.cancel();
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
