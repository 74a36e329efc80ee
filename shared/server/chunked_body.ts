/**
 * Follows one chunked message body (RFC 9112 §7.1) by counting, for the request and response
 * framers: chunk-size lines (extensions ignored), chunk data skipped by count, the CRLF after
 * each chunk, and the trailer section up to its empty line.
 *
 * Invariants: data bytes cost no per-byte work; a size line is kept only up to 1 KiB; a size
 * that is not hexadecimal ends the tracking (state `lost`), since the peer parsing it refuses
 * such a message anyway.
 *
 * @module
 */

/** Where a chunked body is: still going, past its last byte, or no longer followed. */
export type ChunkedBodyState = "open" | "done" | "lost";

/** A chunked body being followed; see {@link createChunkedBody}. */
export interface ChunkedBody {
  readonly state: ChunkedBodyState;
  /**
   * Consumes the bytes of `chunk` from `at` that belong to the body and returns the offset
   * where it stopped: the end of `chunk` while the body goes on, else just past its last byte
   * (`done`) or where its framing broke (`lost`).
   */
  feed(chunk: Uint8Array, at: number): number;
}

const LF = 10;

/** Starts following a chunked body whose first byte is the next one fed. */
export function createChunkedBody(): ChunkedBody {
  let phase: "size" | "data" | "data-end" | "trailer" | ChunkedBodyState = "size";
  let remaining = 0;
  let line = "";
  return {
    get state(): ChunkedBodyState {
      return phase === "done" || phase === "lost" ? phase : "open";
    },
    feed(chunk, at) {
      let i = at;
      while (
        i < chunk.length && (phase === "size" || phase === "data" ||
          phase === "data-end" || phase === "trailer")
      ) {
        switch (phase) {
          case "size":
          case "trailer": {
            const b = chunk[i++]!;
            if (b !== LF) {
              if (line.length < 1024) line += String.fromCharCode(b);
              break;
            }
            const text = line.replace(/\r$/, "");
            line = "";
            if (phase === "trailer") {
              if (text === "") phase = "done";
              break;
            }
            const size = Number.parseInt(text.split(";")[0]!.trim(), 16);
            if (!Number.isFinite(size) || size < 0) phase = "lost";
            else if (size === 0) phase = "trailer";
            else {
              remaining = size;
              phase = "data";
            }
            break;
          }
          case "data": {
            const n = Math.min(remaining, chunk.length - i);
            i += n;
            remaining -= n;
            if (remaining === 0) {
              phase = "data-end";
              remaining = 2; // CRLF after the data
            }
            break;
          }
          case "data-end": {
            const b = chunk[i++]!;
            remaining--;
            if (b === LF || remaining === 0) phase = "size";
            break;
          }
        }
      }
      return i;
    },
  };
}
