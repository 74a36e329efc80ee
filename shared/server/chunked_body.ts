/**
 * Follows one chunked message body (RFC 9112 §7.1) by counting, for the request and response
 * framers: chunk-size lines (extensions ignored), chunk data skipped by count, the CRLF after
 * each chunk, and the trailer section up to its empty line.
 *
 * Invariants: data bytes cost no per-byte work; a chunk size is read digit by digit (leading
 * zeros skipped, so any number of them reads as the peer reads them) and the rest of its line
 * is skipped whatever its length; a size line that does not start with a hex digit, or a size
 * beyond 13 significant hex digits, ends the tracking (state `lost`): the peer refuses such a
 * message. Trailer lines are skipped up to the empty one.
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
const ZERO = 48;
const HEX = /^[0-9A-Fa-f]$/;

/** Starts following a chunked body whose first byte is the next one fed. */
export function createChunkedBody(): ChunkedBody {
  let phase: "size" | "data" | "data-end" | "trailer" | ChunkedBodyState = "size";
  let remaining = 0;
  let line = "";
  let sizeDigits = "";
  let sawDigit = false;
  let inExtension = false;
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
          case "size": {
            // The size is read digit by digit as it streams, never from a truncated line: a
            // server reads `000…03c` as 0x3c however many zeros lead, and so must this.
            const b = chunk[i++]!;
            if (b === LF) {
              if (!sawDigit || sizeDigits.length > 13) phase = "lost";
              else if (sizeDigits === "") phase = "trailer";
              else {
                remaining = Number.parseInt(sizeDigits, 16);
                phase = "data";
              }
              sizeDigits = "";
              sawDigit = inExtension = false;
            } else if (!inExtension && HEX.test(String.fromCharCode(b))) {
              sawDigit = true;
              if (sizeDigits !== "" || b !== ZERO) sizeDigits += String.fromCharCode(b);
              if (sizeDigits.length > 13) inExtension = true; // beyond any real size: refused
            } else if (!inExtension && !sawDigit) {
              phase = "lost"; // a size line must start with a hex digit
            } else {
              inExtension = true; // `;ext`, whitespace before it, or the CR
            }
            break;
          }
          case "trailer": {
            const b = chunk[i++]!;
            if (b !== LF) {
              if (line.length < 2) line += String.fromCharCode(b);
              break;
            }
            if (line.replace(/\r$/, "") === "") phase = "done";
            line = "";
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
