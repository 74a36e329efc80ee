/**
 * `GET /metrics`: the Prometheus text exposition of the service's own registry.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Registry } from "prom-client";
import { createRoutes, errorResponses, type FessEnv } from "./openapi.ts";

/** Dependencies of {@link createMetricsHandler}. */
export interface MetricsHandlerDeps {
  readonly registry: Registry;
  /** Refreshes scrape-time state (e.g. drops idle cameras) before rendering. */
  readonly beforeScrape?: () => unknown;
}

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics (text exposition format)",
  tags: ["metrics"],
  responses: {
    200: {
      description: "Prometheus text format",
      content: { "text/plain": { schema: z.string() } },
    },
    ...errorResponses([]),
  },
});

/** Creates the metrics route. */
export function createMetricsHandler(deps: MetricsHandlerDeps): OpenAPIHono<FessEnv> {
  return createRoutes().openapi(metricsRoute, async (c) => {
    await deps.beforeScrape?.();
    const body = await deps.registry.metrics();
    return c.text(body, 200, {
      "content-type": deps.registry.contentType,
      "cache-control": "no-store",
    });
  });
}
