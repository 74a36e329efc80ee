/**
 * Kafka publishing benchmark: FESS's publisher (write-ahead log + batching kafkajs producer)
 * against `kcat` (librdkafka) writing the same ~1 KB keyed events to the same broker.
 *
 *   deno run -A bench/kafka_bench.ts            # starts its own broker via tests/support
 *   TEST_KAFKA_BROKERS=127.0.0.1:9092 deno run -A bench/kafka_bench.ts
 *   FESS_BENCH_EVENTS=200000 (saturated runs; default 200000)
 *   FESS_BENCH_PACED=10000 (events per paced run)  FESS_BENCH_PACED_RATE=2000 (events/s)
 *
 * Tables:
 * 1. Throughput at acks=1 (FESS with its defaults, with fsync=none to separate the disk's
 *    cost from the producer's, and with 5 requests in flight): `fess saturated` offers every event as fast as the publisher
 *    accepts it (at most 8000 undelivered; the bench waits for the oldest delivery beyond
 *    that); events/s is first publish to last ack. `kcat` produces the same keyed messages
 *    from a file; its steady-state rate excludes start-up (the time of a one-event run is
 *    subtracted). The ratio is FESS / kcat steady-state.
 * 2. Latency, paced at a fixed rate below capacity, for each `kafka.fsync` mode and acks:
 *    `publish()` is the synchronous call (validate, encode, queue), `accept` is until the
 *    returned promise resolves (the record is in the write-ahead log per the fsync mode),
 *    `ack` is publish to broker acknowledgement.
 * 3. Write-ahead log alone, per fsync mode: a burst of appends (64 at a time), with the
 *    fsyncs issued per event and the wall time per event they cost.
 *
 * @module
 */
import { silentLogger } from "../shared/logger.ts";
import { createKafkaClient } from "../shared/events/kafka_client.ts";
import { type AcksMode, createKafkaProducer } from "../shared/events/kafka_producer.ts";
import { createPublisher, type DeliveryResult } from "../shared/events/publisher.ts";
import { ensureTopics } from "../shared/events/topics.ts";
import { createWriteAheadLog, type FsyncMode } from "../shared/events/wal.ts";
import type { FessEvent } from "../shared/events.ts";
import { startKafka } from "../tests/support/services.ts";
import { motionEvent } from "../tests/support/event_fixtures.ts";

const N = Number(Deno.env.get("FESS_BENCH_EVENTS") ?? 200_000);
const PACED = Number(Deno.env.get("FESS_BENCH_PACED") ?? Math.min(10_000, N));
const PACED_RATE = Number(Deno.env.get("FESS_BENCH_PACED_RATE") ?? 2_000);
const CAMERAS = 8;
const WINDOW = 8_000;
const FSYNC_MODES: readonly FsyncMode[] = ["always", "batch", "none"];

interface Latencies {
  call: number[];
  accept: number[];
  ack: number[];
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
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

/** Publishes `events` through a fresh publisher; paced at `rate` events/s when given. */
async function runFess(
  brokers: string[],
  events: FessEvent[],
  opts: { acks: AcksMode; fsync: FsyncMode; rate?: number; maxInFlight?: number },
): Promise<{ eventsPerSecond: number; lat: Latencies }> {
  const topic = `bench.fess.${opts.acks}.${opts.fsync}.${crypto.randomUUID().slice(0, 6)}`;
  await createTopic(brokers, topic);
  const dir = await Deno.makeTempDir({ prefix: "fess-kafka-bench-" });
  const publisher = createPublisher({
    sink: createKafkaProducer({
      brokers,
      logger: silentLogger,
      acks: opts.acks,
      maxInFlight: opts.maxInFlight,
    }),
    wal: createWriteAheadLog({ dir, logger: silentLogger, fsync: opts.fsync }),
    logger: silentLogger,
    topics: { motion: topic },
  });
  await publisher.start();
  try {
    // Warm this producer up (connection, producer id, metadata) outside the measurement.
    const warm = await Promise.all(makeEvents(200).map((e) => publisher.publish(e)));
    await Promise.all(warm.map((r) => r.delivery));

    const lat: Latencies = { call: [], accept: [], ack: [] };
    const deliveries: Promise<DeliveryResult>[] = [];
    let failures = 0;
    let oldest = 0;
    const started = performance.now();
    for (let i = 0; i < events.length; i++) {
      if (opts.rate) {
        const wait = started + (i * 1000) / opts.rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      } else if (i - oldest >= WINDOW) {
        await deliveries[oldest++];
      }
      const t0 = performance.now();
      const accepted = publisher.publish(events[i]);
      lat.call.push(performance.now() - t0);
      deliveries.push(accepted.then((receipt) => {
        lat.accept.push(performance.now() - t0);
        return receipt.delivery.then((r) => {
          lat.ack.push(performance.now() - t0);
          if (r.status !== "delivered") failures++;
          return r;
        });
      }));
      // Let the event loop run the writes and deliveries between bursts.
      if (!opts.rate && i % 256 === 255) await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all(deliveries);
    const elapsed = (performance.now() - started) / 1000;
    if (failures > 0) throw new Error(`${failures} events were not delivered`);
    return { eventsPerSecond: events.length / elapsed, lat };
  } finally {
    await publisher.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function kcatSeconds(brokers: string[], events: FessEvent[]): Promise<number> {
  const topic = `bench.kcat.${crypto.randomUUID().slice(0, 6)}`;
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
        "acks=1",
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
    return elapsed;
  } finally {
    await Deno.remove(file);
  }
}

/** Appends `n` events to a bare write-ahead log, 64 in flight, and reports its fsync cost. */
async function walOnly(mode: FsyncMode, events: FessEvent[]) {
  const dir = await Deno.makeTempDir({ prefix: "fess-wal-bench-" });
  const wal = createWriteAheadLog({ dir, logger: silentLogger, fsync: mode });
  await wal.open();
  const messages = events.map((e) => ({
    topic: "bench",
    key: e.camera_id,
    value: JSON.stringify(e),
    headers: { event_id: e.event_id },
  }));
  const accept: number[] = [];
  const started = performance.now();
  const lanes = Array.from({ length: 64 }, async (_, lane) => {
    for (let i = lane; i < messages.length; i += 64) {
      const t0 = performance.now();
      await wal.append(messages[i]!, Date.now());
      accept.push(performance.now() - t0);
    }
  });
  await Promise.all(lanes);
  const elapsed = performance.now() - started;
  const { syncs } = wal.stats;
  await wal.close();
  await Deno.remove(dir, { recursive: true });
  return {
    mode,
    events: messages.length,
    syncsPerEvent: syncs / messages.length,
    usPerEvent: (elapsed * 1000) / messages.length,
    acceptP50: percentile(accept, 50),
    acceptP99: percentile(accept, 99),
  };
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
  // Warm-up: JIT, connections, metadata.
  await runFess(brokers, makeEvents(5_000), { acks: "1", fsync: "batch" });

  const saturated = await runFess(brokers, events, { acks: "1", fsync: "batch" });
  // The same without fsync: separates the disk's cost from the producer's.
  const unsynced = await runFess(brokers, events, { acks: "1", fsync: "none" });
  // Pipelined requests (kafka.max_in_flight=5): more throughput, weaker ordering on failures.
  const pipelined = await runFess(brokers, events, { acks: "1", fsync: "batch", maxInFlight: 5 });
  const kcatAll = await kcatSeconds(brokers, events);
  const kcatStartup = await kcatSeconds(brokers, events.slice(0, 1));
  const kcatSteady = N / Math.max(1e-3, kcatAll - kcatStartup);
  const ratio = saturated.eventsPerSecond / kcatSteady;

  const paced: { acks: AcksMode; fsync: FsyncMode; lat: Latencies }[] = [];
  for (const fsync of FSYNC_MODES) {
    const r = await runFess(brokers, events.slice(0, PACED), {
      acks: "1",
      fsync,
      rate: PACED_RATE,
    });
    paced.push({ acks: "1", fsync, lat: r.lat });
  }
  const all = await runFess(brokers, events.slice(0, PACED), {
    acks: "all",
    fsync: "batch",
    rate: PACED_RATE,
  });
  paced.push({ acks: "all", fsync: "batch", lat: all.lat });

  const wal = [];
  for (const mode of FSYNC_MODES) {
    wal.push(await walOnly(mode, events.slice(0, mode === "always" ? 2_000 : 20_000)));
  }

  const ms = (v: number[], p: number) => fmt(percentile(v, p), 3);
  const lines = [
    `Kafka publish benchmark: ${N} events, ${bytes} B JSON events, ${CAMERAS} camera keys, ` +
    `3 partitions, broker ${
      external ? `external ${external}` : `local ${brokers[0]} (KRaft, Kafka 3.9)`
    }, default batch_bytes/linger`,
    "",
    "Throughput, acks=1 (FESS: fsync=batch)",
    "",
    "| producer | events | events/s | publish() p50 ms | publish() p99 ms | accept p99 ms | ack p50 ms | ack p99 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    `| fess saturated | ${N} | ${saturated.eventsPerSecond.toFixed(0)} | ${
      ms(saturated.lat.call, 50)
    } | ${ms(saturated.lat.call, 99)} | ${ms(saturated.lat.accept, 99)} | ${
      ms(saturated.lat.ack, 50)
    } | ${ms(saturated.lat.ack, 99)} |`,
    `| fess saturated, fsync=none | ${N} | ${unsynced.eventsPerSecond.toFixed(0)} | ${
      ms(unsynced.lat.call, 50)
    } | ${ms(unsynced.lat.call, 99)} | ${ms(unsynced.lat.accept, 99)} | ${
      ms(unsynced.lat.ack, 50)
    } | ${ms(unsynced.lat.ack, 99)} |`,
    `| fess saturated, max_in_flight=5 | ${N} | ${pipelined.eventsPerSecond.toFixed(0)} | ${
      ms(pipelined.lat.call, 50)
    } | ${ms(pipelined.lat.call, 99)} | ${ms(pipelined.lat.accept, 99)} | ${
      ms(pipelined.lat.ack, 50)
    } | ${ms(pipelined.lat.ack, 99)} |`,
    `| kcat (librdkafka), wall | ${N} | ${
      (N / kcatAll).toFixed(0)
    } | n/a | n/a | n/a | n/a | n/a |`,
    `| kcat steady state (start-up ${kcatStartup.toFixed(2)} s removed) | ${N} | ${
      kcatSteady.toFixed(0)
    } | n/a | n/a | n/a | n/a | n/a |`,
    "",
    `FESS / kcat steady state: ${ratio.toFixed(2)}x (defaults), ${
      (unsynced.eventsPerSecond / kcatSteady).toFixed(2)
    }x (fsync=none), ${(pipelined.eventsPerSecond / kcatSteady).toFixed(2)}x (max_in_flight=5)`,
    "",
    `Paced at ${PACED_RATE} events/s, ${PACED} events per row`,
    "",
    "| acks | kafka.fsync | publish() p50 ms | publish() p99 ms | accept p50 ms | accept p99 ms | ack p50 ms | ack p99 ms |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...paced.map(({ acks, fsync, lat }) =>
      `| ${acks} | ${fsync} | ${ms(lat.call, 50)} | ${ms(lat.call, 99)} | ${ms(lat.accept, 50)} | ${
        ms(lat.accept, 99)
      } | ${ms(lat.ack, 50)} | ${ms(lat.ack, 99)} |`
    ),
    "",
    "Write-ahead log alone (64 appends in flight)",
    "",
    "| kafka.fsync | events | fsyncs/event | µs/event | accept p50 ms | accept p99 ms |",
    "|---|---:|---:|---:|---:|---:|",
    ...wal.map((w) =>
      `| ${w.mode} | ${w.events} | ${w.syncsPerEvent.toFixed(3)} | ${w.usPerEvent.toFixed(1)} | ${
        fmt(w.acceptP50, 3)
      } | ${fmt(w.acceptP99, 3)} |`
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
