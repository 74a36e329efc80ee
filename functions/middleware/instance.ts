/**
 * Instance middleware: names the replica that answered in `X-Fess-Instance`, so behind a load
 * balancer an operator (and the failover test) can see which replica holds a camera.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { FessEnv } from "../openapi.ts";

/** Header naming the replica that answered. */
export const INSTANCE_HEADER = "x-fess-instance";

/** Creates the middleware for replica `instanceId`. */
export function instance(instanceId: string): MiddlewareHandler<FessEnv> {
  return async (c, next) => {
    await next();
    try {
      c.res.headers.set(INSTANCE_HEADER, instanceId);
    } catch {
      // Immutable headers (e.g. a proxied fetch Response): the name is only a convenience.
    }
  };
}
