/**
 * `POST /events` through the real router: status codes for accepted, delivered, pending,
 * invalid (unknown fields, times out of the window, foreign snapshot URLs), oversized (body
 * and event), wrong content type and full-log requests; the live feed gets the accepted event.
 */
import assert from "node:assert/strict";
import { createEventsHandler, EVENTS_BODY_LIMIT_BYTES } from "../functions/events.ts";
import { silentLogger } from "../shared/logger.ts";
import { createEventLogSink } from "../shared/events/event_log_sink.ts";
import { createPublisher, type Publisher } from "../shared/events/publisher.ts";
import type { MessageSink } from "../shared/events/types.ts";
import { mountApi } from "./support/api.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { alertEvent, motionEvent } from "./support/event_fixtures.ts";
import { createLiveFeed } from "../shared/live/live_feed.ts";
import { withLiveFeed } from "../shared/live/live_publisher.ts";

function app(publisher: Publisher, bodyLimitBytes = 64 * 1024) {
  const handler = createEventsHandler({ publisher, logger: silentLogger, bodyLimitBytes });
  return mountApi({ bodyLimitBytes: 1 << 20 }, handler);
}

function post(body: unknown, query = "", type = "application/json"): Request {
  return new Request(`http://fess/events${query}`, {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function withLog(fn: (publisher: Publisher, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fess-publish-http-" });
  const publisher = createPublisher({
    sink: createEventLogSink({ path: `${dir}/events.jsonl`, logger: silentLogger }),
    wal: createWriteAheadLog({ dir: `${dir}/wal`, logger: silentLogger }),
    logger: silentLogger,
    maxEventBytes: 4_000,
  });
  await publisher.start();
  try {
    await fn(publisher, dir);
  } finally {
    await publisher.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("POST /events answers 202 with event_id and topic; ?wait=true answers 200 with the offset", () =>
  withLog(async (publisher) => {
    const handle = app(publisher);
    const e = motionEvent("cam-h", 7);
    const res = await handle(post(e));
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), {
      event_id: e.event_id,
      event_type: "motion_detection",
      topic: "motion.detection.events",
      status: "accepted",
    });
    const e2 = motionEvent("cam-h", 8);
    const waited = await handle(post(e2, "?wait=true"));
    assert.equal(waited.status, 200);
    const body = await waited.json();
    assert.equal(body.status, "delivered");
    assert.equal(body.event_id, e2.event_id);
    assert.equal(body.offset, "1");
  }));

Deno.test("POST /events rejects invalid events (422 with issues), bad JSON (400), non-JSON (415), big bodies and events (413)", () =>
  withLog(async (publisher) => {
    const handle = app(publisher, 6_000);
    const invalid = await handle(post({ ...motionEvent(), motion_score: 7 }));
    assert.equal(invalid.status, 422);
    const body = await invalid.json();
    assert.equal(body.code, "validation_failed");
    assert.deepEqual(body.detail.issues.map((i: { path: string }) => i.path), ["motion_score"]);

    assert.equal((await handle(post("{nope"))).status, 400);
    assert.equal((await handle(post(motionEvent(), "", "text/plain"))).status, 415);
    assert.equal((await handle(post(motionEvent("cam-1", 0, 7_000)))).status, 413, "body limit");
    const big = await handle(post(motionEvent("cam-1", 0, 5_000)));
    assert.equal(big.status, 413, "event limit");
    const refusal = await big.json();
    assert.equal(refusal.code, "event_too_large");
    assert.equal(refusal.detail.limit_bytes, 4_000);
    assert.ok(refusal.detail.size_bytes > 4_000);
    assert.equal((await handle(post(motionEvent(), "?wait=maybe"))).status, 400);
    const get = await handle(new Request("http://fess/events"));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    assert.equal(
      (await handle(new Request("http://fess/events/x", { method: "POST" }))).status,
      404,
    );
    assert.equal(publisher.queued, 0);
  }));

Deno.test("POST /events answers 429 when the write-ahead log is full", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-publish-http-" });
  const stuck: MessageSink = {
    kind: "stuck",
    state: "connected",
    connect: () => Promise.resolve(),
    send: () => new Promise(() => {}),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const publisher = createPublisher({
    sink: stuck,
    wal: createWriteAheadLog({ dir, logger: silentLogger }),
    logger: silentLogger,
    maxWalBytes: 1_000,
    closeTimeoutMs: 10,
  });
  await publisher.start();
  try {
    const handle = app(publisher);
    const first = await handle(post(motionEvent("cam-1", 0, 1_200)));
    assert.equal(first.status, 202);
    await first.body?.cancel();
    const second = await handle(post(motionEvent()));
    assert.equal(second.status, 429);
    assert.equal((await second.json()).code, "too_many_requests");
  } finally {
    await publisher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("POST /events?wait=true answers 202 pending when the broker is down; the event stays in the log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-publish-http-" });
  const down: MessageSink = {
    kind: "down",
    state: "disconnected",
    connect: () => Promise.reject(new Error("refused")),
    send: () => Promise.reject(new Error("refused")),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const publisher = createPublisher({
    sink: down,
    wal: createWriteAheadLog({ dir, logger: silentLogger }),
    logger: silentLogger,
    retryBackoffMs: 60_000,
    closeTimeoutMs: 10,
  });
  await publisher.start();
  try {
    const handler = mountApi(
      { bodyLimitBytes: 1 << 20 },
      createEventsHandler({ publisher, logger: silentLogger, waitTimeoutMs: 50 }),
    );
    const res = await handler(post(motionEvent(), "?wait=true"));
    assert.equal(res.status, 202);
    assert.equal((await res.json()).status, "pending");
    assert.equal(publisher.queued, 1);
  } finally {
    await publisher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("POST /events keeps its own 1 MiB body limit under a larger server limit (413)", () =>
  withLog(async (publisher) => {
    const handle = mountApi(
      { bodyLimitBytes: 16 << 20 },
      createEventsHandler({ publisher, logger: silentLogger }),
    );
    const padded = JSON.stringify({ ...alertEvent(), pad: "x".repeat(2 << 20) });
    const declared = await handle(post(padded));
    assert.equal(declared.status, 413);
    const body = await declared.json();
    assert.equal(body.code, "payload_too_large");
    assert.equal(body.detail.limit_bytes, EVENTS_BODY_LIMIT_BYTES);
    // Chunked, with no declared length: cut once the count passes the limit.
    const bytes = new TextEncoder().encode(padded);
    const streamed = await handle(
      new Request("http://fess/events", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new ReadableStream({
          start(c) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) {
              c.enqueue(bytes.subarray(i, i + 65536));
            }
            c.close();
          },
        }),
      }),
    );
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();
    assert.equal(publisher.queued, 0);
  }));

Deno.test("POST /events refuses unknown fields with 422 naming them; the live feed gets exactly the accepted event", () =>
  withLog(async (inner, dir) => {
    const feed = createLiveFeed();
    const sub = feed.subscribe({})!;
    const publisher = withLiveFeed(inner, feed);
    const handle = app(publisher);
    const base = alertEvent("cam-l", 1) as Record<string, unknown>;
    for (const extra of ['"pad":"xxxxxxxx"', '"zzz":1', '"__proto__":{"admin":true}']) {
      const json = JSON.stringify(base).replace(/^\{/, `{${extra},`);
      const res = await handle(post(json));
      assert.equal(res.status, 422, extra);
      const body = await res.json();
      const key = extra.slice(1, extra.indexOf('"', 1));
      assert.ok(
        body.detail.issues.some((i: { message: string }) => i.message.includes(key)),
        `${extra}: ${JSON.stringify(body.detail.issues)}`,
      );
    }
    // Accepted: no detections given, so the schema's default fills them in.
    const { detections: _, ...sent } = base;
    const res = await handle(post(sent));
    assert.equal(res.status, 202, await res.clone().text());
    await res.body?.cancel();
    const got = await sub.next();
    sub.close();
    assert.equal(got?.events.length, 1, "only the accepted event reaches the feed");
    await inner.flush();
    const logged = (await Deno.readTextFile(`${dir}/events.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l).event);
    assert.deepEqual(logged, [got!.events[0]], "the feed and the log carry the same event");
    assert.deepEqual(got!.events[0], { ...sent, detections: [] });
  }));

Deno.test("POST /events refuses event times outside the skew window, and foreign snapshot URLs (422)", () =>
  withLog(async (publisher) => {
    const handle = mountApi(
      { bodyLimitBytes: 1 << 20 },
      createEventsHandler({ publisher, logger: silentLogger, timestampSkewSeconds: 3600 }),
    );
    const refused = async (event: unknown) => {
      const res = await handle(post(event));
      assert.equal(res.status, 422);
      const body = await res.json();
      assert.equal(body.code, "validation_failed");
      return body.detail.issues as { path: string; message: string }[];
    };
    const e = alertEvent();
    const old = new Date(Date.now() - 2 * 3600_000).toISOString();
    const stale = await refused({ ...e, timestamp: old });
    assert.deepEqual(stale.map((i) => i.path), ["timestamp"]);
    assert.match(stale[0]!.message, /not within 3600 s of now/);
    const future = new Date(Date.now() + 2 * 3600_000).toISOString();
    assert.deepEqual((await refused({ ...e, captured_at: future })).map((i) => i.path), [
      "captured_at",
    ]);
    for (const ts of ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]) {
      assert.deepEqual((await refused({ ...e, timestamp: ts })).map((i) => i.path), ["timestamp"]);
    }
    // Every problem is listed, not only the time.
    const both = await refused({ ...e, timestamp: old, severity: "apocalyptic" });
    assert.deepEqual(both.map((i) => i.path).sort(), ["severity", "timestamp"]);
    for (
      const url of [
        "https://attacker.example/x",
        "javascript:alert(1)",
        // The right route on another host: readers would send it their API key.
        `https://attacker.example/snapshots/${e.event_id}`,
      ]
    ) {
      const issues = await refused({ ...e, snapshot_url: url });
      assert.deepEqual(issues.map((i) => i.path), ["snapshot_url"], url);
    }
    const near = new Date(Date.now() - 60_000).toISOString();
    const ok = await handle(
      post({ ...e, timestamp: near, captured_at: near, snapshot_url: `/snapshots/${e.event_id}` }),
    );
    assert.equal(ok.status, 202);
    await ok.body?.cancel();
    assert.equal(publisher.queued, 1);
  }));

Deno.test("POST /events takes an alert's snapshot_url only as this service builds it from snapshots.base_url", () =>
  withLog(async (publisher) => {
    const base = "https://fess.example/cctv";
    const handle = mountApi(
      { bodyLimitBytes: 1 << 20 },
      createEventsHandler({ publisher, logger: silentLogger, snapshotBaseUrl: base }),
    );
    const e = alertEvent();
    const statusOf = async (url: (id: string) => string | null) => {
      const id = crypto.randomUUID();
      const res = await handle(post({ ...e, event_id: id, snapshot_url: url(id) }));
      const body = await res.json();
      return res.status === 422 ? body.detail.issues as { message: string }[] : res.status;
    };
    assert.equal(await statusOf((id) => `${base}/snapshots/${id}`), 202);
    assert.equal(await statusOf(() => null), 202, "no snapshot is fine");
    const bare = await statusOf((id) => `/snapshots/${id}`);
    assert.ok(Array.isArray(bare) && bare.length === 1, JSON.stringify(bare));
    assert.match(
      bare[0]!.message,
      /must be this service's snapshot of the alert, "https:\/\/fess\.example\/cctv\/snapshots\//,
    );
  }));
