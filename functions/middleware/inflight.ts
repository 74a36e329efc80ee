/**
 * Bounds the requests handled at once (`server.max_inflight`): past it a request is refused at
 * once with 503 and `Retry-After`, before its body is read, instead of queueing without limit.
 * Health and metrics are exempt so probes and scrapes still answer under load.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { OverloadedError } from "../../shared/errors.ts";
import type { FessEnv } from "../openapi.ts";

const EXEMPT = /^\/(health|metrics)(\/|$)/;

/** Creates the in-flight limit middleware. */
export function inflightLimit(max: number): MiddlewareHandler<FessEnv> {
  let inflight = 0;
  return async (c, next) => {
    if (EXEMPT.test(c.req.path)) return await next();
    if (inflight >= max) throw new OverloadedError(max);
    inflight++;
    try {
      await next();
    } finally {
      inflight--;
    }
  };
}
