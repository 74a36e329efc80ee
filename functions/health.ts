/**
 * `GET /health` (dependency-aware report: 200 healthy or degraded, 503 unhealthy),
 * `GET /health/live` (the process answers) and `GET /health/ready` (ready for frames: the
 * detector is loaded and warmed).
 *
 * @module
 */
import type { HealthService } from "../shared/health.ts";
import { NotFoundError } from "../shared/errors.ts";
import { jsonResponse } from "../shared/http.ts";
import { type Handler, requireMethod } from "./router.ts";

/** Dependencies of {@link createHealthHandler}. */
export interface HealthHandlerDeps {
  readonly health: HealthService;
  /** Whether the service can take frames now (detector loaded and warmed). */
  readonly ready: () => boolean;
  /** Version string reported by liveness. */
  readonly version: string;
}

const NO_STORE = { "cache-control": "no-store" };

/** Creates the health handler, mounted at `/health`. */
export function createHealthHandler(deps: HealthHandlerDeps): Handler {
  const started = Date.now();
  return async (req) => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    requireMethod(req, ["GET", "HEAD"]);
    switch (path) {
      case "/health": {
        const report = await deps.health.report();
        return jsonResponse(report, report.status === "unhealthy" ? 503 : 200, NO_STORE);
      }
      case "/health/live":
        return jsonResponse(
          {
            status: "alive",
            version: deps.version,
            uptime_seconds: Math.round((Date.now() - started) / 1000),
          },
          200,
          NO_STORE,
        );
      case "/health/ready": {
        const ready = deps.ready();
        return jsonResponse({ status: ready ? "ready" : "not_ready" }, ready ? 200 : 503, NO_STORE);
      }
      default:
        throw new NotFoundError(`no route for ${path}`);
    }
  };
}
