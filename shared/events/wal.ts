/**
 * The event write-ahead log: accepted events are appended to segment files before anyone is
 * told they were accepted, read back for delivery when they are not in memory, and deleted
 * only once everything in them was delivered.
 *
 * - Files: `<dir>/<first seq, 20 digits>.wal` segments (see `wal_record.ts` for the framing)
 *   and `<dir>/checkpoint` (`{"low_water": n}`: every record below `n` was delivered).
 * - Group commit: appends queue while a write is in progress and go out together in the next
 *   one, so one `write` + one `fdatasync` covers every record that arrived meanwhile. An
 *   append resolves only after its write (and, per {@link FsyncMode}, its fsync) returned.
 * - Fsync modes: `always` writes and syncs each record on its own; `batch` (group commit)
 *   syncs once per burst; `none` only writes (the page cache survives a killed process, not a
 *   power cut) and syncs when a segment is sealed and on close.
 * - Recovery: segments wholly below the checkpoint are deleted; the others are scanned; a torn
 *   tail (a crash mid-write) is cut off, a corrupt record in the middle is skipped (its length
 *   and CRC do not check out) and logged. Appends then go to a fresh segment.
 * - Truncation: {@link WriteAheadLog.release} raises the low-water mark; the checkpoint is
 *   rewritten (write + rename, coalesced) and sealed segments below it are deleted. A
 *   checkpoint lost in a crash only means some delivered records are sent again
 *   (at-least-once; consumers de-duplicate by `event_id`).
 *
 * @module
 */
import type { Logger } from "../logger.ts";
import { encodeRecord, scanRecords, type WalRecord } from "./wal_record.ts";
import type { OutgoingMessage } from "./types.ts";

/** When an append counts as durable. */
export type FsyncMode = "always" | "batch" | "none";

/** Options of {@link createWriteAheadLog}. */
export interface WriteAheadLogOptions {
  /** Directory of the segments and the checkpoint (created when missing). */
  readonly dir: string;
  readonly logger: Logger;
  /** Default `batch` (group commit). */
  readonly fsync?: FsyncMode;
  /** A segment is sealed once it reaches this size. Default 16 MiB. */
  readonly segmentBytes?: number;
  /** Most bytes one group-commit write carries. Default 4 MiB. */
  readonly maxWriteBytes?: number;
  /** Least time between two checkpoint writes. Default 100 ms. */
  readonly checkpointIntervalMs?: number;
}

/** A durable, ordered log of outgoing records. */
export interface WriteAheadLog {
  readonly dir: string;
  readonly fsync: FsyncMode;
  /** Every record below this sequence number was delivered. */
  readonly lowWater: number;
  /** The sequence number the next durable record gets (all below are on disk). */
  readonly durableEnd: number;
  /** Records not yet released. */
  readonly records: number;
  /** Bytes in live segment files. */
  readonly bytes: number;
  /** Appends waiting for their write. */
  readonly pendingAppends: number;
  /** Writes and fsyncs done since creation (group commit shows as fewer syncs than records). */
  readonly stats: { readonly writes: number; readonly syncs: number; readonly records: number };
  /** Recovers the log (torn tails, checkpoint). Call once before anything else. */
  open(): Promise<void>;
  /** Appends one record; resolves with its sequence number once it is durable. */
  append(message: OutgoingMessage, acceptedAt: number): Promise<number>;
  /** Reads durable records with `seq >= from`, in order, at most `max` of them. */
  read(from: number, max: number): Promise<WalRecord[]>;
  /** Marks every record below `lowWater` as delivered (checkpoint, segment deletion). */
  release(lowWater: number): void;
  /** Waits for pending appends, writes the checkpoint, closes files. Later appends reject. */
  close(): Promise<void>;
}

interface Segment {
  readonly base: number;
  readonly path: string;
  /** Durable bytes. */
  size: number;
}

interface QueuedAppend {
  readonly seq: number;
  readonly bytes: Uint8Array;
  readonly resolve: (seq: number) => void;
  readonly reject: (err: unknown) => void;
}

const SEGMENT_NAME = /^(\d{20})\.wal$/;

function segmentName(base: number): string {
  return `${String(base).padStart(20, "0")}.wal`;
}

/** Creates the log; call {@link WriteAheadLog.open} first. */
export function createWriteAheadLog(options: WriteAheadLogOptions): WriteAheadLog {
  const dir = options.dir.replace(/\/+$/, "");
  const logger = options.logger.child({ component: "wal", dir });
  const mode = options.fsync ?? "batch";
  const segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  const maxWriteBytes = options.maxWriteBytes ?? 4 * 1024 * 1024;
  const checkpointInterval = options.checkpointIntervalMs ?? 100;
  const checkpointPath = `${dir}/checkpoint`;

  const segments: Segment[] = [];
  let active: { segment: Segment; file: Deno.FsFile } | null = null;
  let queue: QueuedAppend[] = [];
  let writing: Promise<void> | null = null;
  let nextSeq = 0;
  let durableEnd = 0;
  let lowWater = 0;
  let bytes = 0;
  const stats = { writes: 0, syncs: 0, records: 0 };
  let opened = false;
  let closed = false;
  /** Low-water mark last written to the checkpoint file. */
  let checkpointed = 0;
  let checkpointing: Promise<void> | null = null;
  let checkpointTimer: ReturnType<typeof setTimeout> | null = null;
  /** Where the last read stopped, so sequential reads do not rescan a segment. */
  let cursor: { base: number; pos: number; seq: number } | null = null;

  const syncDir = async () => {
    if (mode === "none") return;
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.syncData();
    } finally {
      handle.close();
    }
  };

  const openSegment = async (base: number) => {
    const segment: Segment = { base, path: `${dir}/${segmentName(base)}`, size: 0 };
    const file = await Deno.open(segment.path, { write: true, create: true, truncate: true });
    // The new file's directory entry must survive a power cut as well as its data.
    await syncDir();
    segments.push(segment);
    active = { segment, file };
  };

  const seal = async () => {
    if (!active) return;
    const { file } = active;
    active = null;
    try {
      if (mode === "none") await file.syncData();
    } finally {
      file.close();
    }
  };

  const writeAll = async (file: Deno.FsFile, data: Uint8Array) => {
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
  };

  /** One group commit: everything queued (or one record with `always`), one write, one sync. */
  const writeBurst = async () => {
    let take = 1;
    if (mode !== "always") {
      let size = queue[0]!.bytes.length;
      while (take < queue.length && size + queue[take]!.bytes.length <= maxWriteBytes) {
        size += queue[take]!.bytes.length;
        take++;
      }
    }
    const burst = queue.splice(0, take);
    let total = 0;
    for (const a of burst) total += a.bytes.length;
    const data = burst.length === 1 ? burst[0]!.bytes : new Uint8Array(total);
    if (burst.length > 1) {
      let at = 0;
      for (const a of burst) {
        data.set(a.bytes, at);
        at += a.bytes.length;
      }
    }
    try {
      if (!active || active.segment.size >= segmentBytes) {
        await seal();
        await openSegment(burst[0]!.seq);
      }
      const { segment, file } = active!;
      try {
        await writeAll(file, data);
        stats.writes++;
        if (mode !== "none") {
          await file.syncData();
          stats.syncs++;
        }
      } catch (err) {
        // Cut what may have been half-written so the next burst starts on a clean boundary.
        await file.truncate(segment.size).catch(() => {});
        throw err;
      }
      segment.size += total;
      bytes += total;
      stats.records += burst.length;
      durableEnd = burst[burst.length - 1]!.seq + 1;
    } catch (err) {
      // Later appends were numbered after the failed ones: fail them too and renumber.
      const failed = [...burst, ...queue];
      queue = [];
      nextSeq = durableEnd;
      logger.error("write-ahead log append failed", { records: failed.length, error: err });
      for (const a of failed) a.reject(err);
      return;
    }
    for (const a of burst) a.resolve(a.seq);
  };

  const kick = () => {
    if (writing !== null) return;
    writing = (async () => {
      while (queue.length > 0) await writeBurst();
    })().finally(() => {
      writing = null;
      if (queue.length > 0) kick();
    });
  };

  const writeCheckpoint = async () => {
    while (checkpointed !== lowWater) {
      const target = lowWater;
      const tmp = `${checkpointPath}.tmp`;
      await Deno.writeTextFile(tmp, JSON.stringify({ low_water: target }));
      await Deno.rename(tmp, checkpointPath);
      checkpointed = target;
      // Sealed segments wholly below the mark: the next segment starts at or below it.
      while (
        segments.length > 1 && segments[1]!.base <= target && segments[0] !== active?.segment
      ) {
        const gone = segments.shift()!;
        bytes -= gone.size;
        if (cursor?.base === gone.base) cursor = null;
        await Deno.remove(gone.path).catch((err) =>
          logger.warn("could not delete a delivered segment", { path: gone.path, error: err })
        );
      }
    }
  };

  const scheduleCheckpoint = (delay: number) => {
    if (checkpointTimer !== null || checkpointing !== null || closed) return;
    checkpointTimer = setTimeout(() => {
      checkpointTimer = null;
      checkpointing = writeCheckpoint()
        .catch((err) => logger.warn("checkpoint write failed", { error: err }))
        .finally(() => {
          checkpointing = null;
          if (checkpointed !== lowWater) scheduleCheckpoint(checkpointInterval);
        });
    }, delay);
  };

  const readSegmentRange = async (segment: Segment, from: number): Promise<Uint8Array> => {
    const size = segment.size - from;
    const buf = new Uint8Array(size);
    if (size === 0) return buf;
    const file = await Deno.open(segment.path, { read: true });
    try {
      await file.seek(from, Deno.SeekMode.Start);
      let got = 0;
      while (got < size) {
        const n = await file.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      return got === size ? buf : buf.subarray(0, got);
    } finally {
      file.close();
    }
  };

  const recover = async () => {
    await Deno.mkdir(dir, { recursive: true });
    try {
      const saved = JSON.parse(await Deno.readTextFile(checkpointPath));
      if (Number.isSafeInteger(saved?.low_water) && saved.low_water >= 0) {
        lowWater = saved.low_water;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        logger.warn("unreadable checkpoint; delivering every segment again", { error: err });
      }
    }
    checkpointed = lowWater;
    const found: number[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const m = entry.isFile ? SEGMENT_NAME.exec(entry.name) : null;
      if (m) found.push(Number(m[1]));
    }
    found.sort((a, b) => a - b);
    let lastSeq = lowWater - 1;
    let pending = 0;
    for (let i = 0; i < found.length; i++) {
      const base = found[i]!;
      const path = `${dir}/${segmentName(base)}`;
      if (i + 1 < found.length && found[i + 1]! <= lowWater) {
        await Deno.remove(path);
        continue;
      }
      const data = await Deno.readFile(path);
      if (data.length === 0) {
        await Deno.remove(path);
        continue;
      }
      const scan = scanRecords(data, 0, data.length);
      if (scan.skippedBytes > 0) {
        logger.error("skipped corrupt records in a write-ahead log segment", {
          path,
          bytes: scan.skippedBytes,
        });
      }
      if (scan.validEnd < data.length) {
        // A write cut short by a crash: it was never acknowledged, so dropping it is safe.
        logger.warn("cutting a torn write-ahead log tail", {
          path,
          bytes: data.length - scan.validEnd,
        });
        await Deno.truncate(path, scan.validEnd);
      }
      for (const r of scan.records) {
        if (r.seq > lastSeq) lastSeq = r.seq;
        if (r.seq >= lowWater) pending++;
      }
      segments.push({ base, path, size: scan.validEnd });
      bytes += scan.validEnd;
    }
    nextSeq = durableEnd = Math.max(lastSeq + 1, lowWater);
    if (pending > 0) {
      logger.info("write-ahead log has undelivered events", { records: pending, from: lowWater });
    }
  };

  return {
    dir,
    fsync: mode,
    get lowWater() {
      return lowWater;
    },
    get durableEnd() {
      return durableEnd;
    },
    get records() {
      return durableEnd - lowWater;
    },
    get bytes() {
      return bytes;
    },
    get pendingAppends() {
      return queue.length;
    },
    stats,
    open: async () => {
      if (opened) return;
      await recover();
      opened = true;
    },
    append: (message, acceptedAt) => {
      if (!opened || closed) {
        return Promise.reject(
          new Error(`write-ahead log ${dir} is ${closed ? "closed" : "not open"}`),
        );
      }
      let data: Uint8Array;
      try {
        data = encodeRecord(nextSeq, acceptedAt, message);
      } catch (err) {
        return Promise.reject(err);
      }
      const seq = nextSeq++;
      return new Promise<number>((resolve, reject) => {
        queue.push({ seq, bytes: data, resolve, reject });
        kick();
      });
    },
    read: async (from, max) => {
      const out: WalRecord[] = [];
      let i = segments.length - 1;
      while (i > 0 && segments[i]!.base > from) i--;
      for (; i < segments.length && out.length < max && from < durableEnd; i++) {
        const segment = segments[i]!;
        const start = cursor && cursor.base === segment.base && cursor.seq <= from ? cursor.pos : 0;
        if (start >= segment.size) continue;
        const data = await readSegmentRange(segment, start);
        let pos = 0;
        while (pos < data.length && out.length < max) {
          const scan = scanRecords(data, pos, data.length, max - out.length);
          for (const r of scan.records) if (r.seq >= from) out.push(r);
          if (scan.records.length === 0) break;
          pos = scan.validEnd;
          const last = scan.records[scan.records.length - 1]!;
          cursor = { base: segment.base, pos: start + pos, seq: last.seq + 1 };
        }
        if (out.length > 0) from = out[out.length - 1]!.seq + 1;
      }
      return out;
    },
    release: (mark) => {
      if (mark <= lowWater) return;
      lowWater = Math.min(mark, durableEnd);
      scheduleCheckpoint(checkpointInterval);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      while (writing !== null) await writing;
      if (checkpointTimer !== null) clearTimeout(checkpointTimer);
      checkpointTimer = null;
      if (checkpointing !== null) await checkpointing;
      await writeCheckpoint().catch((err) =>
        logger.warn("checkpoint write failed", { error: err })
      );
      await seal();
    },
  };
}
