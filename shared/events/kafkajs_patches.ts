/**
 * Two process-wide fixes to kafkajs 2.2.4 internals, applied once before the first client is
 * made (`createKafkaClient` calls {@link patchKafkajs}). Both keep kafkajs' wire format and
 * behaviour; they change how it schedules a timer and how it allocates buffers.
 *
 * 1. The request queue re-arms a "check pending requests" timer after every response even when
 *    nothing is pending and nothing is throttled; the delay it computes is then
 *    `throttledUntil - now` = `-1 - Date.now()`. The runtime clamps it to 1 ms, so every broker
 *    connection spins a 1 ms timer for ever and prints `TimeoutNegativeWarning`. The fix arms
 *    the timer only when a request waits or the broker throttles, as kafkajs' comment intends.
 * 2. Each produced record is encoded into a fresh 512-byte encoder that grows (copying) to the
 *    record's size, plus one more encoder per header, and every varint is written through a
 *    temporary array and buffer (64-bit ones through `Long`): the main cost of producing. The
 *    replacement writes the same bytes (record v0: length, attributes, timestamp delta, offset
 *    delta, key, value, headers; zig-zag varints) straight into one buffer of the exact size.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";

/** kafkajs' request queue, as far as the timer fix touches it. */
interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' protocol encoder, as far as the record encoder uses it. */
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  writeVarLong(n: number): KafkajsEncoder;
}

interface EncoderClass {
  new (initialSize?: number): KafkajsEncoder;
}

interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
}

/** kafkajs' re-check interval for queued requests. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;
const RECORD_MODULE = "kafkajs/src/protocol/recordBatch/record/v0/index.js";
let patched = false;

function fixPendingRequestTimer(prototype: RequestQueueInternals): void {
  prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals) {
    if (this.throttleCheckTimeoutId) return;
    const throttledFor = this.throttledUntil - Date.now();
    if (this.pending.length === 0 && throttledFor <= 0) return;
    const delay = throttledFor > 0 ? throttledFor : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, delay);
  };
}

/** Largest magnitude the float zig-zag below encodes exactly (kafkajs' `Long` does the rest). */
const SAFE_VARLONG = 2 ** 51;

function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

function zigzag64(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function sizeOfUnsigned(v: number): number {
  let size = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

function writeUnsigned(buf: Buffer, at: number, v: number): number {
  while (v >= 128) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

type Bytes = Buffer | string | null;

function byteLength(v: Bytes): number {
  return v === null ? -1 : typeof v === "string" ? Buffer.byteLength(v) : v.length;
}

function sizeOfBytes(length: number): number {
  return sizeOfUnsigned(zigzag32(length)) + Math.max(0, length);
}

function writeBytes(buf: Buffer, at: number, v: Bytes, length: number): number {
  at = writeUnsigned(buf, at, zigzag32(length));
  if (v === null) return at;
  if (typeof v === "string") buf.write(v, at, length, "utf8");
  else buf.set(v, at);
  return at + length;
}

/** kafkajs' record v0 encoder (same bytes), written into one buffer of the exact size. */
function singleBufferRecord(Encoder: EncoderClass) {
  return (
    { offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput,
  ): KafkajsEncoder => {
    const names: string[] = [];
    const values: Bytes[] = [];
    for (const name of Object.keys(headers)) {
      const v = headers[name]!;
      if (Array.isArray(v)) {
        for (const one of v) {
          names.push(name);
          values.push(one);
        }
      } else {
        names.push(name);
        values.push(v);
      }
    }
    const keyLength = byteLength(key ?? null);
    const valueLength = byteLength(value ?? null);
    const nameLengths = names.map((n) => Buffer.byteLength(n));
    const valueLengths = values.map(byteLength);
    const exactTimestamp = Math.abs(timestampDelta) < SAFE_VARLONG;
    let body = 1 + (exactTimestamp ? sizeOfUnsigned(zigzag64(timestampDelta)) : 10) +
      sizeOfUnsigned(zigzag32(offsetDelta)) + sizeOfBytes(keyLength) + sizeOfBytes(valueLength) +
      sizeOfUnsigned(zigzag32(names.length));
    for (let i = 0; i < names.length; i++) {
      body += sizeOfBytes(nameLengths[i]!) + sizeOfBytes(valueLengths[i]!);
    }
    if (!exactTimestamp) {
      // Out of the float range: let kafkajs size and write the varlong (never for FESS).
      const probe = new Encoder(16).writeVarLong(timestampDelta);
      body += probe.offset - 10;
    }
    const total = sizeOfUnsigned(zigzag32(body)) + body;
    const out = new Encoder(0);
    const buf = Buffer.allocUnsafe(total);
    let at = writeUnsigned(buf, 0, zigzag32(body));
    buf[at++] = 0; // no record attributes
    if (exactTimestamp) at = writeUnsigned(buf, at, zigzag64(timestampDelta));
    else {
      const long = new Encoder(16).writeVarLong(timestampDelta);
      buf.set(long.buf.subarray(0, long.offset), at);
      at += long.offset;
    }
    at = writeUnsigned(buf, at, zigzag32(offsetDelta));
    at = writeBytes(buf, at, key ?? null, keyLength);
    at = writeBytes(buf, at, value ?? null, valueLength);
    at = writeUnsigned(buf, at, zigzag32(names.length));
    for (let i = 0; i < names.length; i++) {
      at = writeBytes(buf, at, names[i]!, nameLengths[i]!);
      at = writeBytes(buf, at, values[i]!, valueLengths[i]!);
    }
    out.buf = buf;
    out.offset = at;
    return out;
  };
}

/** Applies both fixes (process-wide, idempotent). */
export function patchKafkajs(): void {
  if (patched) return;
  patched = true;
  const require = createRequire(import.meta.url);
  const RequestQueue = require("kafkajs/src/network/requestQueue/index.js") as {
    prototype: RequestQueueInternals;
  };
  fixPendingRequestTimer(RequestQueue.prototype);
  // The produce request module loads the record encoder lazily, on the first produce call,
  // so replacing the cached module's exports now is what it will get.
  const Encoder = require("kafkajs/src/protocol/encoder.js") as EncoderClass;
  const path = require.resolve(RECORD_MODULE);
  require(path);
  require.cache[path]!.exports = singleBufferRecord(Encoder);
}
