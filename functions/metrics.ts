/**
 * `GET /metrics`: the Prometheus text exposition of the service's own registry.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { NotFoundError } from "../shared/errors.ts";
import { type Handler, requireMethod } from "./router.ts";

/** Dependencies of {@link createMetricsHandler}. */
export interface MetricsHandlerDeps {
  readonly registry: Registry;
  /** Refreshes scrape-time state (e.g. drops idle cameras) before rendering. */
  readonly beforeScrape?: () => unknown;
}

/** Creates the metrics handler, mounted at `/metrics`. */
export function createMetricsHandler(deps: MetricsHandlerDeps): Handler {
  return async (req) => {
    if (new URL(req.url).pathname !== "/metrics") throw new NotFoundError("no route here");
    requireMethod(req, ["GET", "HEAD"]);
    await deps.beforeScrape?.();
    const body = await deps.registry.metrics();
    return new Response(req.method === "HEAD" ? null : body, {
      headers: { "content-type": deps.registry.contentType, "cache-control": "no-store" },
    });
  };
}
