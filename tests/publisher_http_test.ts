/**
 * `POST /events` through the real router: status codes for accepted, delivered, pending,
 * invalid, oversized (body and event), wrong content type and full-log requests.
 */
import assert from "node:assert/strict";
import { createEventsHandler } from "../functions/events.ts";
import { silentLogger } from "../shared/logger.ts";
import { createEventLogSink } from "../shared/events/event_log_sink.ts";
import { createPublisher, type Publisher } from "../shared/events/publisher.ts";
import type { MessageSink } from "../shared/events/types.ts";
import { mountApi } from "./support/api.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { motionEvent } from "./support/event_fixtures.ts";

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
