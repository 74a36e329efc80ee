/**
 * Follows the response framing of the HTTP/1.1 byte stream from the server back to a client
 * (status heads, sized, chunked and bodiless responses, interim 1xx responses), so the
 * connection guard knows when a response is complete and whether it asked to close the
 * connection (`Connection: close`).
 *
 * Invariants: body bytes are skipped by count; heads are kept only up to `maxHeadBytes`. A
 * response the framer cannot follow (a 101 or a 2xx to CONNECT switching protocols, a
 * response delimited by the end of the connection, an oversized head or a malformed chunk
 * size) stops the tracking: no later response is reported complete, and the connection ends
 * when the server closes it or by the idle timeout.
 *
 * @module
 */
import { type ChunkedBody, createChunkedBody } from "./chunked_body.ts";
import { createHeadReader, headFields } from "./http_head.ts";

/** What one chunk of response bytes did. */
export interface ResponseFeedResult {
  /** Final (non-1xx) responses completed in this chunk. */
  readonly completed: number;
  /**
   * When a response carrying `Connection: close` completed in this chunk: the offset just past
   * it (bytes after it are not framed). Else -1.
   */
  readonly closeAt: number;
}

type Phase = "idle" | "head" | "body" | "chunked" | "lost";

const LF = 10;
const CR = 13;

/**
 * Creates a response framer for one connection. `nextMethod` gives the method of the request
 * a final response answers (requests are answered in order); a response to HEAD has no body.
 */
export function createResponseFramer(
  nextMethod: () => string | undefined,
  maxHeadBytes = 64 * 1024,
): { feed(chunk: Uint8Array): ResponseFeedResult } {
  let phase: Phase = "idle";
  const head = createHeadReader(maxHeadBytes);
  let remaining = 0;
  let body: ChunkedBody = createChunkedBody();
  let closing = false;

  /** Parses a complete head; returns true when the response is complete with it. */
  const endOfHead = (text: string): boolean => {
    const fields = headFields(text);
    const status = Number.parseInt(fields.startLine.split(" ")[1] ?? "", 10);
    if (status >= 100 && status < 200 && status !== 101) {
      phase = "idle"; // interim: the final response follows
      return false;
    }
    const method = nextMethod();
    const { contentLength: length, chunked } = fields;
    closing = fields.close;
    if (!Number.isFinite(status) || status === 101 || (method === "CONNECT" && status < 300)) {
      phase = "lost";
      return false;
    }
    if (method === "HEAD" || status === 204 || status === 304) {
      phase = "idle";
      return true;
    }
    if (chunked) {
      body = createChunkedBody();
      phase = "chunked";
      return false;
    }
    if (length === undefined || !Number.isFinite(length) || length < 0) {
      phase = "lost"; // delimited by the end of the connection
      return false;
    }
    remaining = length;
    phase = length > 0 ? "body" : "idle";
    return length === 0;
  };

  return {
    feed(chunk) {
      let completed = 0;
      let i = 0;
      const done = () => {
        completed++;
        return closing;
      };
      while (i < chunk.length && phase !== "lost") {
        switch (phase) {
          case "idle": {
            const b = chunk[i]!;
            if (b === CR || b === LF) {
              i++;
              continue;
            }
            phase = "head";
            head.reset();
            break;
          }
          case "head": {
            const read = head.feed(chunk, i);
            if (read.kind === "oversized") {
              phase = "lost";
              break;
            }
            i = read.at;
            if (read.kind === "complete" && endOfHead(read.text) && done()) {
              return { completed, closeAt: i };
            }
            break;
          }
          case "body": {
            const n = Math.min(remaining, chunk.length - i);
            i += n;
            remaining -= n;
            if (remaining === 0) {
              phase = "idle";
              if (done()) return { completed, closeAt: i };
            }
            break;
          }
          case "chunked": {
            i = body.feed(chunk, i);
            if (body.state === "lost") phase = "lost";
            else if (body.state === "done") {
              phase = "idle";
              if (done()) return { completed, closeAt: i };
            }
            break;
          }
        }
      }
      return { completed, closeAt: -1 };
    },
  };
}
