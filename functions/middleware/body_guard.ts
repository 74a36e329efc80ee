/**
 * The one place request bodies are bounded, in size and in time:
 *
 * - a declared `Content-Length` over `limitBytes` is refused with 413 before anything is read;
 *   one that is not a non-negative integer (or differing values) with 400. The header repeated
 *   on separate lines with equal values (legal per RFC 9110; the server joins them as `5, 5`)
 *   counts as one;
 * - the body stream is wrapped so a chunked body is cut with 413 once it passes the limit;
 * - the body must keep up `minBytesPerSecond`: while the reader waits for the client, after a
 *   first `readTimeoutMs`, each second of waiting must have brought `minBytesPerSecond` more
 *   bytes on average, and no single wait may pass `readTimeoutMs` without a byte (a stalled
 *   or too slow upload is cut with 408 naming the rate and the bytes received; the response
 *   closes the connection). Time the handler spends not reading is not counted: the client
 *   cannot send into a full buffer;
 * - a body that cannot be read because the client went away (or broke the framing) is the
 *   client's fault: status 499 `client_closed_request`, never a 5xx;
 * - a method that carries no body (GET, HEAD) or that the Fetch API forbids is never wrapped
 *   into a new `Request` (which would throw): the first runs without a body, the second is
 *   refused with 501 (the server refuses those before the app already).
 *
 * Nothing is read here: the handler (or its validator) reads when it needs the body, so a
 * request refused by auth never costs an upload. When the wrapped stream fails, the error is
 * kept in the context variable `bodyError` and the error handler prefers it over whatever the
 * reader made of the broken stream (e.g. a JSON parser's "malformed").
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import {
  BadRequestError,
  FessError,
  PayloadTooLargeError,
  RequestTimeoutError,
} from "../../shared/errors.ts";
import { createDeadline } from "../../shared/server/deadline.ts";
import { checkMethod } from "../../shared/server/request_checks.ts";
import type { FessEnv } from "../openapi.ts";

/** Options of {@link bodyGuard}. */
export interface BodyGuardOptions {
  readonly limitBytes: number;
  readonly readTimeoutMs: number;
  readonly minBytesPerSecond: number;
}

/**
 * The declared body length: null when absent, a {@link BadRequestError} when the header is not
 * one non-negative integer (repeated equal values count as one).
 */
export function parseContentLength(header: string | null): number | null | FessError {
  if (header === null) return null;
  const values = header.split(",").map((v) => v.trim());
  const first = values[0]!;
  if (!/^\d{1,15}$/.test(first) || values.some((v) => v !== first)) {
    return new BadRequestError(
      "invalid Content-Length header: expected one non-negative integer",
      { detail: { header: "content-length", value: header.slice(0, 200) } },
    );
  }
  return Number(first);
}

/** Creates the body guard middleware. */
export function bodyGuard(options: BodyGuardOptions): MiddlewareHandler<FessEnv> {
  const { limitBytes, readTimeoutMs, minBytesPerSecond } = options;
  return async (c, next) => {
    const raw = c.req.raw;
    if (raw.body === null || raw.method === "GET" || raw.method === "HEAD") return await next();
    const unsupported = checkMethod(raw.method);
    if (unsupported) throw unsupported;
    const length = parseContentLength(raw.headers.get("content-length"));
    if (length instanceof FessError) throw length;
    if (length !== null && length > limitBytes) throw new PayloadTooLargeError(limitBytes);

    const source = raw.body.getReader();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let received = 0;
    // Time spent waiting for the client's bytes, and when the current wait began.
    let waitedMs = 0;
    let waitingSince = 0;
    // Whether the current wait's deadline is the rate's (else a single pause's).
    let tooSlow = false;
    let failed = false;
    const fail = (err: FessError) => {
      if (failed) return;
      failed = true;
      deadline.dispose();
      c.set("bodyError", err);
      controller.error(err);
      source.cancel(err).catch(() => {});
    };
    const detail = (waited: number) => ({
      received_bytes: received,
      expected_bytes: length,
      waited_ms: Math.round(waited),
      read_timeout_ms: readTimeoutMs,
      min_bytes_per_second: minBytesPerSecond,
    });
    // One movable deadline for all the waits: a chunk moves it, it does not re-arm a timer.
    const deadline = createDeadline(() => {
      const waited = waitedMs + performance.now() - waitingSince;
      const of = `${received} of ${length ?? "unknown"} bytes arrived`;
      fail(
        new RequestTimeoutError(
          tooSlow
            ? `request body too slow: ${of} in ${(waited / 1000).toFixed(1)} s, below the ` +
              `minimum of ${minBytesPerSecond} bytes/s after the first ${readTimeoutMs} ms`
            : `request body stalled: no bytes for ${readTimeoutMs} ms (${of})`,
          { detail: detail(waited) },
        ),
      );
    });
    /** Sets the deadline of the wait that starts now. */
    const startWaiting = () => {
      waitingSince = performance.now();
      // Waiting allowed in all: `readTimeoutMs`, plus what the bytes so far take at the rate.
      const rateLeft = readTimeoutMs + (received / minBytesPerSecond) * 1000 - waitedMs;
      // A wait (nearly) as long as `readTimeoutMs` reads best as a stall, whatever the rate.
      tooSlow = rateLeft < readTimeoutMs * 0.9;
      deadline.set(waitingSince + Math.max(0, Math.min(rateLeft, readTimeoutMs)));
    };
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        controller = ctl;
      },
      async pull(ctl) {
        startWaiting();
        try {
          const { done, value } = await source.read();
          deadline.clear();
          waitedMs += performance.now() - waitingSince;
          if (failed) return;
          if (done) {
            ctl.close();
            return;
          }
          received += value.byteLength;
          if (received > limitBytes) return fail(new PayloadTooLargeError(limitBytes));
          ctl.enqueue(value);
        } catch {
          deadline.clear();
          // The connection ended under the body: the client left or broke the framing.
          fail(
            new FessError(
              499,
              "client_closed_request",
              "the connection closed before the request body was complete",
              { detail: detail(waitedMs + performance.now() - waitingSince) },
            ),
          );
        }
      },
      cancel(reason) {
        deadline.dispose();
        return source.cancel(reason);
      },
    });
    // Not `new Request(raw, ...)`: copying the signal trips Deno.serve's legacy-abort warning.
    c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: stream });
    try {
      await next();
    } finally {
      deadline.dispose();
    }
  };
}
