/**
 * High-level event publishing: validate, route, key, header, deliver, and never lose an
 * accepted event.
 *
 * - `publish(event)` validates with {@link FessEventSchema} (422 on failure), routes by type to
 *   its topic, keys by `camera_id` (one camera's events share a partition, so they stay in
 *   order) and adds `event_type`, `schema_version`, `event_id` and `content_type` headers.
 * - It is asynchronous: it returns at once with a receipt whose `delivery` promise settles
 *   when the event is delivered or safely spooled. That promise never rejects, so
 *   fire-and-forget callers cannot crash the process with an unhandled rejection.
 * - Backpressure: at most `queueCapacity` events may be accepted and unsettled, and at most
 *   `maxSpooled` may wait in the spool; beyond that `publish` throws
 *   {@link TooManyRequestsError} (HTTP 429). Nothing is dropped silently.
 * - Durability: an event the sink fails to deliver goes to the on-disk {@link Spool}. While the
 *   spool holds anything, new events are appended behind it (so a camera's events keep their
 *   order) and a replay loop sends them, oldest first, whenever the sink is reachable again.
 *   Kafka delivery is therefore at-least-once: a batch that reached the broker but whose
 *   acknowledgement was lost is sent again from the spool. Consumers dedupe by `event_id`.
 * - `close()` stops intake, flushes or spools everything, and closes the sink.
 *
 * @module
 */
import { type EventType, type FessEvent, FessEventSchema } from "../events.ts";
import {
  errorMessage,
  ServiceUnavailableError,
  TooManyRequestsError,
  ValidationError,
} from "../errors.ts";
import { formatIssues } from "../http.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import type { Spool } from "./spool.ts";
import { resolveTopics, topicFor, type TopicMap } from "./topics.ts";
import type { ConnectionState, MessageSink, OutgoingMessage } from "./types.ts";

/** Outcome of one accepted event. */
export type DeliveryResult =
  | {
    readonly status: "delivered";
    readonly topic: string;
    readonly partition: number | null;
    readonly offset: string | null;
  }
  /** On disk; it will be delivered when the sink is reachable (see {@link Publisher}). */
  | { readonly status: "spooled"; readonly topic: string }
  /** Delivery failed and there is no spool (or the spool write failed): the event is lost. */
  | { readonly status: "failed"; readonly topic: string; readonly error: string };

/** What `publish` returns once the event is accepted. */
export interface PublishReceipt {
  readonly event_id: string;
  readonly event_type: EventType;
  readonly topic: string;
  /** Settles on delivery or spooling; never rejects. */
  readonly delivery: Promise<DeliveryResult>;
}

/** Publishes FESS events. */
export interface Publisher {
  /** Connects the sink (a failure only logs: events spool meanwhile) and replays the spool. */
  start(): Promise<void>;
  /**
   * Validates and enqueues an event.
   * @throws ValidationError when the event does not match its schema (422)
   * @throws TooManyRequestsError when `queueCapacity` events are already pending (429)
   * @throws ServiceUnavailableError after {@link close} (503)
   */
  publish(event: unknown): PublishReceipt;
  /** Accepted events not yet delivered or spooled. */
  readonly queued: number;
  /** Events waiting in the spool. */
  readonly spooled: number;
  /** The sink's connection state. */
  readonly state: ConnectionState;
  /** Resolves when every event accepted so far is delivered or spooled. */
  flush(): Promise<void>;
  /** Stops intake, flushes or spools everything, closes the sink. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link createPublisher}. */
export interface PublisherOptions {
  /** Where events go: the Kafka producer or the event-log sink. */
  readonly sink: MessageSink;
  readonly logger: Logger;
  /** Topic names; unset ones use {@link DEFAULT_TOPICS}. */
  readonly topics?: Partial<TopicMap>;
  /** Most accepted-but-unsettled events. Default 10000. */
  readonly queueCapacity?: number;
  /** Durable fallback for undeliverable events; without one they are reported `failed`. */
  readonly spool?: Spool;
  /** Records `fess_kafka_events_sent_total{topic,status}` (sent, spooled, failed). */
  readonly metrics?: FessMetrics;
  /** First delay between replay attempts while the sink is down; doubles to 5 s. Default 250. */
  readonly replayIntervalMs?: number;
  /** Records per replay request. Default 500. */
  readonly replayBatch?: number;
  /** Most events the spool may hold before `publish` answers 429. Default 1000000. */
  readonly maxSpooled?: number;
}

const MAX_REPLAY_BACKOFF_MS = 5_000;

/** Creates a publisher over a sink. Call {@link Publisher.start} before publishing. */
export function createPublisher(options: PublisherOptions): Publisher {
  const { sink, spool, metrics } = options;
  const logger = options.logger.child({ component: "publisher", sink: sink.kind });
  const topics = resolveTopics(options.topics);
  const capacity = options.queueCapacity ?? 10_000;
  const replayInterval = options.replayIntervalMs ?? 250;
  const replayBatch = options.replayBatch ?? 500;
  const maxSpooled = options.maxSpooled ?? 1_000_000;
  const unsettled = new Set<Promise<unknown>>();
  let closed = false;
  let replaying: Promise<void> | null = null;
  let replayTimer: ReturnType<typeof setTimeout> | null = null;
  let wakeReplay: (() => void) | null = null;

  const count = (topic: string, status: "sent" | "spooled" | "failed", n = 1) => {
    metrics?.kafkaEventsSent.inc({ topic, status }, n);
  };

  const toSpool = async (message: OutgoingMessage, cause: unknown): Promise<DeliveryResult> => {
    if (!spool) {
      count(message.topic, "failed");
      logger.error("event lost: delivery failed and no spool is configured", {
        topic: message.topic,
        event_id: message.headers.event_id,
        error: cause,
      });
      return { status: "failed", topic: message.topic, error: errorMessage(cause) };
    }
    try {
      await spool.append([message]);
    } catch (err) {
      count(message.topic, "failed");
      logger.error("event lost: spool write failed", {
        topic: message.topic,
        event_id: message.headers.event_id,
        error: err,
      });
      return { status: "failed", topic: message.topic, error: errorMessage(err) };
    }
    count(message.topic, "spooled");
    startReplay();
    return { status: "spooled", topic: message.topic };
  };

  const deliver = async (message: OutgoingMessage): Promise<DeliveryResult> => {
    // Behind a non-empty spool, go to the spool too: sending now would overtake older events.
    if (spool && spool.size > 0) return toSpool(message, "spool not empty");
    try {
      const report = await sink.send(message);
      count(message.topic, "sent");
      return { status: "delivered", ...report };
    } catch (err) {
      return toSpool(message, err);
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      wakeReplay = resolve;
      replayTimer = setTimeout(() => {
        replayTimer = null;
        wakeReplay = null;
        resolve();
      }, ms);
    });

  /** Sends the spool, oldest first, until it is empty or the publisher closes. */
  const replayLoop = async () => {
    if (!spool) return;
    let backoff = replayInterval;
    while (spool.size > 0 && !closed) {
      let sent = 0;
      try {
        const records = await spool.peek(replayBatch);
        if (records.length === 0) {
          // Appends still being written: look again shortly.
          await sleep(10);
          continue;
        }
        await sink.connect();
        const results = await Promise.allSettled(records.map((r) => sink.send(r)));
        while (sent < results.length && results[sent]!.status === "fulfilled") sent++;
        // Commit only the delivered prefix; the rest is retried (at-least-once).
        for (const r of records.slice(0, sent)) count(r.topic, "sent");
        await spool.commit(sent);
        if (sent === records.length) {
          if (backoff !== replayInterval) logger.info("kafka reachable again; replaying spool");
          backoff = replayInterval;
          continue;
        }
      } catch (err) {
        logger.debug("spool replay attempt failed", { error: err });
      }
      if (sent === 0) {
        logger.warn("sink unavailable; events stay spooled", {
          spooled: spool.size,
          retry_in_ms: backoff,
        });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_REPLAY_BACKOFF_MS);
      }
    }
  };

  const startReplay = () => {
    if (replaying || !spool || closed) return;
    replaying = replayLoop().catch((err) => logger.error("spool replay stopped", { error: err }))
      .finally(() => {
        replaying = null;
        if (spool.size > 0 && !closed) startReplay();
      });
  };

  const publish = (event: unknown): PublishReceipt => {
    const parsed = FessEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new ValidationError("event failed validation", {
        detail: { issues: formatIssues(parsed.error.issues) },
      });
    }
    if (closed) throw new ServiceUnavailableError("publisher is closed");
    if (unsettled.size >= capacity) {
      throw new TooManyRequestsError(`event queue is full (${capacity} pending); retry later`, {
        detail: { queue_capacity: capacity },
      });
    }
    if (spool && spool.size >= maxSpooled) {
      throw new TooManyRequestsError(`event spool is full (${maxSpooled} events); retry later`, {
        detail: { spool_capacity: maxSpooled },
      });
    }
    const e: FessEvent = parsed.data;
    const topic = topicFor(e.event_type, topics);
    const message: OutgoingMessage = {
      topic,
      key: e.camera_id,
      value: JSON.stringify(e),
      headers: {
        event_type: e.event_type,
        schema_version: String(e.schema_version),
        event_id: e.event_id,
        content_type: "application/json",
      },
    };
    const delivery = deliver(message);
    unsettled.add(delivery);
    delivery.finally(() => unsettled.delete(delivery));
    return { event_id: e.event_id, event_type: e.event_type, topic, delivery };
  };

  const flush = async () => {
    while (unsettled.size > 0) {
      await sink.flush();
      await Promise.all([...unsettled]);
    }
  };

  return {
    start: async () => {
      if (spool) await spool.open();
      try {
        await sink.connect();
        logger.info("publisher connected", { sink: sink.kind });
      } catch (err) {
        logger.warn("sink unreachable at start; events will be spooled until it returns", {
          error: err,
        });
      }
      if (spool && spool.size > 0) startReplay();
    },
    publish,
    get queued() {
      return unsettled.size;
    },
    get spooled() {
      return spool?.size ?? 0;
    },
    get state() {
      return sink.state;
    },
    flush,
    close: async () => {
      if (closed) return;
      closed = true;
      await flush();
      if (replayTimer !== null) clearTimeout(replayTimer);
      replayTimer = null;
      wakeReplay?.();
      // A replay request already sent settles (delivered or left in the spool) before closing.
      if (replaying) await replaying;
      await sink.close();
      if (spool) {
        await spool.close();
        if (spool.size > 0) {
          logger.warn("closing with spooled events; they are replayed on next start", {
            spooled: spool.size,
            path: spool.path,
          });
        }
      }
    },
  };
}
