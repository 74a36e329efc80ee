/**
 * Follows the request framing of an HTTP/1.x byte stream from a client (request heads,
 * `Content-Length` and chunked bodies, pipelined requests) without buffering bodies, so the
 * connection guard knows when a request head is in progress, when one is complete, which
 * method it carries and when the connection sits between requests. It does not validate: the
 * HTTP server behind the guard parses and answers malformed requests itself.
 *
 * Invariants: body bytes are skipped by count (no per-byte work); head bytes are kept only up
 * to `maxHeadBytes`: a longer head, or one with more than {@link MAX_HEADER_FIELDS} fields, is
 * reported as `oversized` and framing stops there (state `refused`), so the guard can answer
 * 414/431 itself. `Upgrade` and `CONNECT` do not change the
 * framing (FESS switches no protocol, so a request carrying them is an ordinary request). Only
 * a malformed chunk size stops the tracking (state `lost`): the server refuses that request.
 *
 * @module
 */

import { type ChunkedBody, createChunkedBody } from "./chunked_body.ts";
import { createHeadReader, type HeadFields, headFields } from "./http_head.ts";

/** Where the stream is between two chunks. */
export type FramerState = "idle" | "head" | "body" | "lost" | "refused";

/** What one chunk did. */
export interface FeedResult {
  /** A new request head began in this chunk. */
  readonly headStarted: boolean;
  /** The methods of the request heads completed in this chunk, in order. */
  readonly methods: readonly string[];
  /**
   * The head in progress passed `maxHeadBytes` (`"request-line"` when its first line alone
   * did), or has more than {@link MAX_HEADER_FIELDS} fields (`"fields"`). Nothing after this
   * head is framed.
   */
  readonly oversized?: "request-line" | "head" | "fields";
  /**
   * With `oversized`: how many bytes of this chunk come before the oversized head (the rest
   * belongs to it).
   */
  readonly before?: number;
}

type Phase = "idle" | "head" | "body" | "chunked" | "lost" | "refused";

const LF = 10;
const CR = 13;

/** Most header fields in a request head: hyper's limit, which it enforces with a bare 400. */
export const MAX_HEADER_FIELDS = 100;

/** Creates a framer for one connection. */
export function createRequestFramer(maxHeadBytes = 64 * 1024): {
  feed(chunk: Uint8Array): FeedResult;
  readonly state: FramerState;
} {
  let phase: Phase = "idle";
  const head = createHeadReader(maxHeadBytes);
  let remaining = 0;
  let body: ChunkedBody = createChunkedBody();

  /** Sets the body framing of a complete head's request; returns its method. */
  const endOfHead = (fields: HeadFields): string => {
    if (fields.chunked) {
      body = createChunkedBody();
      phase = "chunked";
    } else {
      remaining = fields.contentLength || 0;
      phase = remaining > 0 ? "body" : "idle";
    }
    return fields.startLine.split(" ", 1)[0] ?? "";
  };

  return {
    get state(): FramerState {
      if (phase === "idle" || phase === "head" || phase === "lost" || phase === "refused") {
        return phase;
      }
      return "body";
    },
    feed(chunk) {
      let headStarted = false;
      let headAt = 0; // where the head in progress began in this chunk
      const methods: string[] = [];
      let i = 0;
      while (i < chunk.length && phase !== "lost" && phase !== "refused") {
        switch (phase) {
          case "idle": {
            const b = chunk[i]!;
            // Empty lines before a request line are allowed (RFC 9112 2.2).
            if (b === CR || b === LF) {
              i++;
              continue;
            }
            phase = "head";
            head.reset();
            headStarted = true;
            headAt = i;
            break;
          }
          case "head": {
            const read = head.feed(chunk, i);
            if (read.kind === "oversized") {
              phase = "refused";
              // The request line alone is too long when no line ends within the limit.
              const oversized = read.text.includes("\n") ? "head" : "request-line";
              return { headStarted, methods, oversized, before: headAt };
            }
            i = read.at;
            if (read.kind === "complete") {
              const fields = headFields(read.text);
              // The server behind refuses more fields with a bare 400; the guard answers 431.
              if (fields.count > MAX_HEADER_FIELDS) {
                phase = "refused";
                return { headStarted, methods, oversized: "fields", before: headAt };
              }
              methods.push(endOfHead(fields));
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
          case "chunked": {
            i = body.feed(chunk, i);
            // A malformed chunk size: the server refuses it; stop tracking.
            if (body.state !== "open") phase = body.state === "done" ? "idle" : "lost";
            break;
          }
        }
      }
      return { headStarted, methods };
    },
  };
}
