/**
 * Low-level batching Kafka producer on kafkajs.
 *
 * kafkajs sends one Produce request per `send()` call, so batching is done here: records are
 * accumulated per topic until `batchBytes` (16 KB) are pending or the oldest has waited
 * `lingerMs` (10 ms), then everything pending (up to `maxRequestBytes`) goes out in one
 * `sendBatch` request. One request is in flight at a time, which keeps each key's records in
 * order across retries; while it is in flight the next batch grows, so throughput adapts to the
 * round-trip time the way the Java producer's accumulator does.
 *
 * With `acks: "all"` the producer is idempotent (no duplicates from kafkajs' own retries). When
 * a batch still fails after kafkajs' retries (broker down), every record of it is rejected and
 * the kafkajs session is dropped; the next batch reconnects with a fresh producer id, so stale
 * sequence numbers can never wedge it. The caller (the {@link Publisher}) spools what was
 * rejected, which makes end-to-end delivery at-least-once.
 *
 * @module
 */
import { Partitioners } from "kafkajs";
import type { Kafka, Message, PartitionerArgs, Producer, RecordMetadata } from "kafkajs";
import { Buffer } from "node:buffer";
import { ServiceUnavailableError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { compressionType, createKafkaClient } from "./kafka_client.ts";
import type { CompressionName, KafkaConnectionOptions } from "./kafka_client.ts";
import type { ConnectionState, DeliveryReport, MessageSink, OutgoingMessage } from "./types.ts";

/** Broker acknowledgement policy. */
export type AcksMode = "0" | "1" | "all";

/** Records of one topic, in send order. */
export interface TopicBatch {
  readonly topic: string;
  readonly messages: readonly OutgoingMessage[];
}

/**
 * What actually talks to Kafka: one request per call. The kafkajs implementation is
 * {@link createKafkajsTransport}; unit tests use fakes.
 */
export interface ProducerTransport {
  /** Opens a session (idempotent). */
  connect(): Promise<void>;
  /** Sends all batches in one request; returns one report per message, per batch, in order. */
  send(batches: readonly TopicBatch[]): Promise<DeliveryReport[][]>;
  /** Drops the session after a failure; the next {@link connect} starts a fresh one. */
  reset(): Promise<void>;
  /** Closes for good. */
  close(): Promise<void>;
}

/** Options of {@link createKafkajsTransport}. */
export interface KafkajsTransportOptions {
  readonly kafka: Kafka;
  readonly acks: AcksMode;
  readonly compression: CompressionName;
  /** Broker-side wait for acknowledgements. Default 30000 ms. */
  readonly ackTimeoutMs?: number;
  /** Producer-level retries (kafkajs). Default 5. */
  readonly retries?: number;
  readonly initialRetryTimeMs?: number;
  readonly maxRetryTimeMs?: number;
}

const ACKS: Record<AcksMode, number> = { "0": 0, "1": 1, "all": -1 };

/** A {@link ProducerTransport} on a kafkajs producer (Java-compatible murmur2 partitioning). */
export function createKafkajsTransport(options: KafkajsTransportOptions): ProducerTransport {
  const acks = ACKS[options.acks];
  const compression = compressionType(options.compression);
  const idempotent = options.acks === "all";
  // The partitioner records each message's partition so offsets can be reported per message.
  const partitionOf = new WeakMap<object, number>();
  const createPartitioner = () => {
    const murmur2 = Partitioners.DefaultPartitioner();
    return (args: PartitionerArgs) => {
      const partition = murmur2(args);
      partitionOf.set(args.message, partition);
      return partition;
    };
  };
  let producer: Producer | null = null;
  let connecting: Promise<Producer> | null = null;

  const connect = (): Promise<Producer> => {
    if (producer) return Promise.resolve(producer);
    if (!connecting) {
      const p = options.kafka.producer({
        createPartitioner,
        idempotent,
        maxInFlightRequests: idempotent ? 1 : undefined,
        allowAutoTopicCreation: true,
        retry: {
          retries: options.retries ?? 5,
          initialRetryTime: options.initialRetryTimeMs ?? 100,
          maxRetryTime: options.maxRetryTimeMs ?? 2_000,
        },
      });
      connecting = p.connect().then(
        () => {
          producer = p;
          connecting = null;
          return p;
        },
        async (err) => {
          connecting = null;
          await p.disconnect().catch(() => {});
          throw err;
        },
      );
    }
    return connecting;
  };

  const drop = async () => {
    const p = producer;
    producer = null;
    if (p) await p.disconnect().catch(() => {});
  };

  return {
    connect: async () => {
      await connect();
    },
    send: async (batches) => {
      const p = await connect();
      const kafkaBatches = batches.map((b) => ({
        topic: b.topic,
        messages: b.messages.map((m): Message => ({
          key: m.key,
          value: m.value,
          headers: { ...m.headers },
        })),
      }));
      const metadata = await p.sendBatch({
        acks,
        compression,
        timeout: options.ackTimeoutMs ?? 30_000,
        topicMessages: kafkaBatches,
      });
      return toReports(kafkaBatches, metadata, partitionOf);
    },
    reset: drop,
    close: drop,
  };
}

/** Per-message reports: offset = partition base offset + index within that partition. */
function toReports(
  batches: { topic: string; messages: Message[] }[],
  metadata: RecordMetadata[],
  partitionOf: WeakMap<object, number>,
): DeliveryReport[][] {
  const base = new Map<string, bigint>();
  for (const m of metadata) {
    const offset = m.baseOffset ?? m.offset;
    if (offset !== undefined) base.set(`${m.topicName}\u0000${m.partition}`, BigInt(offset));
  }
  const seen = new Map<string, bigint>();
  return batches.map(({ topic, messages }) =>
    messages.map((message) => {
      const partition = partitionOf.get(message) ?? null;
      const slot = `${topic}\u0000${partition}`;
      const start = base.get(slot);
      if (partition === null || start === undefined) return { topic, partition, offset: null };
      const index = seen.get(slot) ?? 0n;
      seen.set(slot, index + 1n);
      return { topic, partition, offset: String(start + index) };
    })
  );
}

/** Options of {@link createKafkaProducer}. */
export interface KafkaProducerOptions extends KafkaConnectionOptions {
  readonly logger: Logger;
  /** `0`: fire and forget; `1`: leader wrote it; `all`: all in-sync replicas (idempotent). */
  readonly acks?: AcksMode;
  /** Default `none`. */
  readonly compression?: CompressionName;
  /** Send as soon as this many bytes are pending. Default 16384. */
  readonly batchBytes?: number;
  /** Longest a record waits for a batch to fill. Default 10 ms. */
  readonly lingerMs?: number;
  /** Cap on one request. Default 1 MiB (the broker's default message.max.bytes). */
  readonly maxRequestBytes?: number;
  /** Broker-side wait for acknowledgements. Default 30000 ms. */
  readonly ackTimeoutMs?: number;
  /** Replaces kafkajs (tests). */
  readonly transport?: ProducerTransport;
  /** Told about every connection-state change. */
  readonly onStateChange?: (state: ConnectionState) => void;
}

/** A batching Kafka producer (a {@link MessageSink}). */
export interface KafkaProducer extends MessageSink {
  /** Records waiting for a batch (not yet in a request). */
  readonly pendingCount: number;
}

interface Pending {
  readonly message: OutgoingMessage;
  readonly bytes: number;
  readonly resolve: (report: DeliveryReport) => void;
  readonly reject: (err: unknown) => void;
}

/** Approximate record size: what counts against `batchBytes` and `maxRequestBytes`. */
function recordBytes(m: OutgoingMessage): number {
  let n = Buffer.byteLength(m.value) + (m.key === null ? 0 : Buffer.byteLength(m.key)) + 16;
  for (const k in m.headers) n += k.length + m.headers[k]!.length + 4;
  return n;
}

/** Creates the batching producer; call `connect()` (or just `send`) to open the session. */
export function createKafkaProducer(options: KafkaProducerOptions): KafkaProducer {
  const logger = options.logger.child({ component: "kafka_producer" });
  const batchBytes = options.batchBytes ?? 16_384;
  const lingerMs = options.lingerMs ?? 10;
  const maxRequestBytes = Math.max(options.maxRequestBytes ?? 1_048_576, batchBytes);
  const transport = options.transport ?? createKafkajsTransport({
    kafka: createKafkaClient(options),
    acks: options.acks ?? "all",
    compression: options.compression ?? "none",
    ackTimeoutMs: options.ackTimeoutMs,
    retries: options.retries,
    initialRetryTimeMs: options.initialRetryTimeMs,
    maxRetryTimeMs: options.maxRetryTimeMs,
  });

  const queues = new Map<string, Pending[]>();
  let pendingBytes = 0;
  let pendingCount = 0;
  let oldestAt = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inFlight: Promise<void> | null = null;
  let state: ConnectionState = "disconnected";
  let closed = false;

  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    logger.debug("kafka producer state", { state: next });
    options.onStateChange?.(next);
  };

  const ensureConnected = async () => {
    if (state === "connected") return;
    setState("connecting");
    try {
      await transport.connect();
      setState("connected");
    } catch (err) {
      setState("disconnected");
      throw err;
    }
  };

  /** Takes pending records, whole topics first, until the request cap. */
  const takeBatch = (): { batches: TopicBatch[]; entries: Pending[][] } => {
    const batches: TopicBatch[] = [];
    const entries: Pending[][] = [];
    let bytes = 0;
    for (const [topic, queue] of queues) {
      let n = 0;
      while (n < queue.length && (bytes === 0 || bytes + queue[n]!.bytes <= maxRequestBytes)) {
        bytes += queue[n]!.bytes;
        n++;
      }
      if (n === 0) break;
      const taken = queue.splice(0, n);
      if (queue.length === 0) queues.delete(topic);
      batches.push({ topic, messages: taken.map((p) => p.message) });
      entries.push(taken);
      pendingCount -= taken.length;
      if (bytes >= maxRequestBytes) break;
    }
    pendingBytes -= bytes;
    return { batches, entries };
  };

  const sendNow = async () => {
    const { batches, entries } = takeBatch();
    if (pendingCount > 0) oldestAt = performance.now();
    if (batches.length === 0) return;
    try {
      await ensureConnected();
      const reports = await transport.send(batches);
      entries.forEach((list, i) => list.forEach((p, j) => p.resolve(reports[i]![j]!)));
    } catch (err) {
      const count = entries.reduce((n, l) => n + l.length, 0);
      logger.warn("kafka batch failed", { records: count, error: err });
      const failure = new ServiceUnavailableError("kafka delivery failed", { cause: err });
      for (const list of entries) for (const p of list) p.reject(failure);
      // Records queued behind a failed batch are failed too, in order, so that a caller who
      // spools failures keeps each key's order instead of letting them overtake the spool.
      failPending(failure);
      if (state !== "closed") setState("disconnected");
      await transport.reset().catch(() => {});
    }
  };

  const failPending = (failure: Error) => {
    const lists = [...queues.values()];
    queues.clear();
    pendingBytes = 0;
    pendingCount = 0;
    for (const list of lists) for (const p of list) p.reject(failure);
  };

  const drain = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (inFlight !== null || pendingCount === 0) return;
    inFlight = sendNow().finally(() => {
      inFlight = null;
      if (pendingCount === 0) return;
      const waited = performance.now() - oldestAt;
      if (pendingBytes >= batchBytes || waited >= lingerMs || closed) drain();
      else schedule(lingerMs - waited);
    });
  };

  const schedule = (ms: number) => {
    if (timer === null && inFlight === null) timer = setTimeout(drain, ms);
  };

  const flush = async () => {
    while (pendingCount > 0 || inFlight !== null) {
      drain();
      if (inFlight) await inFlight;
    }
  };

  return {
    kind: "kafka",
    get state() {
      return state;
    },
    get pendingCount() {
      return pendingCount;
    },
    connect: async () => {
      if (closed) throw new ServiceUnavailableError("kafka producer is closed");
      await ensureConnected();
    },
    send: (message) => {
      if (closed) return Promise.reject(new ServiceUnavailableError("kafka producer is closed"));
      return new Promise<DeliveryReport>((resolve, reject) => {
        const bytes = recordBytes(message);
        let queue = queues.get(message.topic);
        if (!queue) queues.set(message.topic, queue = []);
        if (pendingCount === 0) oldestAt = performance.now();
        queue.push({ message, bytes, resolve, reject });
        pendingBytes += bytes;
        pendingCount++;
        if (pendingBytes >= batchBytes) drain();
        else schedule(lingerMs);
      });
    },
    flush,
    close: async () => {
      if (closed) return;
      closed = true;
      await flush();
      setState("closed");
      await transport.close().catch((err) => logger.warn("kafka close failed", { error: err }));
    },
  };
}
