/**
 * The body guard on the real application middleware (`createApi`) behind the real listener,
 * against raw TCP clients: uploads must keep up the minimum rate (a stalled or too slow one is
 * cut at the rate, not after the time a whole body would take), honest slow uploads pass,
 * repeated equal `Content-Length` headers count once, a client leaving mid-body is its own
 * fault (499, logged below error), and methods the Fetch API forbids or folds never become a
 * 500.
 */
import assert from "node:assert/strict";
import { createRoute, z } from "@hono/zod-openapi";
import { parseContentLength } from "../functions/middleware/body_guard.ts";
import { createRoutes, errorResponses } from "../functions/openapi.ts";
import { BadRequestError } from "../shared/errors.ts";
import { readBodyBytes } from "../shared/http.ts";
import { createLogger } from "../shared/logger.ts";
import { type FessServer, startServer } from "../shared/server/serve.ts";
import { mountApi } from "./support/api.ts";
import { exchange, parseResponses, readAll, writeAll } from "./support/raw_http.ts";

const LIMIT = 1 << 20;

/** POST /upload counts the body; GET /open answers without one. */
function routes() {
  const ok = {
    ...errorResponses([]),
    200: {
      description: "ok",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
    },
  };
  return createRoutes()
    .openapi(
      createRoute({ method: "post", path: "/upload", responses: ok }),
      async (c) => c.json({ bytes: (await readBodyBytes(c.req.raw, LIMIT)).byteLength }, 200),
    )
    .openapi(
      createRoute({ method: "get", path: "/open", responses: ok }),
      (c) => c.json({ ok: true }, 200),
    );
}

interface Served {
  readonly server: FessServer;
  readonly port: number;
  readonly logs: string[];
}

/** The app behind the listener; the listener's own deadlines are far off. */
function serve(body: { readTimeoutMs: number; minBodyBytesPerSecond: number }): Served {
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", sink: (l) => logs.push(l) });
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
    shutdownGraceMs: 5000,
    handler: mountApi({ logger, bodyLimitBytes: LIMIT, ...body }, routes()),
    logger,
  });
  return { server, port: server.addr.port, logs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a stalled chunked upload is cut with 408 after read_timeout_ms, not after a whole body's worth", async () => {
  // The whole-body deadline would be 1 s + 1 MiB at 1000 B/s: over 17 minutes.
  const { server, port } = serve({ readTimeoutMs: 1000, minBodyBytesPerSecond: 1000 });
  const { text, capped } = await exchange(
    port,
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n",
  );
  assert.equal(capped, false, "the connection was closed");
  const [res] = parseResponses(text);
  assert.equal(res?.status, 408, text);
  const body = JSON.parse(res!.body);
  assert.equal(body.code, "request_timeout");
  // A stall, or on a loaded box (the one byte late) the rate: either names the bytes.
  assert.match(body.error, /^request body (stalled|too slow): .*1 of unknown bytes arrived/);
  assert.equal(body.detail.received_bytes, 1);
  assert.equal(body.detail.min_bytes_per_second, 1000);
  await server.shutdown();
});

Deno.test("an upload that keeps sending below the minimum rate is cut with 408 naming the rate", async () => {
  // 10 bytes every 100 ms (100 B/s) against a minimum of 1000 B/s; the whole-body deadline
  // would be 500 ms + 100 s.
  const { server, port } = serve({ readTimeoutMs: 500, minBodyBytesPerSecond: 1000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reply = readAll(conn);
  await writeAll(conn, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
  try {
    for (let i = 0; i < 100; i++) {
      await writeAll(conn, "0123456789");
      await sleep(100);
    }
  } catch {
    // closed by the server
  }
  const { text, capped } = await reply;
  assert.equal(capped, false, "the connection was closed");
  const [res] = parseResponses(text);
  assert.equal(res?.status, 408, text);
  const body = JSON.parse(res!.body);
  assert.match(body.error, /request body too slow: \d+ of 100000 bytes arrived in [\d.]+ s/);
  assert.match(body.error, /below the minimum of 1000 bytes\/s after the first 500 ms/);
  assert.ok(body.detail.received_bytes < 1000, JSON.stringify(body.detail));
  conn.close();
  await server.shutdown();
});

Deno.test("an honest slow upload that keeps the minimum rate is read whole", async () => {
  // 500 bytes every 100 ms: five times the minimum, with gaps well inside read_timeout_ms.
  const { server, port } = serve({ readTimeoutMs: 1000, minBodyBytesPerSecond: 1000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reply = readAll(conn);
  await writeAll(
    conn,
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
  );
  for (let i = 0; i < 20; i++) {
    await writeAll(conn, `1f4\r\n${"x".repeat(500)}\r\n`);
    await sleep(100);
  }
  await writeAll(conn, "0\r\n\r\n");
  const { text } = await reply;
  const [res] = parseResponses(text);
  assert.equal(res?.status, 200, text);
  assert.deepEqual(JSON.parse(res!.body), { bytes: 10_000 });
  conn.close();
  await server.shutdown();
});

Deno.test("repeated equal Content-Length headers count as one", async () => {
  const { server, port } = serve({ readTimeoutMs: 1000, minBodyBytesPerSecond: 1000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reply = readAll(conn);
  await writeAll(
    conn,
    "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\nContent-Length: 20000\r\n" +
      `Connection: close\r\n\r\n${"x".repeat(10_000)}`,
  );
  // The rest a little later: the body is read over time, not in one go.
  await sleep(100);
  await writeAll(conn, "x".repeat(10_000));
  const { text } = await reply;
  const [res] = parseResponses(text);
  assert.equal(res?.status, 200, text);
  assert.deepEqual(JSON.parse(res!.body), { bytes: 20_000 });
  conn.close();
  await server.shutdown();
});

Deno.test("Content-Length values: one integer, or equal repeats; anything else is 400", () => {
  assert.equal(parseContentLength(null), null);
  assert.equal(parseContentLength("48210"), 48210);
  assert.equal(parseContentLength("48210, 48210"), 48210);
  assert.equal(parseContentLength("0"), 0);
  for (const bad of ["48210, 48211", "-1", "1.5", "abc", "", "5,", "1e3", "99999999999999999"]) {
    const err = parseContentLength(bad);
    assert.ok(err instanceof BadRequestError, bad);
    assert.match(err.message, /invalid Content-Length header/);
  }
});

Deno.test("a client that leaves mid-body is logged as its own fault (499), not as a server error", async () => {
  const { server, port, logs } = serve({ readTimeoutMs: 5000, minBodyBytesPerSecond: 1000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
  await sleep(200);
  conn.close();
  for (let i = 0; i < 100 && !logs.some((l) => l.includes('"request rejected"')); i++) {
    await sleep(50);
  }
  const rejected = logs.find((l) => l.includes('"request rejected"'));
  assert.ok(rejected, logs.join("\n"));
  assert.equal(JSON.parse(rejected).status, 499);
  assert.ok(!logs.some((l) => JSON.parse(l).level === "error"), logs.join("\n"));
  await server.shutdown();
});

Deno.test("methods the Fetch API forbids or folds never become a 500 behind the app", async () => {
  const { server, port, logs } = serve({ readTimeoutMs: 1000, minBodyBytesPerSecond: 1000 });
  for (const method of ["TRACE", "TRACK", "trace", "get", "head", "post"]) {
    const { text } = await exchange(port, `${method} /open HTTP/1.1\r\nHost: a\r\n\r\n`);
    const [res] = parseResponses(text);
    assert.equal(res?.status, 501, `${method}: ${text}`);
    assert.equal(JSON.parse(res!.body).code, "not_implemented");
  }
  const get = await exchange(port, "GET /open HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  assert.equal(parseResponses(get.text)[0]?.status, 200);
  assert.ok(!logs.some((l) => JSON.parse(l).level === "error"), logs.join("\n"));
  await server.shutdown();
});
