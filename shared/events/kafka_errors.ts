/**
 * Turns a kafkajs failure into a {@link DeliveryError} with kafkajs' own `retriable` verdict:
 * a broker that is down or a leader that moved (retries exhausted) is retriable; a protocol
 * error the broker marks non-retriable (`MESSAGE_TOO_LARGE`, `INVALID_RECORD`,
 * `TOPIC_AUTHORIZATION_FAILED`...) is not, and neither is a client-side bug (TypeError...).
 *
 * @module
 */
import { DeliveryError } from "./types.ts";

interface KafkaJsLike {
  readonly name?: string;
  readonly message?: string;
  readonly type?: unknown;
  readonly retriable?: unknown;
  readonly cause?: unknown;
  readonly originalError?: unknown;
}

const PROGRAMMING_ERRORS = new Set(["RangeError", "ReferenceError", "SyntaxError", "TypeError"]);

function chain(err: unknown): KafkaJsLike[] {
  const out: KafkaJsLike[] = [];
  let e: unknown = err;
  while (e && typeof e === "object" && out.length < 8 && !out.includes(e as KafkaJsLike)) {
    const k = e as KafkaJsLike;
    out.push(k);
    e = k.originalError ?? k.cause;
  }
  return out;
}

/** Classifies a failed produce call. */
export function classifyKafkaError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const links = chain(err);
  const message = links[0]?.message ?? String(err);
  // The innermost protocol error (it has a `type`) carries the broker's verdict.
  const protocol = links.find((e) => typeof e.type === "string");
  if (protocol) {
    return new DeliveryError(message, {
      retriable: protocol.retriable !== false,
      reason: protocol.type as string,
      cause: err,
    });
  }
  if (links.some((e) => e.name !== undefined && PROGRAMMING_ERRORS.has(e.name))) {
    return new DeliveryError(message, { retriable: false, reason: "client_error", cause: err });
  }
  // Retries exhausted on connection errors, timeouts, unknown failures: try again later.
  return new DeliveryError(message, { retriable: true, reason: "unavailable", cause: err });
}
