/**
 * The one place request bodies are bounded, in size and in time:
 *
 * - a declared `Content-Length` over `limitBytes` is refused with 413 before anything is read;
 * - the body stream is wrapped so a chunked body is cut with 413 once it passes the limit;
 * - the body must arrive within `readTimeoutMs` plus its size at `minBytesPerSecond`
 *   (a slow or stalled upload is cut with 408 and the connection closed).
 *
 * Nothing is read here: the handler (or its validator) reads when it needs the body, so a
 * request refused by auth never costs an upload. When the wrapped stream fails, the error is
 * kept in the context variable `bodyError` and the error handler prefers it over whatever the
 * reader made of the broken stream (e.g. a JSON parser's "malformed").
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { type FessError, PayloadTooLargeError, RequestTimeoutError } from "../../shared/errors.ts";
import type { FessEnv } from "../openapi.ts";

/** Options of {@link bodyGuard}. */
export interface BodyGuardOptions {
  readonly limitBytes: number;
  readonly readTimeoutMs: number;
  readonly minBytesPerSecond: number;
}

/** Creates the body guard middleware. */
export function bodyGuard(options: BodyGuardOptions): MiddlewareHandler<FessEnv> {
  const { limitBytes, readTimeoutMs, minBytesPerSecond } = options;
  return async (c, next) => {
    const raw = c.req.raw;
    if (raw.body === null) return await next();
    const declared = raw.headers.get("content-length");
    const length = declared === null ? null : Number(declared);
    if (length !== null && length > limitBytes) throw new PayloadTooLargeError(limitBytes);
    const deadlineMs = Math.round(
      readTimeoutMs + ((length ?? limitBytes) / minBytesPerSecond) * 1000,
    );

    const source = raw.body.getReader();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let received = 0;
    let failed = false;
    const fail = (err: FessError) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      c.set("bodyError", err);
      controller.error(err);
      source.cancel(err).catch(() => {});
    };
    const timer = setTimeout(() =>
      fail(
        new RequestTimeoutError(
          `request body not received within ${deadlineMs} ms ` +
            `(${received} of ${length ?? "unknown"} bytes arrived)`,
          { detail: { deadline_ms: deadlineMs, received_bytes: received } },
        ),
      ), deadlineMs);
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        controller = ctl;
      },
      async pull(ctl) {
        try {
          const { done, value } = await source.read();
          if (failed) return;
          if (done) {
            clearTimeout(timer);
            ctl.close();
            return;
          }
          received += value.byteLength;
          if (received > limitBytes) return fail(new PayloadTooLargeError(limitBytes));
          ctl.enqueue(value);
        } catch (err) {
          if (!failed) {
            clearTimeout(timer);
            ctl.error(err);
          }
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return source.cancel(reason);
      },
    });
    // Not `new Request(raw, ...)`: copying the signal trips Deno.serve's legacy-abort warning.
    c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: stream });
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
  };
}
