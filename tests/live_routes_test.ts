/**
 * The live page's routes through the real API middleware: the event stream (SSE framing,
 * filters, scope, unsubscribe on disconnect), the camera list and frame JPEGs, and the page's
 * static files.
 */
import assert from "node:assert/strict";
import { createCamerasHandler } from "../functions/cameras.ts";
import { createPageHandler } from "../functions/page.ts";
import { createStreamHandler } from "../functions/stream.ts";
import { createLiveFeed } from "../shared/live/live_feed.ts";
import { mountApi } from "./support/api.ts";
import { alertEvent, motionEvent } from "./support/event_fixtures.ts";

const ADMIN = "admin-key-0123456789abcdef";
const CAMERA_KEY = "camera-key-0123456789abcdef";
const keys = [ADMIN, { key: CAMERA_KEY, scopes: ["detect" as const], name: "cam" }];

const motion = (camera: string) => motionEvent(camera);
const alert = (camera: string) => alertEvent(camera);

/** Reads SSE text until `until` matches or the stream ends. */
async function readUntil(res: Response, until: RegExp): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!until.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return text;
}

Deno.test("the event stream sends accepted events as SSE, filtered by camera and type, and unsubscribes when the client goes", async () => {
  const feed = createLiveFeed();
  const api = mountApi({ keys }, createStreamHandler({ feed, heartbeatMs: 50 }));
  const res = await api(
    new Request("http://fess/events/stream?camera_id=cam-a&type=alert", {
      headers: { "x-api-key": ADMIN },
    }),
  );
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  assert.equal(feed.subscribers, 1);
  const wanted = alert("cam-a");
  setTimeout(() => {
    feed.offer(motion("cam-a"));
    feed.offer(alert("cam-b"));
    feed.offer(wanted);
  }, 120);
  const text = await readUntil(res, /event: alert/);
  assert.match(text, /: ping/, "heartbeats keep the connection");
  assert.match(text, new RegExp(`id: ${wanted.event_id}\nevent: alert\ndata: \\{`));
  assert.doesNotMatch(text, /motion_detection|cam-b/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(feed.subscribers, 0, "a cancelled stream unsubscribes");
});

Deno.test("the event stream needs the events scope and refuses an unknown type", async () => {
  const feed = createLiveFeed();
  const api = mountApi({ keys }, createStreamHandler({ feed }));
  const noKey = await api(new Request("http://fess/events/stream"));
  assert.equal(noKey.status, 401);
  await noKey.body?.cancel();
  const camera = await api(
    new Request("http://fess/events/stream", { headers: { "x-api-key": CAMERA_KEY } }),
  );
  assert.equal(camera.status, 403);
  await camera.body?.cancel();
  const bad = await api(
    new Request("http://fess/events/stream?type=nonsense", { headers: { "x-api-key": ADMIN } }),
  );
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /nonsense/);
  assert.equal(feed.subscribers, 0);
});

Deno.test("HEAD on the event stream answers its headers without holding a subscriber slot", async () => {
  const feed = createLiveFeed({ maxSubscribers: 4 });
  const api = mountApi({ keys }, createStreamHandler({ feed, heartbeatMs: 50 }));
  const request = (method: string) =>
    new Request("http://fess/events/stream?type=alert", {
      method,
      headers: { "x-api-key": ADMIN },
    });
  for (let i = 0; i < 10; i++) {
    const head = await api(request("HEAD"));
    assert.equal(head.status, 200);
    assert.match(head.headers.get("content-type")!, /^text\/event-stream/);
    assert.equal(head.body, null);
  }
  assert.equal(feed.subscribers, 0, "HEAD subscribes to nothing");
  const res = await api(request("GET"));
  assert.equal(res.status, 200, "a GET after many HEADs still gets a slot");
  const wanted = alert("cam-a");
  setTimeout(() => feed.offer(wanted), 20);
  const text = await readUntil(res, /event: alert/);
  assert.match(text, new RegExp(`id: ${wanted.event_id}`));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(feed.subscribers, 0);
});

Deno.test("clients that go before reading the served stream release their slots and heartbeats", async () => {
  const feed = createLiveFeed({ maxSubscribers: 3 });
  // No heartbeat within the test: a failed heartbeat write would release a slot as well.
  const api = mountApi({ keys }, createStreamHandler({ feed, heartbeatMs: 600_000 }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, api);
  const waitFor = async (what: string, done: () => boolean) => {
    for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(done(), what);
  };
  try {
    // Raw connections that send a request and close without reading a byte of the answer.
    for (let round = 0; round < 3; round++) {
      const conns = [];
      for (let i = 0; i < 3; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
        await conn.write(
          new TextEncoder().encode(
            `GET /events/stream HTTP/1.1\r\nhost: fess\r\nx-api-key: ${ADMIN}\r\n\r\n`,
          ),
        );
        conns.push(conn);
      }
      await waitFor("every request reached the handler", () => feed.subscribers === 3);
      for (const conn of conns) conn.close();
      await waitFor("gone clients unsubscribe", () => feed.subscribers === 0);
    }
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/events/stream`, {
      headers: { "x-api-key": ADMIN },
    });
    assert.equal(res.status, 200, "slots are free again");
    await res.body?.cancel();
    await waitFor("a cancelled fetch unsubscribes", () => feed.subscribers === 0);
  } finally {
    await server.shutdown();
  }
  // Deno's sanitizer fails this test if a heartbeat interval is left running.
});

Deno.test("the event stream refuses invalid or empty camera filters with 400 and a reason", async () => {
  const feed = createLiveFeed();
  const api = mountApi({ keys }, createStreamHandler({ feed }));
  const cases: [string, RegExp][] = [
    ["camera_id=../x", /camera_id "\.\.\/x" is not allowed: camera_id must be 1-64/],
    ["camera_id=%00", /camera_id "\\u0000" is not allowed/],
    ["camera_id=caf%C3%A9", /camera_id "café" is not allowed/],
    ["camera_id=cam-a,cam%20b", /camera_id "cam b" is not allowed/],
    ["camera_id=" + "a".repeat(65), /is not allowed/],
    ["camera_id=,,,,", /camera_id has an empty entry/],
    ["camera_id=cam-a,", /camera_id has an empty entry/],
    ["camera_id=", /camera_id has an empty entry/],
    ["type=alert,,", /type has an empty entry/],
  ];
  for (const [query, reason] of cases) {
    const res = await api(
      new Request(`http://fess/events/stream?${query}`, { headers: { "x-api-key": ADMIN } }),
    );
    assert.equal(res.status, 400, query);
    const body = await res.json();
    assert.equal(body.code, "bad_request", query);
    assert.match(body.error, reason, query);
  }
  assert.equal(feed.subscribers, 0);
  const ok = await api(
    new Request("http://fess/events/stream?camera_id=cam-a,%20cam.b_2", {
      headers: { "x-api-key": ADMIN },
    }),
  );
  assert.equal(ok.status, 200);
  assert.equal(feed.subscribers, 1);
  await ok.body?.cancel();
  assert.equal(feed.subscribers, 0);
});

Deno.test("the camera list and frame JPEG routes serve the pipeline's cameras behind the events scope", async () => {
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
  const api = mountApi(
    { keys },
    createCamerasHandler({
      cameras: {
        list: () => [{
          camera_id: "cam-a",
          fps: 5,
          motion: { detected: true, score: 0.1 },
          last_frame: null,
          last_alert: null,
          frame_url: "/cameras/cam-a/frame.jpg",
        }],
        frameJpeg: (id) => Promise.resolve(id === "cam-a" ? jpeg : null),
      },
    }),
  );
  const get = (path: string, key = ADMIN) =>
    api(new Request(`http://fess${path}`, { headers: { "x-api-key": key } }));
  const list = await get("/cameras");
  assert.equal(list.status, 200);
  assert.equal((await list.json()).cameras[0].camera_id, "cam-a");
  const frame = await get("/cameras/cam-a/frame.jpg");
  assert.equal(frame.headers.get("content-type"), "image/jpeg");
  assert.deepEqual(new Uint8Array(await frame.arrayBuffer()), jpeg);
  const none = await get("/cameras/cam-b/frame.jpg");
  assert.equal(none.status, 404);
  await none.body?.cancel();
  const refused = await get("/cameras", CAMERA_KEY);
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
});

Deno.test("the page and its assets are served from ui/ with a same-origin content policy", async () => {
  const api = mountApi({ keys }, createPageHandler());
  const page = await api(new Request("http://fess/"));
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy")!, /default-src 'self'/);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/ui\/app.js">/);
  assert.doesNotMatch(html, /https?:\/\//, "no external resources");
  for (const [asset, type] of [["app.js", /javascript/], ["app.css", /css/]] as const) {
    const res = await api(new Request(`http://fess/ui/${asset}`));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, type);
    assert.doesNotMatch(
      await res.text(),
      /https?:\/\/(?!localhost)/,
      `${asset} loads nothing external`,
    );
  }
  const missing = await api(new Request("http://fess/ui/secret.txt"));
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("closing the feed (the server draining) ends an open event stream", async () => {
  const feed = createLiveFeed();
  const api = mountApi({ keys }, createStreamHandler({ feed, heartbeatMs: 60_000 }));
  const res = await api(
    new Request("http://fess/events/stream", { headers: { "x-api-key": ADMIN } }),
  );
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.match((await reader.read()).value ?? "", /^: connected/);
  const ended = (async () => {
    while (!(await reader.read()).done);
  })();
  feed.close();
  await ended; // the body closes, so the response completes and the connection can finish
  assert.equal(feed.subscribers, 0);
});
