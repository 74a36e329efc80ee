/**
 * Kafka publishing benchmark: FESS's publisher (batching kafkajs producer) against `kcat`
 * (librdkafka) writing the same ~1 KB events to the same broker, for acks=1 and acks=all.
 *
 *   deno run -A bench/kafka_bench.ts            # starts its own broker via tests/support
 *   TEST_KAFKA_BROKERS=127.0.0.1:9092 deno run -A bench/kafka_bench.ts
 *   FESS_BENCH_EVENTS=20000 (per mode, default 20000)  FESS_BENCH_PACED_RATE=2000 (events/s)
 *
 * Rows:
 * - `fess saturated`: all events offered as fast as the publisher accepts them (its bounded
 *   queue pushes back with 429s, the bench then waits for the oldest delivery). events/s is
 *   accepted-to-last-ack; latency is publish() call to broker ack, so it includes queueing.
 * - `fess paced`: a quarter of the events at a fixed rate below capacity: the latency a caller
 *   sees when the pipeline is not saturated.
 * - `kcat`: `kcat -P` producing the same keyed messages from a file; wall time of the process
 *   (start-up and metadata included). kcat reports no per-message latency.
 *
 * @module
 */
import { TooManyRequestsError } from "../shared/errors.ts";
import { silentLogger } from "../shared/logger.ts";
import { createKafkaClient } from "../shared/events/kafka_client.ts";
import { type AcksMode, createKafkaProducer } from "../shared/events/kafka_producer.ts";
import {
  createPublisher,
  type DeliveryResult,
  type PublishReceipt,
} from "../shared/events/publisher.ts";
import { ensureTopics } from "../shared/events/topics.ts";
import type { FessEvent } from "../shared/events.ts";
import { startKafka } from "../tests/support/services.ts";
import { motionEvent } from "../tests/support/event_fixtures.ts";

interface Row {
  mode: string;
  impl: string;
  events: number;
  eventsPerSecond: number;
  p50: number | null;
  p99: number | null;
  callP50: number | null;
  callP99: number | null;
}

const N = Number(Deno.env.get("FESS_BENCH_EVENTS") ?? 20_000);
const PACED_RATE = Number(Deno.env.get("FESS_BENCH_PACED_RATE") ?? 2_000);
const CAMERAS = 8;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function makeEvents(n: number): FessEvent[] {
  const template = motionEvent("cam-0", 0, 1024);
  return Array.from({ length: n }, (_, i) => ({
    ...template,
    event_id: crypto.randomUUID(),
    camera_id: `cam-${i % CAMERAS}`,
    frame_number: i,
  }));
}

async function createTopic(brokers: string[], topic: string): Promise<void> {
  const kafka = createKafkaClient({ brokers, logger: silentLogger });
  await ensureTopics({ kafka, logger: silentLogger, topics: [topic], partitions: 3 });
}

async function benchFess(
  brokers: string[],
  acks: AcksMode,
  events: FessEvent[],
  paced: boolean,
): Promise<Row> {
  const topic = `bench.fess.${acks}.${paced ? "paced" : "sat"}.${crypto.randomUUID().slice(0, 6)}`;
  await createTopic(brokers, topic);
  const publisher = createPublisher({
    sink: createKafkaProducer({ brokers, logger: silentLogger, acks, clientId: "fess-bench" }),
    logger: silentLogger,
    topics: { motion: topic },
  });
  await publisher.start();
  // Warm this producer up (connection, producer id, topic metadata) outside the measurement.
  await Promise.all(makeEvents(50).map((e) => publisher.publish(e).delivery));
  const latencies: number[] = [];
  // What a caller waits for: publish() validates, routes and enqueues, then returns.
  const calls: number[] = [];
  const outstanding: Promise<DeliveryResult>[] = [];
  let failures = 0;
  const track = (receipt: PublishReceipt, t0: number) => {
    outstanding.push(receipt.delivery.then((r) => {
      latencies.push(performance.now() - t0);
      if (r.status !== "delivered") failures++;
      return r;
    }));
  };
  const started = performance.now();
  let oldest = 0;
  for (let i = 0; i < events.length; i++) {
    if (paced) {
      const due = started + (i * 1000) / PACED_RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    for (;;) {
      const t0 = performance.now();
      try {
        const receipt = publisher.publish(events[i]);
        calls.push(performance.now() - t0);
        track(receipt, t0);
        break;
      } catch (err) {
        if (!(err instanceof TooManyRequestsError)) throw err;
        await outstanding[oldest++]; // backpressure: wait for the oldest delivery
      }
    }
  }
  await Promise.all(outstanding);
  const elapsed = (performance.now() - started) / 1000;
  await publisher.close();
  if (failures > 0) throw new Error(`${failures} events were not delivered`);
  latencies.sort((a, b) => a - b);
  calls.sort((a, b) => a - b);
  return {
    callP50: percentile(calls, 50),
    callP99: percentile(calls, 99),
    mode: `acks=${acks}`,
    impl: paced ? `fess paced @${PACED_RATE}/s` : "fess saturated",
    events: events.length,
    eventsPerSecond: events.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function benchKcat(brokers: string[], acks: AcksMode, events: FessEvent[]): Promise<Row> {
  const topic = `bench.kcat.${acks}.${crypto.randomUUID().slice(0, 6)}`;
  await createTopic(brokers, topic);
  const file = await Deno.makeTempFile({ prefix: "fess-kcat-bench-", suffix: ".txt" });
  try {
    await Deno.writeTextFile(
      file,
      events.map((e) => `${e.camera_id}\t${JSON.stringify(e)}`).join("\n") + "\n",
    );
    const started = performance.now();
    const out = await new Deno.Command("kcat", {
      args: [
        "-P",
        "-b",
        brokers.join(","),
        "-t",
        topic,
        "-K",
        "\t",
        "-X",
        `acks=${acks === "all" ? "all" : acks}`,
        "-X",
        "linger.ms=10",
        "-l",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const elapsed = (performance.now() - started) / 1000;
    if (!out.success) throw new Error(`kcat failed: ${new TextDecoder().decode(out.stderr)}`);
    return {
      mode: `acks=${acks}`,
      impl: "kcat (librdkafka)",
      events: events.length,
      eventsPerSecond: events.length / elapsed,
      p50: null,
      p99: null,
      callP50: null,
      callP99: null,
    };
  } finally {
    await Deno.remove(file);
  }
}

function fmt(n: number | null, digits = 2): string {
  return n === null ? "n/a" : n.toFixed(digits);
}

async function main(): Promise<void> {
  const external = Deno.env.get("TEST_KAFKA_BROKERS");
  const broker = await startKafka();
  const brokers = broker.brokers;
  const events = makeEvents(N);
  const bytes = JSON.stringify(events[0]).length;
  const rows: Row[] = [];
  // Warm-up: JIT, connections, metadata.
  await benchFess(brokers, "1", makeEvents(2_000), false);
  for (const acks of ["1", "all"] as const) {
    rows.push(await benchFess(brokers, acks, events, false));
    rows.push(await benchFess(brokers, acks, events.slice(0, Math.ceil(N / 4)), true));
    rows.push(await benchKcat(brokers, acks, events));
  }
  const lines = [
    `Kafka publish benchmark: ${N} events/mode, ${bytes} B JSON events, ${CAMERAS} camera keys, ` +
    `3 partitions, broker ${
      external ? `external ${external}` : `local ${brokers[0]} (KRaft, Kafka 3.9)`
    }`,
    "",
    "| mode     | producer                | events | events/s | publish() p50 ms | publish() p99 ms | ack p50 ms | ack p99 ms |",
    "|----------|-------------------------|-------:|---------:|-----------------:|-----------------:|-----------:|-----------:|",
    ...rows.map((r) =>
      `| ${r.mode.padEnd(8)} | ${r.impl.padEnd(23)} | ${String(r.events).padStart(6)} | ` +
      `${r.eventsPerSecond.toFixed(0).padStart(8)} | ${fmt(r.callP50, 3).padStart(16)} | ${
        fmt(r.callP99, 3).padStart(16)
      } | ${fmt(r.p50).padStart(10)} | ${fmt(r.p99).padStart(10)} |`
    ),
  ];
  // deno-lint-ignore no-console
  console.log(lines.join("\n"));
  await broker.close();
}

if (import.meta.main) {
  await main();
  // kafkajs keeps no handles after close, but the shared broker's unload handler must run.
  Deno.exit(0);
}
