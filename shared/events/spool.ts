/**
 * On-disk spool for records Kafka could not take (broker down, retries exhausted). Records are
 * appended as JSON lines and fsync'd before the append resolves; replay reads them back in
 * order from a persisted byte offset, so a restart resumes where delivery stopped. When every
 * record is delivered the file is truncated. A torn last line (crash mid-write) was never
 * acknowledged and is cut off on open.
 *
 * Delivery from the spool is at-least-once: a crash between a successful send and the offset
 * write resends those records.
 *
 * @module
 */
import type { Logger } from "../logger.ts";
import { createJsonlAppender } from "./jsonl_appender.ts";
import type { OutgoingMessage } from "./types.ts";

/** Options of {@link createSpool}. */
export interface SpoolOptions {
  /** Directory holding `<name>.spool.jsonl` and its `.offset` file. */
  readonly dir: string;
  readonly logger: Logger;
  /** File name stem. Default `events`. */
  readonly name?: string;
  /** fsync appends and offsets. Default true. */
  readonly fsync?: boolean;
}

/** A durable FIFO of records awaiting delivery. */
export interface Spool {
  /** The spool file. */
  readonly path: string;
  /** Records appended and not yet committed as delivered. */
  readonly size: number;
  /** Recovers state from disk (torn tail, offset, count). Call once before use. */
  open(): Promise<void>;
  /** Appends records durably, in order. */
  append(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Reads up to `max` records from the head without consuming them. */
  peek(max: number): Promise<OutgoingMessage[]>;
  /** Consumes the first `count` records of the last {@link peek}. */
  commit(count: number): Promise<void>;
  /** Waits for pending appends. */
  close(): Promise<void>;
}

const READ_CHUNK = 1 << 20;

function parseLine(line: string): OutgoingMessage | null {
  try {
    const v = JSON.parse(line);
    if (
      v && typeof v.topic === "string" && typeof v.value === "string" &&
      (v.key === null || typeof v.key === "string") && v.headers && typeof v.headers === "object"
    ) {
      return { topic: v.topic, key: v.key, value: v.value, headers: v.headers };
    }
  } catch {
    // fall through
  }
  return null;
}

/** Creates a spool (call {@link Spool.open} before use). */
export function createSpool(options: SpoolOptions): Spool {
  const logger = options.logger.child({ component: "spool" });
  const fsync = options.fsync ?? true;
  const path = `${options.dir.replace(/\/+$/, "")}/${options.name ?? "events"}.spool.jsonl`;
  const offsetPath = `${path}.offset`;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const appender = createJsonlAppender({ path, fsync });
  let offset = 0;
  let size = 0;
  /** Byte lengths (with newline, plus skipped corrupt lines) of the last peek's records. */
  let peeked: number[] = [];
  let appending = 0;

  const writeOffset = async () => {
    const file = await Deno.open(offsetPath, { write: true, create: true, truncate: true });
    try {
      await file.write(encoder.encode(String(offset)));
      if (fsync) await file.syncData();
    } finally {
      file.close();
    }
  };

  /** Reads whole lines starting at `from`, at most `max` valid records. */
  const readRecords = async (from: number, max: number) => {
    const records: OutgoingMessage[] = [];
    const lengths: number[] = [];
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { records, lengths, end: from, torn: 0 };
      throw err;
    }
    let pos = from;
    let carry = new Uint8Array(0);
    let skipped = 0;
    let torn = 0;
    try {
      await file.seek(from, Deno.SeekMode.Start);
      const buf = new Uint8Array(READ_CHUNK);
      outer: for (;;) {
        const n = await file.read(buf);
        if (n === null) {
          torn = carry.length;
          break;
        }
        const data = new Uint8Array(carry.length + n);
        data.set(carry);
        data.set(buf.subarray(0, n), carry.length);
        let start = 0;
        for (let i = 0; i < data.length; i++) {
          if (data[i] !== 10) continue;
          const lineBytes = i - start + 1;
          const record = parseLine(decoder.decode(data.subarray(start, i)));
          start = i + 1;
          pos += lineBytes;
          if (record === null) {
            skipped += lineBytes;
            logger.warn("skipping corrupt spool line", { path, at: pos - lineBytes });
            continue;
          }
          records.push(record);
          lengths.push(lineBytes + skipped);
          skipped = 0;
          if (records.length >= max) break outer;
        }
        carry = data.slice(start);
      }
    } finally {
      file.close();
    }
    return { records, lengths, end: pos, torn };
  };

  return {
    path,
    get size() {
      return size;
    },
    open: async () => {
      await Deno.mkdir(options.dir, { recursive: true });
      try {
        offset = Number((await Deno.readTextFile(offsetPath)).trim()) || 0;
      } catch {
        offset = 0;
      }
      let fileSize = 0;
      try {
        fileSize = (await Deno.stat(path)).size;
      } catch {
        fileSize = 0;
      }
      if (offset > fileSize) offset = 0;
      const scan = await readRecords(offset, Number.MAX_SAFE_INTEGER);
      if (scan.torn > 0) {
        logger.warn("cutting a torn spool line", { path, bytes: scan.torn });
        await Deno.truncate(path, scan.end);
      }
      size = scan.records.length;
      if (size > 0) logger.info("spool has undelivered events", { path, records: size });
    },
    append: async (messages) => {
      if (messages.length === 0) return;
      size += messages.length;
      appending++;
      try {
        await appender.append(
          messages.map((m) =>
            JSON.stringify({ topic: m.topic, key: m.key, value: m.value, headers: m.headers })
          ),
        );
      } catch (err) {
        size -= messages.length;
        throw err;
      } finally {
        appending--;
      }
    },
    peek: async (max) => {
      const { records, lengths } = await readRecords(offset, max);
      peeked = lengths;
      return records;
    },
    commit: async (count) => {
      if (count <= 0) return;
      if (count > peeked.length) throw new Error("spool: commit beyond the last peek");
      offset += peeked.slice(0, count).reduce((a, b) => a + b, 0);
      peeked = peeked.slice(count);
      size -= count;
      if (size === 0 && appending === 0) {
        // Everything delivered: start the file over so it cannot grow without bound.
        await Deno.truncate(path, 0);
        offset = 0;
        peeked = [];
        await Deno.remove(offsetPath).catch(() => {});
      } else {
        await writeOffset();
      }
    },
    close: () => appender.close(),
  };
}
