/**
 * The embedded default sink used when no Kafka is configured: every event is appended to a
 * local JSON-lines log (`{"topic", "key", "headers", "event"}` per line), fsync'd in bursts.
 * It implements the same {@link MessageSink} as the Kafka producer, so the {@link Publisher},
 * its validation, routing and backpressure are identical with or without a broker.
 *
 * @module
 */
import { ServiceUnavailableError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { createJsonlAppender } from "./jsonl_appender.ts";
import type { ConnectionState, DeliveryReport, MessageSink } from "./types.ts";

/** Options of {@link createEventLogSink}. */
export interface EventLogSinkOptions {
  /** The log file (its directory is created when missing). */
  readonly path: string;
  readonly logger: Logger;
  /** fsync each burst. Default true. */
  readonly fsync?: boolean;
}

/** One line of the event log. */
export interface EventLogLine {
  readonly topic: string;
  readonly key: string | null;
  readonly headers: Record<string, string>;
  /** The event as published (parsed JSON). */
  readonly event: unknown;
}

/** Creates the JSON-lines event-log sink. Offsets it reports are line numbers of this run. */
export function createEventLogSink(options: EventLogSinkOptions): MessageSink {
  const appender = createJsonlAppender({ path: options.path, fsync: options.fsync });
  let state: ConnectionState = "disconnected";
  let line = 0n;
  const pending = new Set<Promise<unknown>>();
  options.logger.child({ component: "event_log" }).debug("event log sink", { path: options.path });

  return {
    kind: "event_log",
    get state() {
      return state;
    },
    connect: () => {
      if (state === "closed") {
        return Promise.reject(new ServiceUnavailableError("event log is closed"));
      }
      state = "connected";
      return Promise.resolve();
    },
    send: (m) => {
      if (state === "closed") {
        return Promise.reject(new ServiceUnavailableError("event log is closed"));
      }
      state = "connected";
      // The value is already JSON; splice it in rather than parse and re-serialize it.
      const text = `{"topic":${JSON.stringify(m.topic)},"key":${JSON.stringify(m.key)},` +
        `"headers":${JSON.stringify(m.headers)},"event":${m.value}}`;
      const offset = String(line++);
      const p = appender.append([text]).then((): DeliveryReport => ({
        topic: m.topic,
        partition: null,
        offset,
      }));
      pending.add(p);
      p.finally(() => pending.delete(p)).catch(() => {});
      return p;
    },
    flush: async () => {
      await Promise.allSettled([...pending]);
    },
    close: async () => {
      state = "closed";
      await appender.close();
    },
  };
}

/** Reads an event log back (for tests and tools). */
export async function readEventLog(path: string): Promise<EventLogLine[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as EventLogLine);
}
