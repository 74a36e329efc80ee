/**
 * High-level event publishing: validate, size-check, route, key, header, write ahead, deliver,
 * and never lose or block on an accepted event.
 *
 * - `publish(event)` validates with `FessEventSchema` (422, unknown fields included), refuses
 *   an event whose JSON exceeds `maxEventBytes` (413, with the size and the limit), routes by
 *   type to its topic, keys by `camera_id` and adds `event_type`, `schema_version`, `event_id`
 *   and `content_type` headers. It resolves only once the record is in the
 *   {@link WriteAheadLog} (per its fsync mode): accepted means durable, and the receipt carries
 *   the event exactly as written. A SIGKILL at any moment loses nothing that was accepted.
 * - Delivery reads the log in sequence order, so each camera key keeps its order, and hands
 *   records to the sink. Up to `queueCapacity` undelivered records are kept in memory; past
 *   that they stay on disk only and are read back when there is room.
 * - The log is truncated only below the lowest record not yet acknowledged by the sink (or
 *   dead-lettered). Delivery is at-least-once: a crash between an acknowledgement and the
 *   next checkpoint, or a request the broker wrote but did not acknowledge, sends a record
 *   again. Consumers de-duplicate by `event_id`.
 * - A retriable failure (broker down) pauses delivery: once every request in flight has
 *   settled, the failed records go back to the front, in order, and are resent when the sink
 *   reconnects (backoff 250 ms doubling to 5 s). A non-retriable one (the broker refused the
 *   record) writes the record to the dead-letter file (and, best effort, the dead-letter
 *   topic) and delivery moves on: nothing blocks the line.
 * - Backpressure: 429 when `queueCapacity` appends are waiting for the disk or the log holds
 *   `maxWalBytes`. Nothing is dropped silently.
 * - Health: degraded as soon as the oldest undelivered event is older than
 *   `maxBacklogAgeMs`, whatever kafkajs is still retrying.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { checkEvent, type EventType, type FessEvent } from "../events.ts";
import {
  FessError,
  ServiceUnavailableError,
  TooManyRequestsError,
  ValidationError,
} from "../errors.ts";
import type { ComponentHealth } from "../health.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import type { DeadLetterLog } from "./dead_letters.ts";
import { migrateLegacySpool } from "./spool_migration.ts";
import { resolveTopics, topicFor, type TopicMap } from "./topics.ts";
import {
  type ConnectionState,
  DeliveryError,
  type DeliveryReport,
  type MessageSink,
  type OutgoingMessage,
} from "./types.ts";
import type { WriteAheadLog } from "./wal.ts";

/** Outcome of one accepted event. */
export type DeliveryResult =
  | {
    readonly status: "delivered";
    readonly topic: string;
    readonly partition: number | null;
    readonly offset: string | null;
  }
  /** The broker refused it for good; it is in the dead-letter file with the reason. */
  | { readonly status: "dead_lettered"; readonly topic: string; readonly reason: string }
  /** Still in the write-ahead log when the publisher closed; delivered after the next start. */
  | { readonly status: "retained"; readonly topic: string };

/** What `publish` resolves with once the event is durably accepted. */
export interface PublishReceipt {
  /** The event as validated and written: unknown fields refused, defaults filled in. */
  readonly event: FessEvent;
  readonly event_id: string;
  readonly event_type: EventType;
  readonly topic: string;
  /**
   * Settles on delivery or dead-lettering; never rejects. Read it right after `publish`
   * resolves (it is created on first access, so callers that ignore it cost nothing).
   */
  readonly delivery: Promise<DeliveryResult>;
}

/** What {@link Publisher.healthCheck} reports (the `kafka` component of `/health`). */
export interface PublisherHealth extends ComponentHealth {
  /** `kafka` or `event_log`. */
  readonly mode: string;
  readonly state: ConnectionState;
  /** Accepted events not yet delivered or dead-lettered. */
  readonly queued: number;
  /** Age of the oldest of them, 0 when none. */
  readonly oldest_age_ms: number;
  readonly dead_letters: number;
  readonly wal_bytes: number;
  readonly fsync: string;
  readonly error?: string;
}

/** Publishes FESS events. */
export interface Publisher {
  /**
   * Opens the write-ahead log (recovering it and moving a legacy spool in), connects the sink
   * (a failure only logs: events wait in the log) and starts delivering what the log holds.
   */
  start(): Promise<void>;
  /**
   * Validates, size-checks and durably appends an event.
   * @throws ValidationError when the event does not match its schema (422)
   * @throws FessError 413 `event_too_large` when its JSON exceeds `maxEventBytes`
   * @throws TooManyRequestsError when the log is full or the disk is behind (429)
   * @throws ServiceUnavailableError when the log cannot be written, or after close (503)
   */
  publish(event: unknown): Promise<PublishReceipt>;
  /** Accepted events not yet delivered or dead-lettered. */
  readonly queued: number;
  /** Records in the dead-letter file. */
  readonly deadLetters: number;
  /** Age of the oldest undelivered event in ms (0 when none). */
  readonly oldestAgeMs: number;
  /** The sink's connection state. */
  readonly state: ConnectionState;
  /** The publisher's health component; also refreshes the gauges. */
  healthCheck(): PublisherHealth;
  /** Sets the backlog gauges (call before a metrics scrape). */
  refreshMetrics(): void;
  /** Resolves when every event accepted so far is delivered or dead-lettered. */
  flush(): Promise<void>;
  /**
   * Stops intake, delivers what it can within `closeTimeoutMs`, checkpoints the log (the
   * rest is delivered after the next start) and closes the sink. Idempotent.
   */
  close(): Promise<void>;
}

/** Options of {@link createPublisher}. */
export interface PublisherOptions {
  /** Where events go: the Kafka producer or the event-log sink. */
  readonly sink: MessageSink;
  /** The write-ahead log every accepted event is appended to first. */
  readonly wal: WriteAheadLog;
  readonly logger: Logger;
  /** Topic names; unset ones use the defaults. */
  readonly topics?: Partial<TopicMap>;
  /** Records kept in memory for delivery, and most appends waiting for the disk. Default 10000. */
  readonly queueCapacity?: number;
  /** Largest event JSON in bytes (keep it below the broker's message.max.bytes). Default 900000. */
  readonly maxEventBytes?: number;
  /** Health turns degraded when the oldest undelivered event is older. Default 2000 ms. */
  readonly maxBacklogAgeMs?: number;
  /** Past this many bytes in the log, `publish` answers 429. Default 1 GiB. */
  readonly maxWalBytes?: number;
  /** Where refused records go. Without one they are only logged and counted. */
  readonly deadLetters?: DeadLetterLog;
  /** Topic that also gets a summary of each dead letter (best effort), e.g. `fess.dead_letter`. */
  readonly deadLetterTopic?: string;
  /** Directory of a spool left by an older FESS, moved into the log at start. */
  readonly legacySpoolDir?: string;
  /** Records `fess_kafka_*` metrics. */
  readonly metrics?: FessMetrics;
  /** First delay between reconnect attempts; doubles to 5 s. Default 250. */
  readonly retryBackoffMs?: number;
  /** Longest `close` spends delivering the backlog. Default 5000 ms. */
  readonly closeTimeoutMs?: number;
}

/** One record in memory on its way to the sink. */
interface Entry {
  readonly seq: number;
  readonly acceptedAt: number;
  readonly message: OutgoingMessage;
  done: boolean;
  /** The outcome once done (for a receipt read after the fact). */
  result: DeliveryResult | null;
  /** A receipt waiting for the outcome. */
  waiter: ((r: DeliveryResult) => void) | null;
}

const MAX_BACKOFF_MS = 5_000;
/** Dead-letter topic summaries carry the value only below this size. */
const DEAD_LETTER_VALUE_BYTES = 64 * 1024;

/** Creates a publisher over a sink and a write-ahead log. Call {@link Publisher.start} first. */
export function createPublisher(options: PublisherOptions): Publisher {
  const { sink, wal, metrics, deadLetters } = options;
  const logger = options.logger.child({ component: "publisher", sink: sink.kind });
  const topics = resolveTopics(options.topics);
  const capacity = options.queueCapacity ?? 10_000;
  const maxEventBytes = options.maxEventBytes ?? 900_000;
  const maxBacklogAgeMs = options.maxBacklogAgeMs ?? 2_000;
  const maxWalBytes = options.maxWalBytes ?? 1024 * 1024 * 1024;
  const retryBackoff = options.retryBackoffMs ?? 250;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;

  /** Durable records in memory, not yet handed to the sink (`readyHead` is the first). */
  let ready: Entry[] = [];
  let readyHead = 0;
  /** Records handed to the sink, in dispatch order; done ones are skipped from the front. */
  let window: Entry[] = [];
  let windowHead = 0;
  /** Handed to the sink (or being dead-lettered) and not settled. */
  let inflight = 0;
  /** First record that is on disk only, or null when memory holds everything. */
  let spillFrom: number | null = null;
  let spillAcceptedAt = 0;
  /** Every record below this one has been handed to this publisher by the log. */
  let appendedEnd = 0;
  let refilling = false;
  /** Retriable failures waiting for every in-flight request to settle. */
  let retry: Entry[] = [];
  let paused = false;
  let recovering: Promise<void> | null = null;
  let started = false;
  let closed = false;
  let stopped = false;
  let deadLetterCount = 0;
  const waiters = new Map<number, { topic: string; resolve: (r: DeliveryResult) => void }>();
  let flushWaiters: { target: number; resolve: () => void }[] = [];
  let wakeSleep: (() => void) | null = null;

  const settle = (e: Entry, result: DeliveryResult) => {
    e.done = true;
    e.result = result;
    if (e.waiter) e.waiter(result);
    else if (waiters.size > 0) {
      // Receipts of records that were on disk only when they were accepted.
      const w = waiters.get(e.seq);
      if (w) {
        waiters.delete(e.seq);
        w.resolve(result);
      }
    }
  };

  const entry = (seq: number, acceptedAt: number, message: OutgoingMessage): Entry => ({
    seq,
    acceptedAt,
    message,
    done: false,
    result: null,
    waiter: null,
  });

  const lowWater = (): number => {
    while (windowHead < window.length && window[windowHead]!.done) windowHead++;
    if (windowHead > 4096 && windowHead * 2 > window.length) {
      window = window.slice(windowHead);
      windowHead = 0;
    }
    if (windowHead < window.length) return window[windowHead]!.seq;
    if (readyHead < ready.length) return ready[readyHead]!.seq;
    return spillFrom ?? appendedEnd;
  };

  const oldestAcceptedAt = (): number | null => {
    if (windowHead < window.length) return window[windowHead]!.acceptedAt;
    if (readyHead < ready.length) return ready[readyHead]!.acceptedAt;
    return spillFrom === null ? null : spillAcceptedAt;
  };

  const advance = () => {
    const low = lowWater();
    wal.release(low);
    if (flushWaiters.length > 0) {
      const still = [];
      for (const f of flushWaiters) {
        if (low >= f.target) f.resolve();
        else still.push(f);
      }
      flushWaiters = still;
    }
  };

  const onDelivered = (e: Entry, report: DeliveryReport) => {
    inflight--;
    metrics?.kafkaEventsSent.inc({ topic: e.message.topic, status: "sent" });
    settle(e, { status: "delivered", ...report });
    advance();
    pump();
  };

  const deadLetter = async (e: Entry, error: DeliveryError) => {
    const event_id = e.message.headers.event_id;
    try {
      await deadLetters?.write(e.message, error);
    } catch (err) {
      logger.error("dead-letter write failed; the record stays in the log", {
        event_id,
        error: err,
      });
      inflight--;
      pauseFor(e);
      return;
    }
    deadLetterCount++;
    logger.error("kafka refused an event; it went to the dead-letter file", {
      event_id,
      topic: e.message.topic,
      reason: error.reason,
      error: error.message,
      path: deadLetters?.path,
    });
    metrics?.kafkaEventsSent.inc({ topic: e.message.topic, status: "dead_lettered" });
    metrics?.kafkaDeadLetters.inc({ topic: e.message.topic, reason: error.reason });
    inflight--;
    settle(e, { status: "dead_lettered", topic: e.message.topic, reason: error.reason });
    advance();
    pump();
    if (options.deadLetterTopic) sendDeadLetterSummary(e.message, error);
  };

  const sendDeadLetterSummary = (m: OutgoingMessage, error: DeliveryError) => {
    const size = Buffer.byteLength(m.value);
    const summary = {
      event_id: m.headers.event_id ?? null,
      topic: m.topic,
      key: m.key,
      reason: error.reason,
      error: error.message,
      size_bytes: size,
      dead_lettered_at: new Date().toISOString(),
      value: size <= DEAD_LETTER_VALUE_BYTES ? m.value : null,
    };
    sink.send({
      topic: options.deadLetterTopic!,
      key: m.key,
      value: JSON.stringify(summary),
      headers: {
        event_id: m.headers.event_id ?? "",
        reason: error.reason,
        content_type: "application/json",
      },
    }).catch((err) =>
      logger.warn("dead-letter topic not written; the file has the record", {
        event_id: m.headers.event_id,
        error: err,
      })
    );
  };

  const onFailed = (e: Entry, err: unknown) => {
    const error = err instanceof DeliveryError
      ? err
      : new DeliveryError(err instanceof Error ? err.message : String(err), {
        retriable: true,
        reason: "sink_error",
        cause: err,
      });
    if (!error.retriable) {
      void deadLetter(e, error);
      return;
    }
    inflight--;
    pauseFor(e);
  };

  const pauseFor = (e: Entry) => {
    if (!paused) {
      logger.warn("event delivery paused; events wait in the write-ahead log", {
        queued: appendedEnd - lowWater(),
      });
    }
    paused = true;
    retry.push(e);
    if (inflight === 0) startRecovery();
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wakeSleep = null;
        resolve();
      }, ms);
      wakeSleep = () => {
        clearTimeout(timer);
        wakeSleep = null;
        resolve();
      };
    });

  /** Puts failed records back in front, in order, and resumes once the sink reconnects. */
  const startRecovery = () => {
    if (recovering) return;
    retry.sort((a, b) => a.seq - b.seq);
    ready = [...retry, ...ready.slice(readyHead)];
    readyHead = 0;
    retry = [];
    window = [];
    windowHead = 0;
    recovering = (async () => {
      let backoff = retryBackoff;
      while (!stopped) {
        await sleep(backoff);
        if (stopped) break;
        try {
          await sink.connect();
          logger.info("event sink reachable again; resuming delivery", { queued: queued() });
          paused = false;
          break;
        } catch (err) {
          logger.debug("event sink still unreachable", { error: err, retry_in_ms: backoff });
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    })().finally(() => {
      recovering = null;
      if (!paused) pump();
    });
  };

  /** Hands ready records to the sink, in order, while there is room. */
  const pump = () => {
    if (paused || stopped) return;
    while (readyHead < ready.length && inflight < capacity) {
      const e = ready[readyHead++]!;
      window.push(e);
      inflight++;
      sink.send(e.message).then((r) => onDelivered(e, r), (err) => onFailed(e, err));
    }
    if (readyHead === ready.length) {
      ready = [];
      readyHead = 0;
    } else if (readyHead > 4096 && readyHead * 2 > ready.length) {
      ready = ready.slice(readyHead);
      readyHead = 0;
    }
    refill();
  };

  /** Reads records that are on disk only back into memory once half the room is free. */
  const refill = () => {
    if (spillFrom === null || refilling || paused || stopped) return;
    const room = capacity - (ready.length - readyHead) - inflight;
    if (room < capacity / 2) return;
    refilling = true;
    const from = spillFrom;
    wal.read(from, room).then((records) => {
      refilling = false;
      if (spillFrom !== from) return;
      let next = from;
      for (const r of records) {
        // Records past appendedEnd are still being handed over by their appends.
        if (r.seq < from || r.seq >= appendedEnd) continue;
        ready.push(entry(r.seq, r.acceptedAt, r.message));
        next = r.seq + 1;
        spillAcceptedAt = r.acceptedAt;
      }
      spillFrom = next >= appendedEnd || records.length === 0 ? null : next;
      if (spillFrom === null && next < appendedEnd) {
        logger.error("write-ahead log records unreadable; skipped", {
          from: next,
          to: appendedEnd,
        });
      }
      pump();
    }, (err) => {
      refilling = false;
      logger.error("write-ahead log read failed; retrying", { error: err });
      setTimeout(refill, 1_000);
    });
  };

  /**
   * Takes a freshly durable record: into memory when there is room (returns its entry), else
   * it stays on disk only (returns null).
   */
  const onAppended = (seq: number, acceptedAt: number, message: OutgoingMessage) => {
    appendedEnd = seq + 1;
    if (spillFrom === null && ready.length - readyHead + inflight < capacity) {
      const e = entry(seq, acceptedAt, message);
      ready.push(e);
      pump();
      return e;
    }
    if (spillFrom === null) {
      spillFrom = seq;
      spillAcceptedAt = acceptedAt;
    }
    return null;
  };

  const queued = () => appendedEnd - lowWater();

  const oldestAgeMs = () => {
    lowWater(); // skips delivered records at the front
    const at = oldestAcceptedAt();
    return at === null ? 0 : Math.max(0, Date.now() - at);
  };

  const refreshMetrics = () => {
    if (!metrics) return;
    metrics.kafkaOldestUndeliveredSeconds.set(oldestAgeMs() / 1000);
    metrics.kafkaWalBytes.set(wal.bytes);
    metrics.kafkaWalRecords.set(queued());
  };

  const publish = async (event: unknown): Promise<PublishReceipt> => {
    const checked = checkEvent(event);
    if (!checked.ok) {
      throw new ValidationError("event failed validation", { detail: { issues: checked.issues } });
    }
    if (closed || !started) {
      throw new ServiceUnavailableError(`publisher is ${closed ? "closed" : "not started"}`);
    }
    if (wal.pendingAppends >= capacity) {
      throw new TooManyRequestsError(
        `event log is behind (${capacity} appends waiting for the disk); retry later`,
        { detail: { queue_capacity: capacity } },
      );
    }
    if (wal.bytes >= maxWalBytes) {
      throw new TooManyRequestsError(
        `event log is full (${wal.bytes} of ${maxWalBytes} bytes undelivered); retry later`,
        { detail: { wal_bytes: wal.bytes, wal_max_bytes: maxWalBytes } },
      );
    }
    const e: FessEvent = checked.event;
    const value = JSON.stringify(e);
    // A UTF-8 byte is at least one UTF-16 unit: only long strings need the exact count.
    const size = value.length * 3 <= maxEventBytes ? value.length : Buffer.byteLength(value);
    if (size > maxEventBytes) {
      throw new FessError(
        413,
        "event_too_large",
        `event is ${size} bytes; the limit (kafka.max_event_bytes) is ${maxEventBytes}`,
        { detail: { size_bytes: size, limit_bytes: maxEventBytes, event_id: e.event_id } },
      );
    }
    const topic = topicFor(e.event_type, topics);
    const message: OutgoingMessage = {
      topic,
      key: e.camera_id,
      value,
      headers: {
        event_type: e.event_type,
        schema_version: String(e.schema_version),
        event_id: e.event_id,
        content_type: "application/json",
      },
    };
    const acceptedAt = Date.now();
    let seq = -1;
    let mine: Entry | null;
    try {
      mine = await wal.append(message, acceptedAt).then((s) => {
        seq = s;
        return onAppended(s, acceptedAt, message);
      });
    } catch (err) {
      throw new ServiceUnavailableError("event log write failed; the event was not accepted", {
        cause: err,
      });
    }
    let delivery: Promise<DeliveryResult> | null = null;
    return {
      event: e,
      event_id: e.event_id,
      event_type: e.event_type,
      topic,
      get delivery() {
        delivery ??= new Promise<DeliveryResult>((resolve) => {
          if (mine?.result) resolve(mine.result);
          else if (mine) mine.waiter = resolve;
          else waiters.set(seq, { topic, resolve });
        });
        return delivery;
      },
    };
  };

  const waitUntil = (condition: () => boolean, ms: number) =>
    new Promise<void>((resolve) => {
      const deadline = Date.now() + ms;
      const poll = () => {
        if (condition() || Date.now() >= deadline) resolve();
        else setTimeout(poll, 10);
      };
      poll();
    });

  return {
    start: async () => {
      if (started) return;
      await wal.open();
      await deadLetters?.open();
      deadLetterCount = deadLetters?.count ?? 0;
      if (options.legacySpoolDir) await migrateLegacySpool(options.legacySpoolDir, wal, logger);
      appendedEnd = wal.durableEnd;
      if (wal.lowWater < appendedEnd) {
        spillFrom = wal.lowWater;
        spillAcceptedAt = Date.now();
        const [first] = await wal.read(wal.lowWater, 1);
        if (first) spillAcceptedAt = first.acceptedAt;
      }
      started = true;
      try {
        await sink.connect();
        logger.info("publisher connected", { sink: sink.kind, queued: queued() });
      } catch (err) {
        logger.warn("sink unreachable at start; events wait in the write-ahead log", {
          error: err,
        });
        paused = true;
        startRecovery();
      }
      pump();
    },
    publish,
    get queued() {
      return queued();
    },
    get deadLetters() {
      return deadLetterCount;
    },
    get oldestAgeMs() {
      return oldestAgeMs();
    },
    get state() {
      return sink.state;
    },
    healthCheck: () => {
      refreshMetrics();
      const age = oldestAgeMs();
      const backlogged = age > maxBacklogAgeMs;
      const error = backlogged
        ? `oldest undelivered event is ${age} ms old (limit ${maxBacklogAgeMs} ms); sink is ${sink.state}`
        : paused
        ? `event sink is ${sink.state}; events wait in the write-ahead log`
        : undefined;
      return {
        healthy: error === undefined,
        mode: sink.kind,
        state: sink.state,
        queued: queued(),
        oldest_age_ms: age,
        dead_letters: deadLetterCount,
        wal_bytes: wal.bytes,
        fsync: wal.fsync,
        ...(error ? { error } : {}),
      };
    },
    refreshMetrics,
    flush: () => {
      const target = appendedEnd;
      if (lowWater() >= target) return Promise.resolve();
      return new Promise<void>((resolve) => flushWaiters.push({ target, resolve }));
    },
    close: async () => {
      if (closed) return;
      closed = true;
      if (!started) return;
      // Appends already queued finish (they were not accepted yet, but may still be).
      await waitUntil(() => wal.pendingAppends === 0, closeTimeoutMs);
      await waitUntil(() => paused || queued() === 0, closeTimeoutMs);
      stopped = true;
      wakeSleep?.();
      await sink.flush().catch(() => {});
      await waitUntil(() => inflight === 0, closeTimeoutMs);
      if (recovering) await recovering;
      for (const w of waiters.values()) w.resolve({ status: "retained", topic: w.topic });
      for (const e of [...window, ...ready, ...retry]) {
        if (!e.done) e.waiter?.({ status: "retained", topic: e.message.topic });
      }
      waiters.clear();
      wal.release(lowWater());
      await wal.close();
      await deadLetters?.close();
      const remaining = queued();
      await withTimeout(sink.close(), closeTimeoutMs)
        .catch((err) => logger.warn("event sink close failed", { error: err }));
      if (remaining > 0) {
        logger.warn("closing with undelivered events; they are delivered after the next start", {
          queued: remaining,
          dir: wal.dir,
        });
      }
    },
  };
}

/** Waits for `p`, but at most `ms` (a hung broker must not hang shutdown). */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
