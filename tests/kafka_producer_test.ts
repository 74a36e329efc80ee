/**
 * Unit tests of the batching producer with a fake transport (no broker): batching by linger and
 * by bytes, the request cap, one request in flight, failure handling and reconnects.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import {
  createKafkaProducer,
  type ProducerTransport,
  type TopicBatch,
} from "../shared/events/kafka_producer.ts";
import type { ConnectionState, DeliveryReport, OutgoingMessage } from "../shared/events/types.ts";

interface FakeTransport extends ProducerTransport {
  readonly requests: TopicBatch[][];
  connects: number;
  resets: number;
  /** Fail this many upcoming sends. */
  failNext: number;
  /** When set, sends wait for it. */
  gate: Promise<void> | null;
}

function fakeTransport(): FakeTransport {
  const offsets = new Map<string, number>();
  const t: FakeTransport = {
    requests: [],
    connects: 0,
    resets: 0,
    failNext: 0,
    gate: null,
    connect: () => {
      t.connects++;
      return Promise.resolve();
    },
    send: async (batches) => {
      t.requests.push(batches.map((b) => ({ topic: b.topic, messages: [...b.messages] })));
      if (t.gate) await t.gate;
      if (t.failNext > 0) {
        t.failNext--;
        throw new Error("broker down");
      }
      return batches.map((b) =>
        b.messages.map((): DeliveryReport => {
          const next = offsets.get(b.topic) ?? 0;
          offsets.set(b.topic, next + 1);
          return { topic: b.topic, partition: 0, offset: String(next) };
        })
      );
    },
    reset: () => {
      t.resets++;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return t;
}

function msg(topic: string, i: number, bytes = 10): OutgoingMessage {
  return {
    topic,
    key: `k${i % 3}`,
    value: String(i).padEnd(bytes, "."),
    headers: { n: String(i) },
  };
}

Deno.test("records sent within the linger window go out in one request, in order, with offsets", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 20,
  });
  const sends = [0, 1, 2, 3, 4].map((i) => producer.send(msg("a", i)));
  assert.equal(transport.requests.length, 0, "nothing sent before the linger elapses");
  const reports = await Promise.all(sends);
  assert.equal(transport.requests.length, 1);
  assert.deepEqual(transport.requests[0]![0]!.messages.map((m) => m.headers.n), [
    "0",
    "1",
    "2",
    "3",
    "4",
  ]);
  assert.deepEqual(reports.map((r) => r.offset), ["0", "1", "2", "3", "4"]);
  assert.equal(producer.state, "connected");
  await producer.close();
});

Deno.test("reaching batchBytes sends at once without waiting for the linger", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 60_000,
    batchBytes: 1_000,
  });
  const sends = [0, 1, 2, 3].map((i) => producer.send(msg("a", i, 300)));
  // 4 x ~330 bytes crosses 1000 at the 3rd+4th record; the 60 s linger would time the test out.
  await Promise.all(sends.slice(0, 3));
  assert.ok(transport.requests.length >= 1);
  await producer.close(); // flushes the rest
  await Promise.all(sends);
  const sent = transport.requests.flat().flatMap((b) => b.messages.map((m) => m.headers.n));
  assert.deepEqual(sent, ["0", "1", "2", "3"]);
});

Deno.test("records of several topics share one request; a request never exceeds maxRequestBytes", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 5,
    batchBytes: 1_500,
    maxRequestBytes: 2_000,
  });
  const sends = [];
  for (let i = 0; i < 10; i++) sends.push(producer.send(msg(i % 2 ? "odd" : "even", i, 450)));
  await Promise.all(sends);
  for (const request of transport.requests) {
    const bytes = request.flatMap((b) => b.messages).reduce((n, m) => n + m.value.length, 0);
    assert.ok(bytes <= 2_000, `request of ${bytes} bytes exceeds the cap`);
  }
  assert.ok(transport.requests.length >= 3, "10 x 450 B needs at least 3 requests of <= 2000 B");
  assert.ok(transport.requests.some((r) => r.length === 2), "a request carried both topics");
  const even = transport.requests.flat().filter((b) => b.topic === "even").flatMap((b) =>
    b.messages
  );
  assert.deepEqual(even.map((m) => m.headers.n), ["0", "2", "4", "6", "8"], "per-topic order kept");
  await producer.close();
});

Deno.test("only one request is in flight; records arriving meanwhile form the next request", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 1,
  });
  let open!: () => void;
  transport.gate = new Promise((resolve) => (open = resolve));
  const first = producer.send(msg("a", 0));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(transport.requests.length, 1);
  const later = [1, 2, 3].map((i) => producer.send(msg("a", i)));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(transport.requests.length, 1, "no second request while the first is in flight");
  transport.gate = null;
  open();
  await Promise.all([first, ...later]);
  assert.equal(transport.requests.length, 2);
  assert.deepEqual(transport.requests[1]![0]!.messages.map((m) => m.headers.n), ["1", "2", "3"]);
  await producer.close();
});

Deno.test("a failed request rejects its records and those queued behind it, then reconnects", async () => {
  const transport = fakeTransport();
  const states: ConnectionState[] = [];
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 1,
    onStateChange: (s) => states.push(s),
  });
  let open!: () => void;
  transport.gate = new Promise((resolve) => (open = resolve));
  transport.failNext = 1;
  const first = producer.send(msg("a", 0));
  await new Promise((r) => setTimeout(r, 10));
  const queued = producer.send(msg("a", 1));
  transport.gate = null;
  open();
  await assert.rejects(first, {
    name: "ServiceUnavailableError",
    message: "kafka delivery failed",
  });
  await assert.rejects(queued, { name: "ServiceUnavailableError" });
  assert.equal(
    transport.requests.length,
    1,
    "the queued record was failed, not sent after the failure",
  );
  assert.equal(transport.resets, 1);
  assert.equal(producer.state, "disconnected");

  const report = await producer.send(msg("a", 2));
  assert.equal(report.offset, "0");
  assert.equal(transport.connects, 2, "reconnected for the next batch");
  assert.deepEqual(states, ["connecting", "connected", "disconnected", "connecting", "connected"]);
  await producer.close();
  assert.equal(producer.state, "closed");
  await assert.rejects(producer.send(msg("a", 3)), { name: "ServiceUnavailableError" });
});

Deno.test("close() flushes records still lingering", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 60_000,
  });
  const sent = producer.send(msg("a", 0));
  assert.equal(producer.pendingCount, 1);
  await producer.close();
  assert.equal((await sent).offset, "0");
  assert.equal(transport.requests.length, 1);
});
