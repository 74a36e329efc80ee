/**
 * Unit tests of the publisher over a fake sink: validation, routing, keys and headers,
 * backpressure, spooling while the sink is down and ordered replay when it returns, shutdown.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createPublisher } from "../shared/events/publisher.ts";
import { createSpool } from "../shared/events/spool.ts";
import type {
  ConnectionState,
  DeliveryReport,
  MessageSink,
  OutgoingMessage,
} from "../shared/events/types.ts";
import { alertEvent, faceEvent, motionEvent, statusEvent } from "./support/event_fixtures.ts";

interface FakeSink extends MessageSink {
  up: boolean;
  /** When set, sends wait for it. */
  gate: Promise<void> | null;
  readonly delivered: OutgoingMessage[];
}

function fakeSink(): FakeSink {
  let state: ConnectionState = "disconnected";
  const inflight = new Set<Promise<unknown>>();
  const sink: FakeSink = {
    kind: "fake",
    up: true,
    gate: null,
    delivered: [],
    get state() {
      return state;
    },
    connect: () => {
      if (!sink.up) return Promise.reject(new Error("connection refused"));
      state = "connected";
      return Promise.resolve();
    },
    send: (m) => {
      const p = (async (): Promise<DeliveryReport> => {
        if (sink.gate) await sink.gate;
        if (!sink.up) {
          state = "disconnected";
          throw new Error("broker down");
        }
        sink.delivered.push(m);
        return { topic: m.topic, partition: 0, offset: String(sink.delivered.length - 1) };
      })();
      inflight.add(p);
      p.finally(() => inflight.delete(p)).catch(() => {});
      return p;
    },
    flush: async () => {
      await Promise.allSettled([...inflight]);
    },
    close: async () => {
      await Promise.allSettled([...inflight]);
      state = "closed";
    },
  };
  return sink;
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "fess-publisher-test-" });
}

Deno.test("publish routes each event type to its topic, keyed by camera, with type/version headers", async () => {
  const sink = fakeSink();
  const publisher = createPublisher({
    sink,
    logger: silentLogger,
    topics: { system: "custom.status" },
  });
  await publisher.start();
  const events = [
    motionEvent("cam-a"),
    faceEvent("cam-b"),
    alertEvent("cam-c"),
    statusEvent("cam-d"),
  ];
  const receipts = events.map((e) => publisher.publish(e));
  const results = await Promise.all(receipts.map((r) => r.delivery));
  assert.deepEqual(receipts.map((r) => r.topic), [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
    "custom.status",
  ]);
  assert.ok(results.every((r) => r.status === "delivered"));
  assert.deepEqual(sink.delivered.map((m) => m.key), ["cam-a", "cam-b", "cam-c", "cam-d"]);
  sink.delivered.forEach((m, i) => {
    assert.deepEqual(JSON.parse(m.value), events[i]);
    assert.deepEqual(m.headers, {
      event_type: events[i]!.event_type,
      schema_version: "1",
      event_id: events[i]!.event_id,
      content_type: "application/json",
    });
  });
  assert.equal(receipts[0]!.event_id, events[0]!.event_id);
  await publisher.close();
});

Deno.test("an invalid event is refused with a 422 listing every issue, and nothing is sent", async () => {
  const sink = fakeSink();
  const publisher = createPublisher({ sink, logger: silentLogger });
  await publisher.start();
  const bad = { ...motionEvent(), camera_id: "bad id!", frame_number: -1 };
  assert.throws(() => publisher.publish(bad), (err: unknown) => {
    const e = err as { status: number; detail: { issues: { path: string }[] } };
    assert.equal(e.status, 422);
    assert.deepEqual(e.detail.issues.map((i) => i.path).sort(), ["camera_id", "frame_number"]);
    return true;
  });
  assert.throws(() => publisher.publish({ event_type: "nope" }), { name: "ValidationError" });
  assert.equal(sink.delivered.length, 0);
  await publisher.close();
});

Deno.test("a full queue refuses new events with 429 instead of dropping them, then accepts again", async () => {
  const sink = fakeSink();
  let open!: () => void;
  sink.gate = new Promise((resolve) => (open = resolve));
  const publisher = createPublisher({ sink, logger: silentLogger, queueCapacity: 2 });
  await publisher.start();
  const a = publisher.publish(motionEvent("cam-1", 1));
  const b = publisher.publish(motionEvent("cam-1", 2));
  assert.equal(publisher.queued, 2);
  assert.throws(() => publisher.publish(motionEvent("cam-1", 3)), (err: unknown) => {
    assert.equal((err as { status: number }).status, 429);
    assert.equal((err as { name: string }).name, "TooManyRequestsError");
    return true;
  });
  sink.gate = null;
  open();
  await Promise.all([a.delivery, b.delivery]);
  assert.equal(publisher.queued, 0);
  const c = publisher.publish(motionEvent("cam-1", 3));
  assert.equal((await c.delivery).status, "delivered");
  assert.deepEqual(sink.delivered.map((m) => JSON.parse(m.value).frame_number), [1, 2, 3]);
  await publisher.close();
});

Deno.test("events that fail go to the spool, later ones queue behind it, and all replay in order", async () => {
  const dir = await tempDir();
  try {
    const sink = fakeSink();
    const metrics = createMetrics({ defaultMetrics: false });
    const spool = createSpool({ dir, logger: silentLogger });
    const publisher = createPublisher({
      sink,
      logger: silentLogger,
      spool,
      metrics,
      replayIntervalMs: 20,
    });
    await publisher.start();
    assert.equal((await publisher.publish(motionEvent("cam-1", 0)).delivery).status, "delivered");

    sink.up = false;
    const during = [1, 2, 3].map((f) => publisher.publish(motionEvent("cam-1", f)));
    const outcomes = await Promise.all(during.map((r) => r.delivery));
    assert.deepEqual(outcomes.map((o) => o.status), ["spooled", "spooled", "spooled"]);
    assert.equal(publisher.spooled, 3);

    const capped = createPublisher({ sink, logger: silentLogger, spool, maxSpooled: 3 });
    assert.throws(() => capped.publish(motionEvent("cam-1", 99)), { name: "TooManyRequestsError" });

    sink.up = true;
    // Published while the spool still holds older events: must not overtake them.
    const after = publisher.publish(motionEvent("cam-1", 4));
    assert.equal((await after.delivery).status, "spooled");
    const deadline = Date.now() + 5_000;
    while (publisher.spooled > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(publisher.spooled, 0, "the spool drains once the sink is back");
    assert.deepEqual(sink.delivered.map((m) => JSON.parse(m.value).frame_number), [0, 1, 2, 3, 4]);

    const sent = await metrics.registry.getSingleMetricAsString("fess_kafka_events_sent_total");
    assert.match(sent, /topic="motion.detection.events",status="sent"} 5/);
    assert.match(sent, /topic="motion.detection.events",status="spooled"} 4/);
    await publisher.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("close() spools what cannot be delivered and the next publisher replays it on start", async () => {
  const dir = await tempDir();
  try {
    const down = fakeSink();
    down.up = false;
    const first = createPublisher({
      sink: down,
      logger: silentLogger,
      spool: createSpool({ dir, logger: silentLogger }),
    });
    await first.start(); // the sink is unreachable: start logs and carries on
    const receipts = [alertEvent("cam-9", 1), faceEvent("cam-9", 2)].map((e) => first.publish(e));
    await first.close();
    assert.deepEqual((await Promise.all(receipts.map((r) => r.delivery))).map((d) => d.status), [
      "spooled",
      "spooled",
    ]);
    assert.throws(() => first.publish(alertEvent()), { name: "ServiceUnavailableError" });

    const up = fakeSink();
    const second = createPublisher({
      sink: up,
      logger: silentLogger,
      spool: createSpool({ dir, logger: silentLogger }),
      replayIntervalMs: 10,
    });
    await second.start();
    const deadline = Date.now() + 5_000;
    while (second.spooled > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      up.delivered.map((m) => JSON.parse(m.value).event_id),
      receipts.map((r) => r.event_id),
    );
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without a spool a failed delivery is reported as failed (and counted), never as success", async () => {
  const sink = fakeSink();
  sink.up = false;
  const metrics = createMetrics({ defaultMetrics: false });
  const publisher = createPublisher({ sink, logger: silentLogger, metrics });
  await publisher.start();
  const result = await publisher.publish(alertEvent()).delivery;
  assert.equal(result.status, "failed");
  const sent = await metrics.registry.getSingleMetricAsString("fess_kafka_events_sent_total");
  assert.match(sent, /topic="alert.events",status="failed"} 1/);
  await publisher.close();
});
