/**
 * The event write-ahead log on a real file system: ordered appends and reads, group commit
 * (one fsync for a burst) against `always` and `none`, recovery after a reopen, a torn tail
 * and a corrupt record in the middle, and truncation once records are released.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createWriteAheadLog, type FsyncMode, type WriteAheadLog } from "../shared/events/wal.ts";
import { encodeRecord } from "../shared/events/wal_record.ts";
import type { OutgoingMessage } from "../shared/events/types.ts";

function rec(i: number, pad = 0): OutgoingMessage {
  return {
    topic: "motion.detection.events",
    key: i % 3 === 0 ? null : `cam-${i % 2}`,
    value: JSON.stringify({ i, pad: "é".repeat(pad) }),
    headers: { event_id: `id-${i}`, event_type: "motion_detection" },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fess-wal-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function openWal(
  dir: string,
  opts: { fsync?: FsyncMode; segmentBytes?: number } = {},
): Promise<WriteAheadLog> {
  const wal = createWriteAheadLog({ dir, logger: silentLogger, checkpointIntervalMs: 1, ...opts });
  await wal.open();
  return wal;
}

async function segmentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wal")) names.push(e.name);
  return names.sort();
}

Deno.test("appends get increasing sequence numbers and read back equal, in order", () =>
  withDir(async (dir) => {
    const wal = await openWal(dir);
    const seqs = await Promise.all([0, 1, 2, 3, 4].map((i) => wal.append(rec(i, i * 3), 1000 + i)));
    assert.deepEqual(seqs, [0, 1, 2, 3, 4]);
    assert.equal(wal.durableEnd, 5);
    assert.equal(wal.records, 5);
    const back = await wal.read(0, 10);
    assert.deepEqual(back.map((r) => r.message), [0, 1, 2, 3, 4].map((i) => rec(i, i * 3)));
    assert.deepEqual(back.map((r) => r.acceptedAt), [1000, 1001, 1002, 1003, 1004]);
    assert.deepEqual((await wal.read(3, 1)).map((r) => r.seq), [3], "read from the middle");
    await wal.close();
  }));

Deno.test("group commit: a burst of appends shares one fsync; always syncs each; none never", async () => {
  for (
    const [mode, check] of [
      ["batch", (syncs: number) => assert.ok(syncs >= 1 && syncs <= 5, `batch: ${syncs} syncs`)],
      ["always", (syncs: number) => assert.equal(syncs, 200)],
      ["none", (syncs: number) => assert.equal(syncs, 0)],
    ] as const
  ) {
    await withDir(async (dir) => {
      const wal = await openWal(dir, { fsync: mode });
      await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(rec(i), i)));
      assert.equal(wal.stats.records, 200);
      check(wal.stats.syncs);
      assert.equal((await wal.read(0, 1000)).length, 200, `${mode}: all on disk`);
      await wal.close();
    });
  }
});

Deno.test("a reopened log resumes numbering and keeps unreleased records", () =>
  withDir(async (dir) => {
    const first = await openWal(dir);
    for (let i = 0; i < 6; i++) await first.append(rec(i), i);
    first.release(2);
    await first.close();
    const second = await openWal(dir);
    assert.equal(second.lowWater, 2);
    assert.equal(second.durableEnd, 6);
    assert.deepEqual((await second.read(second.lowWater, 10)).map((r) => r.seq), [2, 3, 4, 5]);
    assert.equal(await second.append(rec(6), 6), 6);
    assert.deepEqual((await second.read(5, 10)).map((r) => r.seq), [5, 6]);
    await second.close();
  }));

Deno.test("a torn last record (crash mid-write) is cut off on open and never read", () =>
  withDir(async (dir) => {
    const wal = await openWal(dir);
    for (let i = 0; i < 3; i++) await wal.append(rec(i), i);
    await wal.close();
    const [segment] = await segmentFiles(dir);
    const path = `${dir}/${segment}`;
    const intact = (await Deno.stat(path)).size;
    // Half of a fourth record: what a SIGKILL or power cut during the write leaves behind.
    const torn = encodeRecord(3, 3, rec(3, 50)).subarray(0, 40);
    await Deno.writeFile(path, torn, { append: true });

    const reopened = await openWal(dir);
    assert.equal((await Deno.stat(path)).size, intact, "torn bytes removed");
    assert.deepEqual((await reopened.read(0, 10)).map((r) => r.seq), [0, 1, 2]);
    assert.equal(await reopened.append(rec(3), 3), 3, "numbering continues after the cut");
    assert.deepEqual((await reopened.read(0, 10)).map((r) => r.seq), [0, 1, 2, 3]);
    await reopened.close();
  }));

Deno.test("a corrupt record in the middle is skipped by its CRC; the ones after keep their seq", () =>
  withDir(async (dir) => {
    const wal = await openWal(dir);
    for (let i = 0; i < 5; i++) await wal.append(rec(i, 10), i);
    await wal.close();
    const [segment] = await segmentFiles(dir);
    const path = `${dir}/${segment}`;
    const bytes = await Deno.readFile(path);
    const one = encodeRecord(0, 0, rec(0, 10)).length;
    bytes[2 * one + 30] ^= 0xff; // a flipped bit inside record 2's payload
    await Deno.writeFile(path, bytes);

    const reopened = await openWal(dir);
    const back = await reopened.read(0, 10);
    assert.deepEqual(back.map((r) => r.seq), [0, 1, 3, 4]);
    assert.deepEqual(back.map((r) => r.message), [0, 1, 3, 4].map((i) => rec(i, 10)));
    await reopened.close();
  }));

Deno.test("released segments are deleted; the checkpoint survives a reopen", () =>
  withDir(async (dir) => {
    const wal = await openWal(dir, { segmentBytes: 65_536 });
    // ~1 KB records, 64 KiB segments: several segments.
    for (let i = 0; i < 300; i++) await wal.append(rec(i, 500), i);
    const before = await segmentFiles(dir);
    assert.ok(before.length >= 4, `${before.length} segments`);
    const bytesBefore = wal.bytes;
    wal.release(250);
    await wal.close();
    const after = await segmentFiles(dir);
    assert.ok(after.length < before.length, `${after.length} of ${before.length} segments left`);
    assert.equal(after.at(-1), before.at(-1), "the segment holding undelivered records stays");
    assert.ok(wal.bytes < bytesBefore);

    const reopened = await openWal(dir);
    assert.equal(reopened.lowWater, 250);
    const rest = await reopened.read(reopened.lowWater, 1_000);
    assert.deepEqual(rest.map((r) => r.seq), Array.from({ length: 50 }, (_, i) => 250 + i));
    reopened.release(300);
    await reopened.close();
    const last = await openWal(dir);
    assert.equal(last.records, 0);
    assert.deepEqual(await last.read(last.lowWater, 10), []);
    await last.close();
  }));
