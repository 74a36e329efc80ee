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
