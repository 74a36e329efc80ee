/**
 * Low-level batching Kafka producer on kafkajs.
 *
 * kafkajs sends one Produce request per `send()` call, so batching is done here, per partition
 * like the Java producer's accumulator: each record is assigned its partition up front (the
 * same murmur2 hash of the key kafkajs and Java use, once the topic's partition count is
 * known) and queued for it. A request carries one batch per ready partition, each at most
 * `batchBytes` (a single larger record goes alone, and the publisher caps records below the
 * broker's limit), the request at most `maxRequestBytes`.
 *
 * When no request is in flight, whatever is queued goes at once (like Nagle's algorithm):
 * a lone event does not wait for `lingerMs`. While requests are in flight, a partition's batch
 * goes when it reaches `batchBytes` or its oldest record has waited `lingerMs`, so batches grow
 * with load and throughput follows the round-trip time.
 *
 * In flight: at most `maxInFlight` requests. With `acks: "all"` (the idempotent producer, whose
 * sequence numbers kafkajs can only keep with one request in flight) it is always 1. With one
 * request in flight (the default) each key's records stay in order even across retries and
 * refused records. With acks 0 or 1 and more in flight, a request that fails or is refused
 * while a later one succeeds can put a key's resent records after newer ones, as with the Java
 * producer without idempotence; requests that do not fail keep order (one connection per
 * broker, handled in order).
 *
 * Failures carry kafkajs' `retriable` verdict ({@link classifyKafkaError}):
 * - non-retriable (the broker refused a record: too large, invalid, not authorised): a batch of
 *   several records is retried one record per request, so only the offending record fails;
 *   the others are delivered in order.
 * - retriable (broker down after kafkajs' retries): the request's records and every queued
 *   one are rejected, the kafkajs session is dropped, and every `send` rejects until
 *   `connect()` succeeds again. Nothing can overtake a record its caller must resend.
 *
 * With `acks: "all"` the producer is idempotent (no duplicates from kafkajs' own retries).
 *
 * @module
 */
import { Partitioners } from "kafkajs";
import type {
  Kafka,
  Message,
  PartitionerArgs,
  PartitionMetadata,
  Producer,
  RecordMetadata,
} from "kafkajs";
import { Buffer } from "node:buffer";
import type { Logger } from "../logger.ts";
import { compressionType, createKafkaClient } from "./kafka_client.ts";
import type { CompressionName, KafkaConnectionOptions } from "./kafka_client.ts";
import { classifyKafkaError } from "./kafka_errors.ts";
import {
  type ConnectionState,
  DeliveryError,
  type DeliveryReport,
  type MessageSink,
  type OutgoingMessage,
} from "./types.ts";

/** Broker acknowledgement policy. */
export type AcksMode = "0" | "1" | "all";

/** Records of one topic, in send order; `partition` null lets the transport choose. */
export interface TopicBatch {
  readonly topic: string;
  readonly partition: number | null;
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
  /** Partitions of `topic` as last seen in metadata, or null before its first send. */
  partitionCount(topic: string): number | null;
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
  const partitions = new Map<string, number>();
  // Where kafkajs put records sent without a partition (a topic's first batch).
  const chosen = new WeakMap<object, number>();
  // Learns each topic's partition count from the metadata kafkajs hands its partitioner.
  const createPartitioner = () => {
    const murmur2 = Partitioners.DefaultPartitioner();
    return (args: PartitionerArgs) => {
      partitions.set(args.topic, args.partitionMetadata.length);
      const partition = murmur2(args);
      chosen.set(args.message, partition);
      return partition;
    };
  };
  let producer: Producer | null = null;
  let connecting: Promise<Producer> | null = null;

  const connect = (): Promise<Producer> => {
    if (producer) return Promise.resolve(producer);
    if (!connecting) {
      // No kafkajs-level in-flight cap: the batching producer bounds requests in flight
      // itself, and a cap would only queue kafkajs' metadata requests behind them.
      const p = options.kafka.producer({
        createPartitioner,
        idempotent,
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
      const byTopic = new Map<string, Message[]>();
      const sent: Message[][] = [];
      for (const b of batches) {
        let list = byTopic.get(b.topic);
        if (!list) byTopic.set(b.topic, list = []);
        const messages = b.messages.map((m): Message => ({
          key: m.key,
          value: m.value,
          headers: m.headers as Record<string, string>,
          partition: b.partition ?? undefined,
        }));
        for (const m of messages) list.push(m);
        sent.push(messages);
      }
      const metadata = await p.sendBatch({
        acks,
        compression,
        timeout: options.ackTimeoutMs ?? 30_000,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      return toReports(batches, sent, metadata, chosen);
    },
    partitionCount: (topic) => partitions.get(topic) ?? null,
    reset: drop,
    close: drop,
  };
}

/** Per-message reports: offset = partition base offset + index within that partition. */
function toReports(
  batches: readonly TopicBatch[],
  sent: Message[][],
  metadata: RecordMetadata[],
  chosen: WeakMap<object, number>,
): DeliveryReport[][] {
  const base = new Map<string, bigint>();
  for (const m of metadata) {
    const offset = m.baseOffset ?? m.offset;
    if (offset !== undefined) base.set(`${m.topicName}\u0000${m.partition}`, BigInt(offset));
  }
  const seen = new Map<string, bigint>();
  return batches.map(({ topic, partition: fixed }, i) =>
    sent[i]!.map((message) => {
      const partition = fixed ?? chosen.get(message) ?? null;
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
  /**
   * Largest batch of one partition (a single larger record goes alone). A request carries one
   * batch per partition, so it must hold a round trip's worth of records. Default 262144.
   */
  readonly batchBytes?: number;
  /** Longest a record waits for its batch to fill while requests are in flight. Default 10 ms. */
  readonly lingerMs?: number;
  /** Most requests in flight (forced to 1 with `acks: "all"`). Default 1. */
  readonly maxInFlight?: number;
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

/** Records waiting for one partition (or for a topic whose partitions are not known yet). */
interface PartitionQueue {
  readonly topic: string;
  readonly partition: number | null;
  readonly items: Pending[];
  bytes: number;
  /** When its oldest record was queued (performance.now()). */
  since: number;
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
  const batchBytes = options.batchBytes ?? 262_144;
  const lingerMs = options.lingerMs ?? 10;
  const maxInFlight = options.acks === "all" ? 1 : Math.max(1, options.maxInFlight ?? 1);
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
  const keyPartitioner = Partitioners.DefaultPartitioner();
  const fakeMetadata = new Map<number, PartitionMetadata[]>();

  /** Queues in the order they were created (so older topics go first). */
  const queues = new Map<string, PartitionQueue>();
  let pendingBytes = 0;
  let pendingCount = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  /** Requests in flight. */
  const inFlight = new Set<Promise<void>>();
  let state: ConnectionState = "disconnected";
  let failure: DeliveryError | null = null;
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

  /** The partition Kafka's default partitioner picks for this key, once the count is known. */
  const partitionOf = (m: OutgoingMessage): number | null => {
    if (m.key === null) return null;
    const count = transport.partitionCount(m.topic);
    if (count === null || count <= 0) return null;
    let metadata = fakeMetadata.get(count);
    if (!metadata) {
      metadata = Array.from({ length: count }, (_, i) => ({
        partitionId: i,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      fakeMetadata.set(count, metadata);
    }
    return keyPartitioner({
      topic: m.topic,
      partitionMetadata: metadata,
      message: { key: m.key, value: null },
    });
  };

  const queueFor = (topic: string, partition: number | null): PartitionQueue => {
    const slot = `${topic}\u0000${partition}`;
    let q = queues.get(slot);
    if (!q) {
      q = { topic, partition, items: [], bytes: 0, since: performance.now() };
      queues.set(slot, q);
    }
    return q;
  };

  /**
   * Takes one batch per ready partition (each at most `batchBytes`, or one larger record)
   * until the request cap. Records of a topic whose partitions were unknown when they were
   * queued go first, so a key's older records never follow its newer ones.
   */
  const takeRequest = (force: boolean) => {
    const batches: TopicBatch[] = [];
    const entries: Pending[][] = [];
    const now = performance.now();
    let bytes = 0;
    const unknownFirst = [...queues.values()].sort((a, b) =>
      (a.partition === null ? 0 : 1) - (b.partition === null ? 0 : 1)
    );
    const blocked = new Set<string>();
    for (const q of unknownFirst) {
      if (q.items.length === 0) continue;
      if (q.partition !== null && blocked.has(q.topic)) continue;
      if (!force && q.bytes < batchBytes && now - q.since < lingerMs) continue;
      let n = 0;
      let size = 0;
      while (n < q.items.length) {
        const b = q.items[n]!.bytes;
        if (n > 0 && size + b > batchBytes) break;
        if (bytes + size + b > maxRequestBytes && (bytes + size > 0)) break;
        size += b;
        n++;
      }
      if (n === 0) break;
      const taken = q.items.splice(0, n);
      q.bytes -= size;
      q.since = now;
      bytes += size;
      pendingBytes -= size;
      pendingCount -= n;
      batches.push({
        topic: q.topic,
        partition: q.partition,
        messages: taken.map((p) => p.message),
      });
      entries.push(taken);
      if (q.partition === null && q.items.length > 0) blocked.add(q.topic);
      if (bytes >= maxRequestBytes) break;
    }
    for (const [slot, q] of queues) if (q.items.length === 0) queues.delete(slot);
    return { batches, entries };
  };

  const fail = (list: Pending[], err: DeliveryError) => {
    for (const p of list) p.reject(err);
  };

  /** A non-retriable refusal of a multi-record request: find the offending records. */
  const isolate = async (batches: TopicBatch[], entries: Pending[][]) => {
    for (let i = 0; i < batches.length; i++) {
      const { topic, partition } = batches[i]!;
      for (const p of entries[i]!) {
        if (failure) {
          p.reject(failure);
          continue;
        }
        try {
          const [[report]] = await transport.send([{ topic, partition, messages: [p.message] }]);
          p.resolve(report!);
        } catch (err) {
          const e = classifyKafkaError(err);
          if (e.retriable) setFailure(e);
          p.reject(e);
        }
      }
    }
  };

  const setFailure = (e: DeliveryError) => {
    failure = e;
    // Records queued behind a failed request are failed too, in order, so that the caller who
    // resends failures keeps each key's order instead of letting newer records overtake.
    const lists = [...queues.values()].map((q) => q.items);
    queues.clear();
    pendingBytes = 0;
    pendingCount = 0;
    for (const list of lists) fail(list, e);
    if (state !== "closed") setState("disconnected");
  };

  const sendRequest = async ({ batches, entries }: ReturnType<typeof takeRequest>) => {
    try {
      await ensureConnected();
      const reports = await transport.send(batches);
      entries.forEach((list, i) => list.forEach((p, j) => p.resolve(reports[i]![j]!)));
    } catch (err) {
      const e = classifyKafkaError(err);
      const count = entries.reduce((n, l) => n + l.length, 0);
      if (!e.retriable && count > 1) {
        logger.warn("kafka refused a batch; sending its records one by one", {
          records: count,
          reason: e.reason,
        });
        await isolate(batches, entries);
      } else if (!e.retriable) {
        for (const list of entries) fail(list, e);
      } else {
        logger.warn("kafka batch failed", { records: count, reason: e.reason, error: err });
        for (const list of entries) fail(list, e);
        setFailure(e);
      }
      if (failure) await transport.reset().catch(() => {});
    }
  };

  /** Milliseconds until some queue is due, 0 when one is ready now, null when none waits. */
  const nextDue = (): number | null => {
    if (pendingCount === 0) return null;
    if (inFlight.size === 0) return 0; // idle: send what is queued at once
    let due: number | null = null;
    const now = performance.now();
    for (const q of queues.values()) {
      if (q.items.length === 0) continue;
      if (q.bytes >= batchBytes) return 0;
      const wait = Math.max(0, lingerMs - (now - q.since));
      if (due === null || wait < due) due = wait;
    }
    return due;
  };

  /** Starts requests while there is room in flight and something is ready. */
  const drain = (force = false) => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    while (inFlight.size < maxInFlight && pendingCount > 0) {
      const request = takeRequest(force || closed || inFlight.size === 0);
      if (request.batches.length === 0) break;
      const sending: Promise<void> = sendRequest(request).finally(() => {
        inFlight.delete(sending);
        schedule();
      });
      inFlight.add(sending);
    }
    schedule();
  };

  let drainQueued = false;
  const scheduleNow = () => {
    if (drainQueued) return;
    drainQueued = true;
    queueMicrotask(() => {
      drainQueued = false;
      drain();
    });
  };

  const schedule = () => {
    if (timer !== null || inFlight.size >= maxInFlight) return;
    const due = nextDue();
    if (due === null) return;
    timer = setTimeout(() => {
      timer = null;
      drain();
    }, due);
  };

  const flush = async () => {
    while (pendingCount > 0 || inFlight.size > 0) {
      drain(true);
      if (inFlight.size > 0) await Promise.race(inFlight);
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
      if (closed) {
        throw new DeliveryError("kafka producer is closed", { retriable: true, reason: "closed" });
      }
      await ensureConnected();
      failure = null;
    },
    send: (message) => {
      if (closed) {
        return Promise.reject(
          new DeliveryError("kafka producer is closed", { retriable: true, reason: "closed" }),
        );
      }
      if (failure) return Promise.reject(failure);
      return new Promise<DeliveryReport>((resolve, reject) => {
        const bytes = recordBytes(message);
        const q = queueFor(message.topic, partitionOf(message));
        if (q.items.length === 0) q.since = performance.now();
        q.items.push({ message, bytes, resolve, reject });
        q.bytes += bytes;
        pendingBytes += bytes;
        pendingCount++;
        if (inFlight.size === 0 || q.bytes >= batchBytes || pendingBytes >= maxRequestBytes) {
          // Not synchronously: records published in the same turn join the request.
          scheduleNow();
        } else schedule();
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
