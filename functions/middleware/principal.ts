/**
 * Identifies who sent a request from its API key (`Authorization: Bearer` or `X-API-Key`)
 * and stores the principal for the route's scope check (`scope()` in `functions/openapi.ts`)
 * and for `/health`'s details. A key that is presented but not configured is a 401 on any
 * route; no key leaves the principal `null` (open routes still answer).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Authenticator } from "../../shared/auth.ts";
import type { FessEnv } from "../openapi.ts";

/** Creates the principal middleware. */
export function identify(authenticator: Authenticator): MiddlewareHandler<FessEnv> {
  return async (c, next) => {
    c.set("principal", authenticator.identify(c.req.raw));
    await next();
  };
}
