/**
 * Reading an HTTP/1.x message head off a byte stream, for the request and response framers:
 * its bytes up to the empty line that ends it (LF LF or LF CR LF, across chunks), bounded, and
 * the fields that frame what follows it.
 *
 * Invariants: a head is kept as Latin-1 text only up to `maxBytes`; bytes are looked at once.
 *
 * @module
 */

const LF = 10;
const CR = 13;

/** What {@link HeadReader.feed} found. */
export type HeadFeed =
  /** The head goes on past this chunk. */
  | { readonly kind: "partial"; readonly at: number }
  /** The head ended just before `at`; `text` is all of it. */
  | { readonly kind: "complete"; readonly at: number; readonly text: string }
  /** The head passed `maxBytes`; `text` is its first `maxBytes` bytes. */
  | { readonly kind: "oversized"; readonly text: string };

/** Reads one head at a time; see {@link createHeadReader}. */
export interface HeadReader {
  /** Starts a new head. */
  reset(): void;
  /** Takes bytes of `chunk` from `at` until the head ends or the chunk does. */
  feed(chunk: Uint8Array, at: number): HeadFeed;
}

/** Creates a head reader keeping at most `maxBytes` of a head. */
export function createHeadReader(maxBytes: number): HeadReader {
  let head = "";
  // The head's last two bytes: it ends at LF LF or LF CR LF.
  let prev1 = 0;
  let prev2 = 0;
  return {
    reset() {
      head = "";
      prev1 = prev2 = 0;
    },
    feed(chunk, at) {
      let i = at;
      let complete = false;
      while (i < chunk.length && !complete) {
        const b = chunk[i++]!;
        complete = b === LF && (prev1 === LF || (prev1 === CR && prev2 === LF));
        prev2 = prev1;
        prev1 = b;
      }
      if (head.length + (i - at) > maxBytes) {
        return { kind: "oversized", text: head + latin1(chunk, at, at + maxBytes - head.length) };
      }
      head += latin1(chunk, at, i);
      if (!complete) return { kind: "partial", at: i };
      const text = head;
      head = "";
      return { kind: "complete", at: i, text };
    },
  };
}

/** The fields of a head that frame its message, and its first line and field count. */
export interface HeadFields {
  readonly startLine: string;
  /** Header fields in the head. */
  readonly count: number;
  /** `Content-Length` as sent (NaN when not a number), undefined when absent. */
  readonly contentLength: number | undefined;
  /** The last transfer coding is `chunked`. */
  readonly chunked: boolean;
  /** `Connection` lists `close`. */
  readonly close: boolean;
}

/** Parses the lines of a complete head. */
export function headFields(text: string): HeadFields {
  const lines = text.split(/\r?\n/);
  let count = 0;
  let contentLength: number | undefined;
  let chunked = false;
  let close = false;
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(":");
    if (colon < 0) continue;
    count++;
    const name = l.slice(0, colon).trim().toLowerCase();
    const value = l.slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") contentLength = Number.parseInt(value, 10);
    else if (name === "transfer-encoding") chunked = value.split(",").pop()?.trim() === "chunked";
    else if (name === "connection") close ||= value.split(",").some((t) => t.trim() === "close");
  }
  return { startLine: lines[0] ?? "", count, contentLength, chunked, close };
}

/** The bytes `[start, end)` as a Latin-1 string. */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  }
  return s;
}
