/**
 * The public listener against raw TCP clients: slow-loris headers and silent connections are
 * cut with a 408 within the header deadline; kept-alive connections carry several requests
 * (sized and chunked bodies) through the framing; idle ones are closed; shutdown finishes the
 * requests in flight.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { type FessServer, startServer } from "../shared/server/serve.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function serve(
  handler: (req: Request) => Response | Promise<Response>,
  opts: { headerTimeoutMs?: number; idleTimeoutMs?: number; shutdownGraceMs?: number } = {},
): FessServer {
  return startServer({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: opts.headerTimeoutMs ?? 400,
    idleTimeoutMs: opts.idleTimeoutMs ?? 400,
    shutdownGraceMs: opts.shutdownGraceMs ?? 5000,
    handler,
    logger: silentLogger,
  });
}

const echo = async (req: Request) => {
  const body = await req.arrayBuffer();
  return Response.json({ path: new URL(req.url).pathname, bytes: body.byteLength });
};

/** Reads until the peer closes; returns everything read and when it closed. */
async function readAll(conn: Deno.Conn): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const buf = new Uint8Array(65536);
  let text = "";
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      n = null;
    }
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return { text, ms: performance.now() - t0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("slow-loris headers (a byte at a time) are cut with 408 at the header deadline", async () => {
  const server = serve(echo, { headerTimeoutMs: 400 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = readAll(conn);
  const head = "GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: " + "a".repeat(200) + "\r\n\r\n";
  let sent = 0;
  const t0 = performance.now();
  try {
    for (const ch of head) {
      await conn.write(enc.encode(ch));
      sent++;
      await sleep(20);
      if (performance.now() - t0 > 3000) break;
    }
  } catch {
    // the server closed the connection while we were still sending
  }
  const { text } = await reply;
  const elapsed = performance.now() - t0;
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.match(text, /"code":"request_timeout"/);
  assert.ok(sent < head.length, "cut before the headers were complete");
  assert.ok(elapsed < 3000, `cut within the deadline (took ${Math.round(elapsed)} ms)`);
  conn.close();
  await server.shutdown();
});

Deno.test("a connection that sends nothing is cut with 408 at the header deadline", async () => {
  const server = serve(echo, { headerTimeoutMs: 300 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const { text, ms } = await readAll(conn);
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.ok(ms < 3000, `closed after ${Math.round(ms)} ms`);
  conn.close();
  await server.shutdown();
});

Deno.test("kept-alive connections carry sized and chunked requests, then close when idle", async () => {
  const server = serve(echo, { headerTimeoutMs: 2000, idleTimeoutMs: 500 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const body = "b".repeat(100_000);
  const chunked = "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n";
  // Three requests written at once (pipelined), sized, chunked and without a body.
  await conn.write(enc.encode(
    `POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      `POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
      `GET /three HTTP/1.1\r\nHost: a\r\n\r\n`,
  ));
  const { text, ms } = await readAll(conn);
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ["200", "200", "200"], text.slice(0, 400));
  assert.match(text, /"path":"\/one","bytes":100000/);
  assert.match(text, /"path":"\/two","bytes":8/);
  assert.match(text, /"path":"\/three","bytes":0/);
  assert.ok(ms < 4000, "the idle connection was closed");
  conn.close();
  await server.shutdown();
});

Deno.test("a second request's slow headers on a kept-alive connection are cut too", async () => {
  const server = serve(echo, { headerTimeoutMs: 300, idleTimeoutMs: 5000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = readAll(conn);
  await conn.write(enc.encode("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"));
  await sleep(100);
  try {
    for (const ch of "GET /second HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n") {
      await conn.write(enc.encode(ch));
      await sleep(30);
    }
  } catch {
    // closed by the server
  }
  const { text } = await reply;
  assert.match(text, /"path":"\/first"/);
  assert.match(text, /HTTP\/1\.1 408 /);
  assert.doesNotMatch(text, /"path":"\/second"/);
  conn.close();
  await server.shutdown();
});

Deno.test("shutdown closes the port at once and finishes the requests in flight", async () => {
  let started = 0;
  const server = serve(async (req) => {
    started++;
    await sleep(300);
    return await echo(req);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const inflight = Array.from(
    { length: 5 },
    (_, i) => fetch(`${url}/slow/${i}`, { method: "POST", body: "x".repeat(i * 10) }),
  );
  while (started < 5) await sleep(10);
  const stopping = server.shutdown();
  await sleep(20);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }).then((c) => c.close()),
  );
  const responses = await Promise.all(inflight);
  for (const [i, res] of responses.entries()) {
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { path: `/slow/${i}`, bytes: i * 10 });
  }
  assert.equal(await stopping, true, "every request finished within the grace period");
});
