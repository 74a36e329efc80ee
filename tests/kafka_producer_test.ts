/**
 * Unit tests of the batching producer with a fake transport (no broker): batching by linger and
 * by bytes per partition, the batch and request caps, one request in flight, retriable
 * failures (everything queued fails, sends stay refused until connect), and non-retriable
 * refusals isolated to the offending record.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import {
  createKafkaProducer,
  type ProducerTransport,
  type TopicBatch,
} from "../shared/events/kafka_producer.ts";
import {
  type ConnectionState,
  DeliveryError,
  type DeliveryReport,
  type OutgoingMessage,
} from "../shared/events/types.ts";

interface FakeTransport extends ProducerTransport {
  readonly requests: TopicBatch[][];
  connects: number;
  resets: number;
  /** Fail this many upcoming sends as a broker outage (kafkajs retries exhausted). */
  failNext: number;
  /** A request holding a record this matches is refused as kafkajs does MESSAGE_TOO_LARGE. */
  refuse: ((m: OutgoingMessage) => boolean) | null;
  /** When set, sends wait for it. */
  gate: Promise<void> | null;
  /** Partitions per topic, reported once a topic was sent to (like kafkajs metadata). */
  partitions: number;
}

/** The error kafkajs throws for a non-retriable broker refusal. */
function tooLarge(): Error {
  const protocol = Object.assign(new Error("The request included a message larger than the max"), {
    name: "KafkaJSProtocolError",
    type: "MESSAGE_TOO_LARGE",
    retriable: false,
  });
  return Object.assign(new Error(protocol.message), {
    name: "KafkaJSNonRetriableError",
    retriable: false,
    cause: protocol,
    originalError: protocol,
  });
}

function fakeTransport(): FakeTransport {
  const offsets = new Map<string, number>();
  const seen = new Set<string>();
  const t: FakeTransport = {
    requests: [],
    connects: 0,
    resets: 0,
    failNext: 0,
    refuse: null,
    gate: null,
    partitions: 1,
    connect: () => {
      t.connects++;
      return Promise.resolve();
    },
    send: async (batches) => {
      t.requests.push(batches.map((b) => ({ ...b, messages: [...b.messages] })));
      for (const b of batches) seen.add(b.topic);
      if (t.gate) await t.gate;
      if (t.failNext > 0) {
        t.failNext--;
        throw Object.assign(new Error("Connection error: connect ECONNREFUSED"), {
          name: "KafkaJSNumberOfRetriesExceeded",
          retriable: false,
        });
      }
      if (t.refuse && batches.some((b) => b.messages.some(t.refuse!))) throw tooLarge();
      return batches.map((b) =>
        b.messages.map((): DeliveryReport => {
          const slot = `${b.topic}/${b.partition}`;
          const next = offsets.get(slot) ?? 0;
          offsets.set(slot, next + 1);
          return { topic: b.topic, partition: b.partition ?? 0, offset: String(next) };
        })
      );
    },
    partitionCount: (topic) => (seen.has(topic) ? t.partitions : null),
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

function sentOrder(t: FakeTransport, topic: string): string[] {
  return t.requests.flat().filter((b) => b.topic === topic).flatMap((b) =>
    b.messages.map((m) => m.headers.n!)
  );
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
  assert.deepEqual(sentOrder(transport, "even"), ["0", "2", "4", "6", "8"], "per-topic order");
  await producer.close();
});

Deno.test("a partition's batch never exceeds batchBytes; only a single larger record goes alone", async () => {
  const transport = fakeTransport();
  transport.partitions = 3;
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 2,
    batchBytes: 1_000,
    maxRequestBytes: 1_000_000,
  });
  await producer.send(msg("t", 0)); // learns the partition count
  const sizes = [300, 300, 300, 2_500, 300, 300, 300, 300, 300, 300, 300];
  await Promise.all(sizes.map((b, i) => producer.send({ ...msg("t", i + 1, b), key: "cam-1" })));
  let alone = 0;
  for (const request of transport.requests.slice(1)) {
    for (const batch of request) {
      assert.notEqual(batch.partition, null, "partition chosen by the producer");
      // The producer's record estimate: value, key, 16 bytes of framing, headers.
      const bytes = batch.messages.reduce((n, m) => n + m.value.length + m.key!.length + 16 + 6, 0);
      if (batch.messages.length === 1 && bytes > 1_000) alone++;
      else assert.ok(bytes <= 1_000, `batch of ${batch.messages.length} records, ${bytes} B`);
    }
  }
  assert.equal(alone, 1, "the 2.5 KB record went in a batch of its own");
  assert.deepEqual(
    sentOrder(transport, "t").slice(1),
    sizes.map((_, i) => String(i + 1)),
    "one key, one partition, in order",
  );
  await producer.close();
});

Deno.test("acks=all keeps one request in flight; records arriving meanwhile form the next request", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    acks: "all",
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

Deno.test("acks=1 pipelines up to maxInFlight requests; an idle producer sends at once, a busy one lingers", async () => {
  const transport = fakeTransport();
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    acks: "1",
    lingerMs: 30,
    maxInFlight: 2,
  });
  let open!: () => void;
  transport.gate = new Promise((resolve) => (open = resolve));
  const sends = [producer.send(msg("a", 0))];
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(transport.requests.length, 1, "idle: the first record did not wait for the linger");
  sends.push(producer.send(msg("a", 1)));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(transport.requests.length, 1, "busy: the second record lingers");
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(transport.requests.length, 2, "after the linger a second request is in flight");
  sends.push(producer.send(msg("a", 2)));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(transport.requests.length, 2, "no third request beyond maxInFlight");
  transport.gate = null;
  open();
  await Promise.all(sends);
  assert.equal(transport.requests.length, 3);
  assert.deepEqual(sentOrder(transport, "a"), ["0", "1", "2"]);
  await producer.close();
});

Deno.test("a failed request rejects its records and those queued behind it; sends stay refused until connect()", async () => {
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
  // kafkajs marks exhausted retries non-retriable; the producer knows an outage is retriable.
  await assert.rejects(first, (e) => e instanceof DeliveryError && e.retriable);
  await assert.rejects(queued, (e) => e instanceof DeliveryError && e.retriable);
  assert.equal(transport.requests.length, 1, "the queued record was failed, not sent after");
  assert.equal(transport.resets, 1);
  assert.equal(producer.state, "disconnected");
  await assert.rejects(producer.send(msg("a", 2)), DeliveryError, "refused until connect()");
  assert.equal(transport.requests.length, 1);

  await producer.connect();
  const report = await producer.send(msg("a", 3));
  assert.equal(report.offset, "0");
  assert.equal(transport.connects, 2, "reconnected");
  assert.deepEqual(states, ["connecting", "connected", "disconnected", "connecting", "connected"]);
  await producer.close();
  assert.equal(producer.state, "closed");
  await assert.rejects(producer.send(msg("a", 4)), DeliveryError);
});

Deno.test("a record the broker refuses for good fails alone (non-retriable); its batch-mates are delivered in order", async () => {
  const transport = fakeTransport();
  transport.refuse = (m) => m.headers.n === "2";
  const producer = createKafkaProducer({
    brokers: ["unused:1"],
    logger: silentLogger,
    transport,
    lingerMs: 5,
  });
  const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => producer.send(msg("a", i))));
  assert.deepEqual(results.map((r) => r.status), [
    "fulfilled",
    "fulfilled",
    "rejected",
    "fulfilled",
    "fulfilled",
  ]);
  const refused = (results[2] as PromiseRejectedResult).reason;
  assert.ok(refused instanceof DeliveryError);
  assert.equal(refused.retriable, false);
  assert.equal(refused.reason, "MESSAGE_TOO_LARGE");
  assert.equal(transport.resets, 0, "no reconnect for a refused record");
  // The first request was refused whole; then one record per request.
  assert.equal(transport.requests.length, 6);
  const delivered = transport.requests.slice(1).filter((r) => r[0]!.messages[0]!.headers.n !== "2");
  assert.deepEqual(delivered.map((r) => r[0]!.messages[0]!.headers.n), ["0", "1", "3", "4"]);
  assert.equal((await producer.send(msg("a", 5))).topic, "a", "later records flow");
  await producer.close();
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
