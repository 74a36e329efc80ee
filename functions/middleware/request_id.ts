/**
 * Request id middleware: keeps a sane client `X-Request-Id` (else makes one), binds it to a
 * request logger, echoes it on every response, and logs each request at debug level.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../shared/logger.ts";
import type { FessEnv } from "../openapi.ts";

/** Header carrying the request id (accepted from clients, generated when absent). */
export const REQUEST_ID_HEADER = "x-request-id";
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Creates the request id middleware. */
export function requestId(logger: Logger): MiddlewareHandler<FessEnv> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header(REQUEST_ID_HEADER);
    const id = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    const log = logger.child({ request_id: id });
    c.set("requestId", id);
    c.set("log", log);
    await next();
    try {
      c.res.headers.set(REQUEST_ID_HEADER, id);
    } catch {
      // Immutable headers (e.g. a proxied fetch Response): the id is only a convenience.
    }
    log.debug("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  };
}
