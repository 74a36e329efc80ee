/**
 * The on-disk framing of one write-ahead-log record, and a scanner that finds every intact
 * record in a byte range while stepping over torn or corrupt ones.
 *
 * Layout (little-endian): `u32 payload length`, `u32 CRC-32 of the payload`, then the payload:
 * `f64 seq`, `f64 accepted-at (epoch ms)`, `u16 topic bytes`, `u16 key bytes (0xffff: null)`,
 * `u32 headers bytes`, then topic, key, headers (JSON) and value, all UTF-8.
 *
 * Invariants: a record is valid only when its whole payload is present and its CRC matches,
 * so a write cut short by a crash (a torn tail) or a flipped bit is never delivered. The
 * sequence number is stored in the record rather than implied by position, so skipping a
 * corrupt record never renumbers the ones after it (the checkpoint compares sequence numbers).
 *
 * @module
 */
import { crc32 } from "node:zlib";
import type { OutgoingMessage } from "./types.ts";

/** Bytes before the payload: length and CRC. */
export const RECORD_HEADER_BYTES = 8;
/** Fixed part of the payload: seq, accepted-at, three lengths. */
const PAYLOAD_FIXED_BYTES = 24;
const NULL_KEY = 0xffff;
/** Larger lengths are garbage, not records (events are capped far below this). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** One record read back from the log. */
export interface WalRecord {
  /** Position in the log; strictly increasing in append order. */
  readonly seq: number;
  /** When the record was accepted (epoch ms), for the oldest-undelivered age. */
  readonly acceptedAt: number;
  readonly message: OutgoingMessage;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Frames one record: header plus payload, ready to append. */
export function encodeRecord(seq: number, acceptedAt: number, m: OutgoingMessage): Uint8Array {
  const topic = encoder.encode(m.topic);
  const key = m.key === null ? null : encoder.encode(m.key);
  const headers = encoder.encode(JSON.stringify(m.headers));
  const value = encoder.encode(m.value);
  if (topic.length >= NULL_KEY || (key !== null && key.length >= NULL_KEY)) {
    throw new RangeError("topic and key must be shorter than 65535 bytes");
  }
  const payload = PAYLOAD_FIXED_BYTES + topic.length + (key?.length ?? 0) + headers.length +
    value.length;
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload, true);
  view.setFloat64(8, seq, true);
  view.setFloat64(16, acceptedAt, true);
  view.setUint16(24, topic.length, true);
  view.setUint16(26, key === null ? NULL_KEY : key.length, true);
  view.setUint32(28, headers.length, true);
  let at = RECORD_HEADER_BYTES + PAYLOAD_FIXED_BYTES;
  out.set(topic, at);
  at += topic.length;
  if (key !== null) {
    out.set(key, at);
    at += key.length;
  }
  out.set(headers, at);
  at += headers.length;
  out.set(value, at);
  view.setUint32(4, crc32(out.subarray(RECORD_HEADER_BYTES)), true);
  return out;
}

function decodePayload(buf: Uint8Array, start: number, length: number): WalRecord | null {
  const view = new DataView(buf.buffer, buf.byteOffset + start, length);
  const topicLen = view.getUint16(16, true);
  const keyField = view.getUint16(18, true);
  const keyLen = keyField === NULL_KEY ? 0 : keyField;
  const headersLen = view.getUint32(20, true);
  let at = start + PAYLOAD_FIXED_BYTES;
  const end = start + length;
  if (at + topicLen + keyLen + headersLen > end) return null;
  const topic = decoder.decode(buf.subarray(at, at += topicLen));
  const key = keyField === NULL_KEY ? null : decoder.decode(buf.subarray(at, at += keyLen));
  let headers: Record<string, string>;
  try {
    headers = JSON.parse(decoder.decode(buf.subarray(at, at += headersLen)));
  } catch {
    return null;
  }
  const value = decoder.decode(buf.subarray(at, end));
  return {
    seq: view.getFloat64(0, true),
    acceptedAt: view.getFloat64(8, true),
    message: { topic, key, value, headers },
  };
}

/** What {@link scanRecords} found in a byte range. */
export interface ScanResult {
  /** Intact records, in file order. */
  readonly records: WalRecord[];
  /** Offset just past the last intact record (where a torn tail starts). */
  readonly validEnd: number;
  /** Bytes stepped over between intact records (corruption, not a torn tail). */
  readonly skippedBytes: number;
  /** Offset where the scan stopped: `validEnd`, or the start of an incomplete record. */
  readonly end: number;
}

/**
 * Finds the intact records in `buf[from, to)`. A bad header or CRC mismatch resynchronises by
 * stepping one byte at a time to the next intact record; an incomplete record at the end stops
 * the scan there (at `end`: a torn tail when `to` is the end of the file, otherwise the rest is
 * simply not read yet). At most `max` records are returned.
 */
export function scanRecords(buf: Uint8Array, from: number, to: number, max = Infinity): ScanResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: WalRecord[] = [];
  let pos = from;
  let validEnd = from;
  let skippedBytes = 0;
  let badSince = -1;
  while (pos + RECORD_HEADER_BYTES <= to && records.length < max) {
    const length = view.getUint32(pos, true);
    const sane = length >= PAYLOAD_FIXED_BYTES && length <= MAX_PAYLOAD_BYTES;
    if (sane && pos + RECORD_HEADER_BYTES + length > to) {
      // Either a torn tail or a record not fully read yet; a resync attempt might still find
      // an intact record further on, so only stop when nothing past here parses.
      if (badSince < 0) break;
    } else if (sane) {
      const start = pos + RECORD_HEADER_BYTES;
      const crc = view.getUint32(pos + 4, true);
      if (crc32(buf.subarray(start, start + length)) === crc) {
        const record = decodePayload(buf, start, length);
        if (record !== null) {
          if (badSince >= 0) skippedBytes += pos - badSince;
          badSince = -1;
          records.push(record);
          pos = start + length;
          validEnd = pos;
          continue;
        }
      }
    }
    if (badSince < 0) badSince = pos;
    pos++;
  }
  return { records, validEnd, skippedBytes, end: badSince >= 0 ? validEnd : pos };
}
