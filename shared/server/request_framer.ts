/**
 * Follows the request framing of an HTTP/1.x byte stream from a client (request heads,
 * `Content-Length` and chunked bodies, pipelined requests) without buffering bodies, so the
 * connection guard knows when a request head is in progress, when one is complete and when
 * the connection sits between requests. It does not validate: the HTTP server behind the
 * guard parses and answers malformed requests itself.
 *
 * Invariants: body bytes are skipped by count (no per-byte work); head bytes are kept only up
 * to `maxHeadBytes`, after which (like after an `Upgrade` or an HTTP/2 preface) the framer
 * stops tracking and reports `tunnel`.
 *
 * @module
 */

/** Where the stream is between two chunks. */
export type FramerState = "idle" | "head" | "body" | "tunnel";

/** What one chunk did. */
export interface FeedResult {
  /** A new request head began in this chunk. */
  readonly headStarted: boolean;
  /** Request heads completed in this chunk. */
  readonly headsCompleted: number;
}

type Phase =
  | "idle"
  | "head"
  | "body"
  | "chunk-size"
  | "chunk-data"
  | "chunk-data-end"
  | "trailer"
  | "tunnel";

/** Creates a framer for one connection. */
export function createRequestFramer(maxHeadBytes = 64 * 1024): {
  feed(chunk: Uint8Array): FeedResult;
  readonly state: FramerState;
} {
  let phase: Phase = "idle";
  let head = "";
  let remaining = 0;
  let line = "";

  const endOfHead = (text: string) => {
    const lines = text.split(/\r?\n/);
    const requestLine = lines[0] ?? "";
    if (requestLine.startsWith("PRI * HTTP/2")) return "tunnel" as const;
    let length = 0;
    let chunked = false;
    let upgrade = false;
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(":");
      if (colon < 0) continue;
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") length = Number.parseInt(value, 10) || 0;
      else if (name === "transfer-encoding") chunked = value.split(",").pop()?.trim() === "chunked";
      else if (name === "upgrade") upgrade = true;
    }
    if (upgrade || requestLine.startsWith("CONNECT ")) return "tunnel" as const;
    if (chunked) return "chunk-size" as const;
    remaining = length;
    return length > 0 ? "body" as const : "idle" as const;
  };

  return {
    get state(): FramerState {
      if (phase === "idle" || phase === "head" || phase === "tunnel") return phase;
      return "body";
    },
    feed(chunk) {
      let headStarted = false;
      let headsCompleted = 0;
      let i = 0;
      while (i < chunk.length && phase !== "tunnel") {
        switch (phase) {
          case "idle": {
            const b = chunk[i]!;
            i++;
            // Empty lines before a request line are allowed (RFC 9112 2.2).
            if (b === 13 || b === 10) continue;
            phase = "head";
            head = String.fromCharCode(b);
            headStarted = true;
            break;
          }
          case "head": {
            const start = i;
            while (i < chunk.length) {
              const b = chunk[i++]!;
              if (b !== 10) continue;
              const text = head + latin1(chunk, start, i);
              if (text.endsWith("\n\n") || text.endsWith("\n\r\n")) {
                headsCompleted++;
                phase = endOfHead(text);
                head = "";
                line = "";
                break;
              }
            }
            if (phase === "head") {
              head += latin1(chunk, start, i);
              if (head.length > maxHeadBytes) phase = "tunnel";
            }
            break;
          }
          case "body": {
            const n = Math.min(remaining, chunk.length - i);
            i += n;
            remaining -= n;
            if (remaining === 0) phase = "idle";
            break;
          }
          case "chunk-size":
          case "trailer": {
            const b = chunk[i++]!;
            if (b !== 10) {
              if (line.length < 1024) line += String.fromCharCode(b);
              break;
            }
            const text = line.replace(/\r$/, "");
            line = "";
            if (phase === "trailer") {
              if (text === "") phase = "idle";
              break;
            }
            const size = Number.parseInt(text.split(";")[0]!.trim(), 16);
            if (!Number.isFinite(size) || size < 0) {
              phase = "tunnel"; // malformed: the server will refuse it; stop tracking
            } else if (size === 0) {
              phase = "trailer";
            } else {
              remaining = size;
              phase = "chunk-data";
            }
            break;
          }
          case "chunk-data": {
            const n = Math.min(remaining, chunk.length - i);
            i += n;
            remaining -= n;
            if (remaining === 0) {
              phase = "chunk-data-end";
              remaining = 2; // CRLF after the data
            }
            break;
          }
          case "chunk-data-end": {
            const b = chunk[i++]!;
            remaining--;
            if (b === 10 || remaining === 0) phase = "chunk-size";
            break;
          }
        }
      }
      return { headStarted, headsCompleted };
    },
  };
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  }
  return s;
}
