import assert from "node:assert/strict";
import sharp from "sharp";
import { createLiveFeed } from "../shared/live/live_feed.ts";
import { withLiveFeed } from "../shared/live/live_publisher.ts";
import { recordingPublisher } from "./support/pipeline_fakes.ts";
import { alertEvent, motionEvent } from "./support/event_fixtures.ts";
import { createFramePreviewer, type FrameView } from "../shared/live/frame_preview.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";

const motion = (camera: string) => motionEvent(camera);
const alert = (camera: string) => alertEvent(camera);

Deno.test("a subscriber receives only the cameras and types it asked for", async () => {
  const feed = createLiveFeed();
  const sub = feed.subscribe({ cameraIds: ["cam-a"], types: ["alert"] })!;
  feed.offer(motion("cam-a"));
  feed.offer(alert("cam-b"));
  const wanted = alert("cam-a");
  feed.offer(wanted);
  const got = await sub.next();
  assert.deepEqual(got?.events.map((e) => e.event_id), [wanted.event_id]);
  assert.equal(got?.dropped, 0);
  sub.close();
  assert.equal(feed.subscribers, 0);
});

Deno.test("next waits for an event and wakes when one is offered", async () => {
  const feed = createLiveFeed();
  const sub = feed.subscribe({})!;
  const pending = sub.next();
  const e = motion("cam-a");
  setTimeout(() => feed.offer(e), 5);
  assert.equal((await pending)?.events[0]?.event_id, e.event_id);
  sub.close();
});

Deno.test("a slow subscriber keeps only the newest events and is told how many it missed", async () => {
  const feed = createLiveFeed({ maxQueue: 3 });
  const sub = feed.subscribe({})!;
  const events = Array.from({ length: 10 }, () => motion("cam-a"));
  for (const e of events) feed.offer(e);
  const got = await sub.next();
  assert.deepEqual(got?.events.map((e) => e.event_id), events.slice(7).map((e) => e.event_id));
  assert.equal(got?.dropped, 7);
  sub.close();
});

Deno.test("closing or aborting ends a waiting next with null; subscribers are bounded", async () => {
  const feed = createLiveFeed({ maxSubscribers: 1 });
  const sub = feed.subscribe({})!;
  assert.equal(feed.subscribe({}), null);
  const waiting = sub.next();
  sub.close();
  assert.equal(await waiting, null);
  const again = feed.subscribe({})!;
  const abort = new AbortController();
  const aborted = again.next(abort.signal);
  abort.abort();
  assert.equal(await aborted, null);
  again.close();
});

function bgrFrame(width: number, height: number): RawFrame {
  const data = new Uint8Array(width * height * 3);
  // Pure blue in BGR order: a JPEG of it must come out blue, proving the channel swap.
  for (let i = 0; i < data.length; i += 3) data[i] = 255;
  return { data, width, height, channels: 3, layout: "bgr" };
}

const view = (n: number): FrameView => ({
  frame_number: n,
  timestamp: new Date(0).toISOString(),
  width: 1280,
  height: 720,
  detections: [],
  motion: null,
  detection_ran: true,
});

Deno.test("a frame preview encodes nothing until watched, then serves a small JPEG of the newest frame", async () => {
  let t = 0;
  const previewer = createFramePreviewer({ maxWidth: 320, now: () => t });
  const state = previewer.createState();
  previewer.update(state, bgrFrame(1280, 720), view(1));
  assert.equal(state.frame, null, "an unwatched camera keeps no frame");
  assert.equal(await previewer.jpeg(state), null);
  t += 1000;
  previewer.update(state, bgrFrame(1280, 720), view(2));
  const jpeg = await previewer.jpeg(state);
  assert.ok(jpeg);
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 320);
  assert.equal(info.height, 180);
  assert.ok(
    data[2]! > 200 && data[0]! < 50,
    `expected blue, got rgb ${data[0]},${data[1]},${data[2]}`,
  );
  assert.equal(state.frame, null, "the raw frame is released once encoded");
  assert.equal(await previewer.jpeg(state), jpeg, "the same frame is not encoded twice");
  t += 60_000;
  previewer.update(state, bgrFrame(1280, 720), view(3));
  assert.equal(state.frame, null, "a camera not watched for watchMs keeps no frame again");
});

Deno.test("reading the camera list watches every camera, so their next frames are kept", async () => {
  let t = 0;
  const previewer = createFramePreviewer({ now: () => t });
  const a = previewer.createState();
  const b = previewer.createState();
  previewer.watchAll();
  t += 1000;
  previewer.update(a, bgrFrame(64, 48), view(1));
  previewer.update(b, bgrFrame(64, 48), view(1));
  assert.ok(await previewer.jpeg(a));
  assert.ok(await previewer.jpeg(b));
});

Deno.test("the live publisher offers only events its publisher accepted", async () => {
  const inner = recordingPublisher();
  const feed = createLiveFeed();
  const sub = feed.subscribe({})!;
  const live = withLiveFeed(inner, feed);
  const accepted = motion("cam-a");
  await live.publish(accepted);
  inner.full = true;
  await assert.rejects(() => live.publish(motion("cam-a")), /queue is full/);
  const got = await sub.next();
  assert.deepEqual(got?.events.map((e) => e.event_id), [accepted.event_id]);
  assert.equal(live.state, "connected");
  sub.close();
});

Deno.test("the live publisher offers the event as its publisher parsed it, never the caller's input", async () => {
  const feed = createLiveFeed();
  const sub = feed.subscribe({})!;
  const live = withLiveFeed(recordingPublisher(), feed);
  const { detections: _, ...input } = alert("cam-a") as Record<string, unknown>;
  const receipt = await live.publish(input);
  await assert.rejects(() => live.publish({ ...input, pad: "x" }), /Unrecognized key/);
  const got = await sub.next();
  assert.equal(got?.events.length, 1);
  assert.equal(
    got?.events[0],
    receipt.event,
    "the receipt's parsed event, not a copy of the input",
  );
  assert.notEqual(got?.events[0], input);
  assert.deepEqual(got?.events[0], { ...input, detections: [] });
  sub.close();
});

Deno.test("closing the feed ends every subscription; one asked for after is born closed", async () => {
  const feed = createLiveFeed();
  const a = feed.subscribe({})!;
  const b = feed.subscribe({ types: ["alert"] })!;
  const waiting = a.next();
  feed.close();
  assert.equal(await waiting, null);
  assert.equal(await b.next(), null);
  assert.equal(feed.subscribers, 0);
  const late = feed.subscribe({})!;
  feed.offer(motion("cam-a"));
  assert.equal(await late.next(), null);
  assert.equal(feed.subscribers, 0);
  feed.close();
});
