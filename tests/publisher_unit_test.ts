/**
 * Unit tests of the publisher over a fake sink and a real write-ahead log in a temp dir:
 * validation and size limits, routing, keys and headers, accept-means-durable, ordered
 * redelivery after an outage, records that spill to disk, dead letters that do not block the
 * line, health turning degraded on backlog age, restart recovery and the legacy spool.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createDeadLetterLog, readDeadLetters } from "../shared/events/dead_letters.ts";
import {
  createPublisher,
  type Publisher,
  type PublisherOptions,
} from "../shared/events/publisher.ts";
import {
  type ConnectionState,
  DeliveryError,
  type DeliveryReport,
  type MessageSink,
  type OutgoingMessage,
} from "../shared/events/types.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { createSystemStatusEvent } from "../shared/events.ts";
import { alertEvent, faceEvent, motionEvent, statusEvent } from "./support/event_fixtures.ts";

interface FakeSink extends MessageSink {
  up: boolean;
  /** Records with this event_id are refused for good (like MESSAGE_TOO_LARGE). */
  refuse: Set<string>;
  /** When set, sends wait for it. */
  gate: Promise<void> | null;
  readonly delivered: OutgoingMessage[];
}

function fakeSink(): FakeSink {
  let state: ConnectionState = "disconnected";
  let failed = false;
  const inflight = new Set<Promise<unknown>>();
  const sink: FakeSink = {
    kind: "fake",
    up: true,
    refuse: new Set(),
    gate: null,
    delivered: [],
    get state() {
      return state;
    },
    connect: () => {
      if (!sink.up) return Promise.reject(new Error("connection refused"));
      state = "connected";
      failed = false;
      return Promise.resolve();
    },
    send: (m) => {
      const p = (async (): Promise<DeliveryReport> => {
        if (sink.gate) await sink.gate;
        if (!sink.up || failed) {
          state = "disconnected";
          failed = true; // like the producer: refused until connect()
          throw new DeliveryError("broker down", { retriable: true, reason: "unavailable" });
        }
        if (sink.refuse.has(m.headers.event_id!)) {
          throw new DeliveryError("too large", { retriable: false, reason: "MESSAGE_TOO_LARGE" });
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

type Options = Omit<PublisherOptions, "sink" | "wal" | "logger">;

async function withPublisher(
  sink: FakeSink,
  fn: (publisher: Publisher, dir: string) => Promise<void>,
  options: Options = {},
  dir?: string,
): Promise<void> {
  const own = dir === undefined;
  dir ??= await Deno.makeTempDir({ prefix: "fess-publisher-test-" });
  const publisher = createPublisher({
    sink,
    wal: createWriteAheadLog({ dir, logger: silentLogger, checkpointIntervalMs: 1 }),
    logger: silentLogger,
    deadLetters: createDeadLetterLog({ path: `${dir}/dead_letters.jsonl` }),
    retryBackoffMs: 10,
    closeTimeoutMs: 500,
    ...options,
  });
  await publisher.start();
  try {
    await fn(publisher, dir);
  } finally {
    await publisher.close();
    if (own) await Deno.remove(dir, { recursive: true });
  }
}

function frames(sink: FakeSink): number[] {
  return sink.delivered.map((m) => JSON.parse(m.value).frame_number);
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("publish routes each event type to its topic, keyed by camera, with type/version headers", () => {
  const sink = fakeSink();
  return withPublisher(sink, async (publisher) => {
    const events = [
      motionEvent("cam-a"),
      faceEvent("cam-b"),
      alertEvent("cam-c"),
      statusEvent("cam-d"),
    ];
    const receipts = await Promise.all(events.map((e) => publisher.publish(e)));
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
  }, { topics: { system: "custom.status" } });
});

Deno.test("an invalid event is refused with a 422 listing every issue, and nothing is written", () => {
  const sink = fakeSink();
  return withPublisher(sink, async (publisher) => {
    const bad = { ...motionEvent(), camera_id: "bad id!", frame_number: -1 };
    await assert.rejects(publisher.publish(bad), (err: unknown) => {
      const e = err as { status: number; detail: { issues: { path: string }[] } };
      assert.equal(e.status, 422);
      assert.deepEqual(e.detail.issues.map((i) => i.path).sort(), ["camera_id", "frame_number"]);
      return true;
    });
    await assert.rejects(publisher.publish({ event_type: "nope" }), { name: "ValidationError" });
    assert.equal(publisher.queued, 0);
    assert.equal(sink.delivered.length, 0);
  });
});

Deno.test("oversized events are refused at the door: 413 with size and limit, 422 for a field over its limit", () => {
  const sink = fakeSink();
  return withPublisher(sink, async (publisher) => {
    const big = motionEvent("cam-1", 0, 6_000);
    await assert.rejects(publisher.publish(big), (err: unknown) => {
      const e = err as {
        status: number;
        code: string;
        message: string;
        detail: Record<string, number>;
      };
      assert.equal(e.status, 413);
      assert.equal(e.code, "event_too_large");
      assert.ok(e.detail.size_bytes! > 5_000);
      assert.equal(e.detail.limit_bytes, 5_000);
      assert.match(e.message, /event is \d+ bytes; the limit \(kafka.max_event_bytes\) is 5000/);
      return true;
    });
    const hugeDetail = { ...statusEvent(), detail: { blob: "x".repeat(70_000) } };
    await assert.rejects(publisher.publish(hugeDetail), (err: unknown) => {
      const e = err as { status: number; detail: { issues: { path: string; message: string }[] } };
      assert.equal(e.status, 422);
      assert.equal(e.detail.issues[0]!.path, "detail");
      assert.match(e.detail.issues[0]!.message, /detail is \d+ bytes as JSON; the limit is 65536/);
      return true;
    });
    const ok = await publisher.publish(motionEvent("cam-1", 1));
    assert.equal((await ok.delivery).status, "delivered", "the next event flows");
    assert.deepEqual(frames(sink), [1]);
  }, { maxEventBytes: 5_000 });
});

Deno.test("accept means durable: a resolved publish is in the write-ahead log before delivery", () => {
  const sink = fakeSink();
  let open!: () => void;
  sink.gate = new Promise((resolve) => (open = resolve));
  return withPublisher(sink, async (publisher, dir) => {
    const event = motionEvent("cam-1", 7);
    await publisher.publish(event);
    assert.equal(sink.delivered.length, 0);
    // A second reader of the same directory (what a restart after SIGKILL would see).
    const reader = createWriteAheadLog({ dir, logger: silentLogger });
    await reader.open();
    const onDisk = await reader.read(0, 10);
    assert.deepEqual(onDisk.map((r) => JSON.parse(r.message.value).event_id), [event.event_id]);
    sink.gate = null;
    open();
    await publisher.flush();
    assert.deepEqual(frames(sink), [7]);
  });
});

Deno.test("while the sink is down events wait in the log; they are delivered in order when it returns", () => {
  const sink = fakeSink();
  return withPublisher(sink, async (publisher) => {
    const first = await publisher.publish(motionEvent("cam-1", 0));
    await first.delivery;
    sink.up = false;
    const receipts = [];
    for (let i = 1; i <= 20; i++) receipts.push(await publisher.publish(motionEvent("cam-1", i)));
    await until(() => publisher.healthCheck().error !== undefined);
    assert.equal(publisher.queued, 20);
    sink.up = true;
    const results = await Promise.all(receipts.map((r) => r.delivery));
    assert.ok(results.every((r) => r.status === "delivered"));
    const after = frames(sink);
    // At-least-once: a record may repeat, but the first occurrences are in publish order.
    assert.deepEqual([...new Set(after)], Array.from({ length: 21 }, (_, i) => i));
    assert.equal(publisher.queued, 0);
  });
});

Deno.test("more undelivered events than fit in memory spill to disk and are read back in order", () => {
  const sink = fakeSink();
  sink.up = false;
  return withPublisher(sink, async (publisher) => {
    for (let i = 0; i < 60; i++) await publisher.publish(motionEvent(`cam-${i % 3}`, i));
    assert.equal(publisher.queued, 60);
    sink.up = true;
    await publisher.flush();
    assert.deepEqual([...new Set(frames(sink))], Array.from({ length: 60 }, (_, i) => i));
  }, { queueCapacity: 4 });
});

Deno.test("a record the sink refuses for good is dead-lettered with its reason and the line keeps moving", () => {
  const sink = fakeSink();
  const metrics = createMetrics({ defaultMetrics: false });
  return withPublisher(sink, async (publisher, dir) => {
    const events = [0, 1, 2, 3].map((i) => motionEvent("cam-1", i));
    sink.refuse.add(events[1]!.event_id);
    const receipts = await Promise.all(events.map((e) => publisher.publish(e)));
    const results = await Promise.all(receipts.map((r) => r.delivery));
    assert.deepEqual(results.map((r) => r.status), [
      "delivered",
      "dead_lettered",
      "delivered",
      "delivered",
    ]);
    assert.deepEqual(frames(sink), [0, 2, 3]);
    const letters = await readDeadLetters(`${dir}/dead_letters.jsonl`);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.event_id, events[1]!.event_id);
    assert.equal(letters[0]!.reason, "MESSAGE_TOO_LARGE");
    assert.deepEqual(JSON.parse(letters[0]!.value), events[1]);
    assert.equal(publisher.deadLetters, 1);
    assert.equal(publisher.healthCheck().dead_letters, 1);
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /fess_kafka_dead_letters_total\{topic="motion.detection.events",reason="MESSAGE_TOO_LARGE"\} 1/,
    );
    assert.equal(publisher.queued, 0, "the refused record no longer holds the log");
  }, { metrics });
});

Deno.test("health turns degraded once the oldest undelivered event is older than the threshold", () => {
  const sink = fakeSink();
  let open!: () => void;
  sink.gate = new Promise((resolve) => (open = resolve));
  const metrics = createMetrics({ defaultMetrics: false });
  return withPublisher(sink, async (publisher) => {
    assert.equal(publisher.healthCheck().healthy, true);
    await publisher.publish(motionEvent("cam-1", 0));
    // The limit is far above an fsync on a busy disk, so a fresh backlog is young for sure.
    assert.equal(publisher.healthCheck().healthy, true, "young backlog is fine");
    await until(() => !publisher.healthCheck().healthy, 10_000);
    const health = publisher.healthCheck();
    assert.equal(health.healthy, false);
    assert.ok(health.oldest_age_ms >= 1000, `oldest ${health.oldest_age_ms} ms`);
    assert.equal(health.queued, 1);
    assert.match(health.error!, /oldest undelivered event is \d+ ms old \(limit 1000 ms\)/);
    assert.match(
      await metrics.registry.metrics(),
      /fess_kafka_oldest_undelivered_age_seconds [1-9]\d*(\.\d+)?\n/,
    );
    sink.gate = null;
    open();
    await publisher.flush();
    assert.equal(publisher.healthCheck().healthy, true);
    assert.equal(publisher.oldestAgeMs, 0);
  }, { maxBacklogAgeMs: 1000, metrics });
});

Deno.test("events left undelivered at close are delivered by the next publisher on the same log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-publisher-test-" });
  try {
    const down = fakeSink();
    down.up = false;
    const ids: string[] = [];
    await withPublisher(
      down,
      async (publisher) => {
        for (let i = 0; i < 5; i++) {
          ids.push((await publisher.publish(motionEvent("cam-1", i))).event_id);
        }
      },
      {},
      dir,
    );
    const up = fakeSink();
    await withPublisher(
      up,
      async (publisher) => {
        await until(() => up.delivered.length >= 5);
        assert.equal(publisher.queued, 0);
      },
      {},
      dir,
    );
    assert.deepEqual(up.delivered.map((m) => m.headers.event_id), ids);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a spool left by an older FESS is moved into the log and delivered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-publisher-test-" });
  try {
    const old = [0, 1, 2].map((i) =>
      createSystemStatusEvent({
        camera_id: "cam-9",
        frame_number: i,
        component: "detector",
        status: "healthy",
      })
    );
    const line = (e: (typeof old)[number]) =>
      JSON.stringify({
        topic: "system.status.events",
        key: e.camera_id,
        value: JSON.stringify(e),
        headers: { event_id: e.event_id },
      });
    const text = old.map(line).join("\n") + "\n";
    const firstLine = line(old[0]!).length + 1;
    await Deno.writeTextFile(`${dir}/events.spool.jsonl`, text + '{"torn');
    await Deno.writeTextFile(`${dir}/events.spool.jsonl.offset`, String(firstLine));
    const sink = fakeSink();
    await withPublisher(
      sink,
      async (publisher) => {
        await publisher.flush();
        assert.deepEqual(sink.delivered.map((m) => m.headers.event_id), [
          old[1]!.event_id,
          old[2]!.event_id,
        ]);
      },
      { legacySpoolDir: dir },
      dir,
    );
    await assert.rejects(Deno.stat(`${dir}/events.spool.jsonl`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("publish refuses with 429 when the log is full, and 503 after close", () => {
  const sink = fakeSink();
  sink.up = false;
  return withPublisher(sink, async (publisher) => {
    await publisher.publish(motionEvent("cam-1", 0, 2_000));
    await assert.rejects(publisher.publish(motionEvent("cam-1", 1)), (err: unknown) => {
      assert.equal((err as { status: number }).status, 429);
      return true;
    });
    await publisher.close();
    await assert.rejects(publisher.publish(motionEvent("cam-1", 2)), {
      name: "ServiceUnavailableError",
    });
  }, { maxWalBytes: 1_000 });
});
