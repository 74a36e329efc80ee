/**
 * Moves what an older FESS left in its spool (`<dir>/events.spool.jsonl`, JSON lines of
 * `{topic, key, value, headers}`, with the delivered byte count in `.offset`) into the
 * write-ahead log, then deletes the spool files. The records are appended (durably) before
 * the spool goes, so a crash during the move delivers some of them twice, never zero times.
 *
 * @module
 */
import type { Logger } from "../logger.ts";
import type { OutgoingMessage } from "./types.ts";
import type { WriteAheadLog } from "./wal.ts";

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
    // a torn or corrupt line: skipped below
  }
  return null;
}

/** Appends the legacy spool's undelivered records to `wal`; returns how many moved. */
export async function migrateLegacySpool(
  dir: string,
  wal: WriteAheadLog,
  logger: Logger,
): Promise<number> {
  const path = `${dir.replace(/\/+$/, "")}/events.spool.jsonl`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
  let offset = 0;
  try {
    offset = Number((await Deno.readTextFile(`${path}.offset`)).trim()) || 0;
  } catch {
    offset = 0;
  }
  if (offset > bytes.length) offset = 0;
  const text = new TextDecoder().decode(bytes.subarray(offset));
  const lines = text.split("\n");
  lines.pop(); // the text after the last newline is a torn line (or empty)
  const now = Date.now();
  const appends: Promise<number>[] = [];
  let skipped = 0;
  for (const line of lines) {
    const message = parseLine(line);
    if (message === null) skipped++;
    else appends.push(wal.append(message, now));
  }
  await Promise.all(appends);
  await Deno.remove(`${path}.offset`).catch(() => {});
  await Deno.remove(path);
  logger.info("moved the legacy spool into the write-ahead log", {
    path,
    records: appends.length,
    skipped,
  });
  return appends.length;
}
