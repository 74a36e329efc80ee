/**
 * The seam between the event {@link Publisher} and where events physically go: a Kafka producer
 * (`kafka_producer.ts`) or the local JSON-lines event log (`event_log_sink.ts`). Unit tests put
 * fakes behind the same interface.
 *
 * @module
 */

/** One record to write: Kafka's shape (key, value, headers) plus its topic. */
export interface OutgoingMessage {
  /** Destination topic. */
  readonly topic: string;
  /** Partitioning key (FESS uses the camera id so one camera's events stay ordered). */
  readonly key: string | null;
  /** Serialized payload (UTF-8 JSON for FESS events). */
  readonly value: string;
  /** String headers (event type, schema version...). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Where a record ended up. */
export interface DeliveryReport {
  readonly topic: string;
  /** Partition, or `null` where the sink has none (event log) or the broker did not say. */
  readonly partition: number | null;
  /** Offset as a decimal string (Kafka offsets exceed 2^53), `null` when unknown (acks=0). */
  readonly offset: string | null;
}

/**
 * Why a sink could not deliver a record. `retriable: false` means sending it again cannot help
 * (too large, invalid, not authorised): the record is dead-lettered and delivery moves on.
 * `retriable: true` (broker down, leader moving) means it is sent again, in order.
 */
export class DeliveryError extends Error {
  /** Whether a later attempt may succeed. */
  readonly retriable: boolean;
  /** A short machine-readable reason, e.g. the Kafka error type `MESSAGE_TOO_LARGE`. */
  readonly reason: string;

  constructor(
    message: string,
    options: { readonly retriable: boolean; readonly reason: string; readonly cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "DeliveryError";
    this.retriable = options.retriable;
    this.reason = options.reason;
  }
}

/** Connection state of a sink, for health checks and logs. */
export type ConnectionState = "disconnected" | "connecting" | "connected" | "closed";

/** A destination for records that batches internally and resolves each record on delivery. */
export interface MessageSink {
  /** A short name for logs and health (`kafka`, `event_log`). */
  readonly kind: string;
  /** Current connection state. */
  readonly state: ConnectionState;
  /** Connects (idempotent) and clears a failure. Rejects when the destination is unreachable. */
  connect(): Promise<void>;
  /**
   * Queues one record; resolves when it is durably accepted (per the sink's ack policy),
   * rejects with a {@link DeliveryError} when delivery failed after the sink's own retries.
   * After a retriable failure every later send rejects too until {@link connect} succeeds
   * again, so no record overtakes one that must be resent.
   */
  send(message: OutgoingMessage): Promise<DeliveryReport>;
  /** Sends everything buffered now and waits for it to settle. */
  flush(): Promise<void>;
  /** Flushes, then releases connections/files. Later sends reject. */
  close(): Promise<void>;
}
