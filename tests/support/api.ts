/**
 * Mounts route modules on the real application middleware (`createApi`) for handler tests:
 * the same error path, auth, body guard and 404/405 as the service.
 *
 * @module
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createApi } from "../../functions/api.ts";
import type { FessEnv } from "../../functions/openapi.ts";
import { type ApiKeyEntry, createAuthenticator } from "../../shared/auth.ts";
import { type Logger, silentLogger } from "../../shared/logger.ts";

/** Options of {@link mountApi}. */
export interface MountOptions {
  readonly keys?: readonly (string | ApiKeyEntry)[];
  readonly logger?: Logger;
  readonly bodyLimitBytes?: number;
  readonly readTimeoutMs?: number;
  readonly minBodyBytesPerSecond?: number;
  readonly maxInflight?: number;
  readonly corsOrigins?: readonly string[];
}

/** The app with `routes` mounted, as a fetch function. */
export function mountApi(
  options: MountOptions,
  ...routes: OpenAPIHono<FessEnv>[]
): (req: Request) => Promise<Response> {
  const api = createApi({
    logger: options.logger ?? silentLogger,
    authenticator: createAuthenticator(options.keys ?? []),
    bodyLimitBytes: options.bodyLimitBytes ?? 1 << 20,
    readTimeoutMs: options.readTimeoutMs,
    minBodyBytesPerSecond: options.minBodyBytesPerSecond,
    maxInflight: options.maxInflight,
    corsOrigins: options.corsOrigins,
  });
  for (const r of routes) api.route("/", r);
  return async (req) => await api.fetch(req);
}
