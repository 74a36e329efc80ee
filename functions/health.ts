/**
 * `GET /health` (dependency-aware report: 200 healthy or degraded, 503 unhealthy),
 * `GET /health/live` (the process answers) and `GET /health/ready` (ready for frames: the
 * dependencies are connected and the detector is loaded and warmed).
 *
 * Without an API key `/health` returns only `{status, timestamp}`: component details (broker
 * addresses, Redis errors) need a key of any scope. With no keys configured (development)
 * everyone sees the details.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { errorResponse, ServiceUnavailableError } from "../shared/errors.ts";
import type { HealthService } from "../shared/health.ts";
import { createRoutes, errorResponses, type FessEnv, KEY_SECURITY } from "./openapi.ts";

/** Dependencies of {@link createHealthHandler}. */
export interface HealthHandlerDeps {
  readonly health: HealthService;
  /** Whether the service can take frames now (detector loaded and warmed). */
  readonly ready: () => boolean;
  /** Version string reported by liveness. */
  readonly version: string;
}

const NO_STORE = { "cache-control": "no-store" };

const StatusSchema = z.enum(["healthy", "degraded", "unhealthy"]);
const ReportSchema = z.object({
  status: StatusSchema,
  timestamp: z.string(),
  components: z.record(
    z.string(),
    z.looseObject({ healthy: z.boolean() }),
  ).optional().openapi({ description: "Only with an API key (any scope)" }),
}).openapi("HealthReport");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Dependency-aware health; component details need an API key (any scope)",
  tags: ["health"],
  security: [{}, ...KEY_SECURITY],
  responses: {
    ...errorResponses([401]),
    200: {
      description: "Healthy or degraded",
      content: { "application/json": { schema: ReportSchema } },
    },
    503: {
      description: "Unhealthy (the detector cannot run), or overloaded",
      content: { "application/json": { schema: ReportSchema } },
    },
  },
});

const liveRoute = createRoute({
  method: "get",
  path: "/health/live",
  summary: "Liveness: the process answers",
  tags: ["health"],
  responses: {
    200: {
      description: "Alive",
      content: {
        "application/json": {
          schema: z.object({
            status: z.literal("alive"),
            version: z.string(),
            uptime_seconds: z.number(),
          }),
        },
      },
    },
    ...errorResponses([]),
  },
});

const ReadySchema = z.object({ status: z.enum(["ready", "not_ready"]) });
const readyRoute = createRoute({
  method: "get",
  path: "/health/ready",
  summary: "Readiness: dependencies connected, detector loaded and warmed",
  tags: ["health"],
  responses: {
    ...errorResponses([]),
    200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
    503: {
      description: "Not ready (starting, or shutting down)",
      content: { "application/json": { schema: ReadySchema } },
    },
  },
});

/** Creates the health routes. */
export function createHealthHandler(deps: HealthHandlerDeps): OpenAPIHono<FessEnv> {
  const started = Date.now();
  return createRoutes()
    .openapi(healthRoute, async (c) => {
      const report = await deps.health.report();
      const body = c.get("principal")
        ? report
        : { status: report.status, timestamp: report.timestamp };
      return report.status === "unhealthy"
        ? c.json(body, 503, NO_STORE)
        : c.json(body, 200, NO_STORE);
    })
    .openapi(liveRoute, (c) =>
      c.json(
        {
          status: "alive" as const,
          version: deps.version,
          uptime_seconds: Math.round((Date.now() - started) / 1000),
        },
        200,
        NO_STORE,
      ))
    .openapi(
      readyRoute,
      (c) =>
        deps.ready()
          ? c.json({ status: "ready" as const }, 200, NO_STORE)
          : c.json({ status: "not_ready" as const }, 503, NO_STORE),
    );
}

/**
 * What answers while the application is still being built (the port opens before the
 * detector loads and the broker connects): liveness 200, readiness and `/health` 503
 * `starting`, everything else 503 with `Retry-After`.
 */
export function createStartingHandler(version: string): (req: Request) => Response {
  const started = Date.now();
  const json = (body: unknown, status: number) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...NO_STORE },
    });
  return (req) => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    if (path === "/health/live") {
      const uptime = Math.round((Date.now() - started) / 1000);
      return json({ status: "alive", version, uptime_seconds: uptime }, 200);
    }
    if (path === "/health/ready") return json({ status: "not_ready" }, 503);
    if (path === "/health") return json({ status: "starting" }, 503);
    return errorResponse(
      new ServiceUnavailableError("FESS is starting: dependencies are connecting", {
        retryAfterSeconds: 2,
      }),
    );
  };
}
