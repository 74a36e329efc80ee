/**
 * The public listener against raw TCP clients: slow-loris headers and silent connections are
 * cut with a 408 within the header deadline; kept-alive connections carry several requests
 * (sized and chunked bodies) through the framing; idle ones are closed, mid-body too; a
 * `Connection: close` response ends the connection though body bytes were due; Upgrade and
 * CONNECT keep every deadline and the HTTP/2 preface is refused; methods FESS does not serve,
 * Host headers that are not a host and oversized heads get FESS's JSON errors; shutdown
 * finishes the requests in flight.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { type FessServer, startServer } from "../shared/server/serve.ts";
import { exchange, parseResponses, readAll, writeAll } from "./support/raw_http.ts";

const enc = new TextEncoder();

function serve(
  handler: (req: Request) => Response | Promise<Response>,
  opts: {
    headerTimeoutMs?: number;
    idleTimeoutMs?: number;
    shutdownGraceMs?: number;
    maxConnections?: number;
  } = {},
): FessServer {
  return startServer({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: opts.headerTimeoutMs ?? 400,
    idleTimeoutMs: opts.idleTimeoutMs ?? 400,
    maxConnections: opts.maxConnections,
    shutdownGraceMs: opts.shutdownGraceMs ?? 5000,
    handler,
    logger: silentLogger,
  });
}

const echo = async (req: Request) => {
  const body = await req.arrayBuffer();
  return Response.json({ path: new URL(req.url).pathname, bytes: body.byteLength });
};

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

Deno.test("a Connection: close response ends the connection though body bytes were still due", async () => {
  // The idle timeout is far off: only the close after the response can end the connection.
  const server = serve(
    () => Response.json({ error: "too large" }, { status: 413, headers: { connection: "close" } }),
    { headerTimeoutMs: 2000, idleTimeoutMs: 60_000 },
  );
  const { text, capped } = await exchange(
    server.addr.port,
    "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      "Content-Length: 999999999\r\n\r\n",
  );
  assert.equal(capped, false, "the server closed the connection");
  const [res] = parseResponses(text);
  assert.equal(res?.status, 413, text);
  assert.match(res?.headers.connection ?? "", /close/);
  await server.shutdown();
});

Deno.test("a connection silent mid-body is closed at the idle timeout", async () => {
  const server = serve(echo, { headerTimeoutMs: 400, idleTimeoutMs: 400 });
  // The handler waits for a body that never comes; nobody else would end the connection.
  const { text, capped } = await exchange(
    server.addr.port,
    "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
  );
  assert.equal(capped, false, "the idle connection was closed");
  assert.equal(text, "");
  await server.shutdown();
});

Deno.test("Upgrade does not switch the header deadline off on later requests", async () => {
  const server = serve(echo, { headerTimeoutMs: 300, idleTimeoutMs: 5000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = readAll(conn);
  await writeAll(
    conn,
    "GET /first HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  await sleep(100);
  try {
    for (const ch of "GET /second HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n") {
      await conn.write(enc.encode(ch));
      await sleep(30);
    }
  } catch {
    // closed by the server
  }
  const { text, capped } = await reply;
  assert.equal(capped, false);
  assert.deepEqual(parseResponses(text).map((r) => r.status), [200, 408], text);
  assert.match(text, /"path":"\/first"/);
  assert.doesNotMatch(text, /"path":"\/second"/);
  conn.close();
  await server.shutdown();
});

Deno.test("the HTTP/2 preface is refused with GOAWAY (HTTP_1_1_REQUIRED) and a JSON reason", async () => {
  let calls = 0;
  const server = serve((req) => {
    calls++;
    return echo(req);
  });
  // The client preface, then an empty SETTINGS frame.
  const { bytes, capped } = await exchange(
    server.addr.port,
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
  );
  assert.equal(capped, false, "the connection was closed");
  const frames: { type: number; payload: Uint8Array }[] = [];
  for (let off = 0; off + 9 <= bytes.length;) {
    const length = (bytes[off]! << 16) | (bytes[off + 1]! << 8) | bytes[off + 2]!;
    frames.push({ type: bytes[off + 3]!, payload: bytes.subarray(off + 9, off + 9 + length) });
    off += 9 + length;
  }
  assert.deepEqual(frames.map((f) => f.type), [0x4, 0x7], "SETTINGS, then GOAWAY");
  const goaway = frames[1]!.payload;
  assert.equal(new DataView(goaway.buffer, goaway.byteOffset).getUint32(4), 0xd);
  const reason = JSON.parse(new TextDecoder().decode(goaway.subarray(8)));
  assert.equal(reason.code, "http_version_not_supported");
  assert.match(reason.error, /HTTP\/2 is not served/);
  assert.equal(calls, 0);
  await server.shutdown();
});

Deno.test("TRACE, TRACK, CONNECT and lower-case methods get 501 JSON; the handler never sees them", async () => {
  let calls = 0;
  const server = serve((req) => {
    calls++;
    return echo(req);
  });
  for (
    const [line, reason] of [
      ["TRACE /health HTTP/1.1", /method TRACE is not supported; FESS serves GET, HEAD/],
      ["TRACK /health HTTP/1.1", /method TRACK is not supported/],
      ["CONNECT a:80 HTTP/1.1", /method CONNECT is not supported/],
      ["trace /health HTTP/1.1", /method trace is not supported/],
      [
        "get /health HTTP/1.1",
        /method get is not supported \(methods are case-sensitive: use GET\)/,
      ],
      ["head /health HTTP/1.1", /method head is not supported .*use HEAD/],
      ["post /events HTTP/1.1", /method post is not supported .*use POST/],
    ] as const
  ) {
    const { text, capped } = await exchange(server.addr.port, `${line}\r\nHost: a\r\n\r\n`);
    assert.equal(capped, false, `${line}: closed`);
    const [res] = parseResponses(text);
    assert.equal(res?.status, 501, `${line}: ${text}`);
    assert.match(res?.headers.connection ?? "", /close/);
    const body = JSON.parse(res!.body);
    assert.equal(body.code, "not_implemented");
    assert.match(body.error, reason);
  }
  assert.equal(calls, 0);
  await server.shutdown();
});

Deno.test("a Host header that is not a host and port gets 400 JSON; valid ones are served", async () => {
  const server = serve(echo);
  const get = async (host: string | null, version = "1.1") => {
    const head = `GET /health/live HTTP/${version}\r\n` +
      (host === null ? "" : `Host: ${host}\r\n`) + "Connection: close\r\n\r\n";
    const { text } = await exchange(server.addr.port, head);
    const [res] = parseResponses(text);
    assert.ok(res, `${host}: ${text}`);
    return res;
  };
  const badHosts = ["x/faces?", "x/openapi.json#", "a b/c", "a\\b", "a@b", "a:99999", "a?"];
  // Shapes the URL parser refuses (handlers build `new URL(request.url)` from the Host).
  badHosts.push("a.1", "1.2.3.999", "[:::]", "[12345::]", "xn--a");
  for (const bad of badHosts) {
    const res = await get(bad);
    assert.equal(res.status, 400, `${bad}: ${res.body}`);
    const body = JSON.parse(res.body);
    assert.equal(body.code, "bad_request");
    assert.match(body.error, /invalid Host header/);
  }
  for (const good of ["example.com", "fess_api:8080", "10.0.0.1:80", "[::1]:8080", "", null]) {
    const res = await get(good, good === null ? "1.0" : "1.1");
    assert.equal(res.status, 200, `${good}: ${res.body}`);
    assert.equal(JSON.parse(res.body).path, "/health/live");
  }
  await server.shutdown();
});

Deno.test("oversized heads get 431 or 414 JSON from the listener, after earlier responses", async () => {
  const server = serve(echo, { headerTimeoutMs: 5000 });
  const big = await exchange(
    server.addr.port,
    "GET /first HTTP/1.1\r\nHost: a\r\n\r\n" +
      `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`,
  );
  assert.equal(big.capped, false);
  const [first, refused] = parseResponses(big.text);
  assert.equal(first?.status, 200);
  assert.equal(refused?.status, 431, big.text.slice(0, 300));
  assert.equal(JSON.parse(refused!.body).code, "request_header_fields_too_large");
  const uri = await exchange(server.addr.port, `GET /${"a".repeat(70_000)} HTTP/1.1\r\n\r\n`);
  const [long] = parseResponses(uri.text);
  assert.equal(long?.status, 414, uri.text.slice(0, 300));
  assert.equal(JSON.parse(long!.body).code, "uri_too_long");
  await server.shutdown();
});

Deno.test("HEAD, 100 Continue and chunked responses are framed: a later Connection: close still ends the connection", async () => {
  // The idle timeout is far off: the connection ends only if every response was framed right.
  const server = serve(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/stream") {
      const parts = ["one ", "two ", "three"];
      return new Response(
        new ReadableStream({
          async pull(c) {
            await sleep(10);
            const part = parts.shift();
            if (part === undefined) c.close();
            else c.enqueue(enc.encode(part));
          },
        }),
      );
    }
    if (path === "/refuse") {
      return Response.json({ refused: true }, { status: 413, headers: { connection: "close" } });
    }
    return await echo(req);
  }, { headerTimeoutMs: 5000, idleTimeoutMs: 60_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = readAll(conn);
  await writeAll(
    conn,
    "HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n" +
      "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n" +
      "POST /continue HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
  );
  await sleep(100);
  // The server itself would keep waiting for this body: only the guard ends the connection.
  await writeAll(conn, "abcPOST /refuse HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
  const { text, capped } = await reply;
  assert.equal(capped, false, `the connection was closed: ${text}`);
  assert.deepEqual(
    [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]),
    ["200", "200", "100", "200", "413"],
    text,
  );
  assert.match(text, /4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n/);
  assert.match(text, /"path":"\/continue","bytes":3/);
  assert.match(text, /"refused":true/);
  conn.close();
  await server.shutdown();
});

Deno.test("a client that half-closes after its requests still gets every response", async () => {
  // The handler answers after the client has closed its sending side.
  const server = serve(async (req) => {
    const body = await req.arrayBuffer();
    await sleep(300);
    return Response.json({ path: new URL(req.url).pathname, bytes: body.byteLength });
  }, { headerTimeoutMs: 5000, idleTimeoutMs: 5000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = readAll(conn);
  await writeAll(
    conn,
    "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
      "GET /two HTTP/1.1\r\nHost: a\r\n\r\n",
  );
  await conn.closeWrite();
  const { text } = await reply;
  const responses = parseResponses(text);
  assert.deepEqual(
    responses.map((r) => [r.status, JSON.parse(r.body).path]),
    [[200, "/one"], [200, "/two"]],
    text,
  );
  conn.close();
  await server.shutdown();
});

Deno.test("more than 100 header fields get 431 JSON from the listener; 100 are served", async () => {
  const server = serve(echo, { headerTimeoutMs: 5000 });
  const head = (fields: number) =>
    "GET /x HTTP/1.1\r\nHost: a\r\n" +
    Array.from({ length: fields - 1 }, (_, i) => `X-F${i}: ${i}\r\n`).join("") + "\r\n";
  const [ok] = parseResponses((await exchange(server.addr.port, head(100))).text);
  assert.equal(ok?.status, 200, "100 fields, Host included");
  const { text } = await exchange(server.addr.port, head(101));
  const [refused] = parseResponses(text);
  assert.equal(refused?.status, 431, text);
  assert.equal(JSON.parse(refused!.body).code, "request_header_fields_too_large");
  assert.match(JSON.parse(refused!.body).error, /more than 100 request header fields/);
  await server.shutdown();
});

Deno.test("past server.max_connections a connection gets 503 JSON with Retry-After and is closed", async () => {
  const server = serve(echo, { headerTimeoutMs: 5000, idleTimeoutMs: 5000, maxConnections: 2 });
  const port = server.addr.port;
  const held = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  // Accepted in order, so the third is past the limit however long the first two took.
  const { text } = await exchange(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  const [busy] = parseResponses(text);
  assert.equal(busy?.status, 503, text);
  assert.equal(busy!.headers["retry-after"], "1");
  assert.equal(JSON.parse(busy!.body).code, "too_many_connections");
  // A held connection that leaves makes room (once its relay has wound down).
  held.pop()!.close();
  let served: number | undefined;
  for (const until = Date.now() + 5000; served !== 200 && Date.now() < until; await sleep(50)) {
    const { text } = await exchange(
      port,
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    served = parseResponses(text)[0]?.status;
  }
  assert.equal(served, 200);
  for (const c of held) c.close();
  await server.shutdown();
});
