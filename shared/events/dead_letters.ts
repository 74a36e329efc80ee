/**
 * The dead-letter file: records the broker refused for good (too large, invalid, not
 * authorised) are appended here, fsync'd, with the reason, so that delivery can move on to the
 * next record without losing the refused one. One JSON object per line:
 * `{dead_lettered_at, reason, error, topic, key, headers, event_id, size_bytes, value}`.
 *
 * @module
 */
import { createJsonlAppender } from "./jsonl_appender.ts";
import type { DeliveryError, OutgoingMessage } from "./types.ts";

/** Options of {@link createDeadLetterLog}. */
export interface DeadLetterLogOptions {
  /** The file (its directory is created when missing). */
  readonly path: string;
  /** fsync each burst. Default true. */
  readonly fsync?: boolean;
}

/** One line of the dead-letter file. */
export interface DeadLetter {
  readonly dead_lettered_at: string;
  /** Machine-readable reason, e.g. `MESSAGE_TOO_LARGE`. */
  readonly reason: string;
  /** The broker's or client's message. */
  readonly error: string;
  readonly topic: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly event_id: string | null;
  readonly size_bytes: number;
  /** The record's value as it was sent (the event JSON). */
  readonly value: string;
}

/** An append-only, durable dead-letter file. */
export interface DeadLetterLog {
  readonly path: string;
  /** Lines in the file: found at {@link open} plus written since. */
  readonly count: number;
  /** Counts existing lines. Call once before use. */
  open(): Promise<void>;
  /** Appends one refused record; resolves once it is on disk. */
  write(message: OutgoingMessage, error: DeliveryError): Promise<DeadLetter>;
  /** Waits for pending writes. */
  close(): Promise<void>;
}

/** Creates the dead-letter file writer. */
export function createDeadLetterLog(options: DeadLetterLogOptions): DeadLetterLog {
  const appender = createJsonlAppender({ path: options.path, fsync: options.fsync });
  let count = 0;
  return {
    path: options.path,
    get count() {
      return count;
    },
    open: async () => {
      try {
        const text = await Deno.readTextFile(options.path);
        for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) count++;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    },
    write: async (message, error) => {
      const line: DeadLetter = {
        dead_lettered_at: new Date().toISOString(),
        reason: error.reason,
        error: error.message,
        topic: message.topic,
        key: message.key,
        headers: message.headers,
        event_id: message.headers.event_id ?? null,
        size_bytes: new TextEncoder().encode(message.value).length,
        value: message.value,
      };
      await appender.append([JSON.stringify(line)]);
      count++;
      return line;
    },
    close: () => appender.close(),
  };
}

/** Reads a dead-letter file back (tests, tools). */
export async function readDeadLetters(path: string): Promise<DeadLetter[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as DeadLetter);
}
