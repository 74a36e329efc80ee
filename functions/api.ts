/**
 * The HTTP application: one Hono app with the middleware every route shares, the one error
 * path, and 404/405 in one place. Route modules (`createXHandler(deps)`) return sub-apps that
 * declare their routes with zod schemas; the composition root mounts each with
 * `api.route("/", subApp)`, and the docs module publishes the merged OpenAPI document.
 *
 * Middleware order (outermost first): request id → instance name → CORS (when `server.cors`
 * lists origins) → dot-segment refusal (400 for `/./` or `/../` in the path) → in-flight limit
 * → principal (API key) → body guard (size and deadline); then per route: scope check →
 * validators → handler. Every thrown value, every validation failure and every unmatched route
 * leaves as FESS's `{error, code, detail}` JSON (`errorResponse` in `shared/errors.ts`).
 *
 * @module
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { Authenticator } from "../shared/auth.ts";
import {
  BadRequestError,
  errorResponse,
  FessError,
  MethodNotAllowedError,
  NotFoundError,
  toFessError,
} from "../shared/errors.ts";
import type { Logger } from "../shared/logger.ts";
import { bodyGuard } from "./middleware/body_guard.ts";
import { inflightLimit } from "./middleware/inflight.ts";
import { instance } from "./middleware/instance.ts";
import { identify } from "./middleware/principal.ts";
import { REQUEST_ID_HEADER, requestId } from "./middleware/request_id.ts";
import { createRoutes, type FessEnv } from "./openapi.ts";

export { REQUEST_ID_HEADER };

/** Dependencies of {@link createApi}. */
export interface ApiDeps {
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimitBytes: number;
  /** Base time a body may take (plus its size at `minBodyBytesPerSecond`). Default 10 s. */
  readonly readTimeoutMs?: number;
  /** Slowest accepted upload rate. Default 64 KiB/s. */
  readonly minBodyBytesPerSecond?: number;
  /** Requests handled at once before 503. Default unbounded. */
  readonly maxInflight?: number;
  /** Origins allowed by CORS (`*` for any); empty: no CORS headers. */
  readonly corsOrigins?: readonly string[];
  /** This replica's name, sent as `X-Fess-Instance` on every response when given. */
  readonly instanceId?: string;
}

const STATUS_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  408: "request_timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "validation_failed",
};

function fromHttpException(e: HTTPException, c: Context<FessEnv>): FessError {
  if (e.status === 415) {
    const got = c.req.header("content-type") ?? "(none)";
    return new FessError(415, "unsupported_media_type", `content type ${got} is not accepted`);
  }
  const code = STATUS_CODES[e.status] ?? (e.status >= 500 ? "internal_error" : "bad_request");
  return new FessError(e.status, code, e.message || "request failed");
}

/**
 * Throws 400 when `path` has a `.` or `..` segment (also as `%2e`). Routing matches the path as
 * sent while URL parsers remove dot segments, so such a path would route one way and be
 * described (405 Allow, logs) another; clients normalise paths, so only crafted requests carry
 * them.
 */
function refuseDotSegments(path: string): void {
  const dots = path.split("/").find((s) => {
    const segment = s.replace(/%2e/gi, ".");
    return segment === "." || segment === "..";
  });
  if (dots === undefined) return;
  throw new BadRequestError(
    `the path ${JSON.stringify(path.slice(0, 200))} has a dot segment ("." or ".."); ` +
      "send the normalised path",
    { detail: { segment: dots } },
  );
}

/** Creates the application with its shared middleware; mount route modules on it. */
export function createApi(deps: ApiDeps): OpenAPIHono<FessEnv> {
  const api = createRoutes();
  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "Authorization: Bearer <key>",
  });
  api.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
  });

  api.use("*", requestId(deps.logger));
  if (deps.instanceId) api.use("*", instance(deps.instanceId));
  const origins = deps.corsOrigins ?? [];
  if (origins.length > 0) {
    api.use(
      "*",
      cors({
        origin: origins.includes("*") ? "*" : [...origins],
        allowHeaders: [
          "authorization",
          "x-api-key",
          "content-type",
          REQUEST_ID_HEADER,
          "x-frame-number",
          "x-frame-timestamp",
          "x-frame-width",
          "x-frame-height",
          "x-pixel-format",
        ],
        exposeHeaders: [REQUEST_ID_HEADER, "retry-after", "location"],
        maxAge: 600,
      }),
    );
  }
  api.use("*", async (c, next) => {
    refuseDotSegments(c.req.path);
    await next();
  });
  if (deps.maxInflight !== undefined) api.use("*", inflightLimit(deps.maxInflight));
  api.use("*", identify(deps.authenticator));
  api.use(
    "*",
    bodyGuard({
      limitBytes: deps.bodyLimitBytes,
      readTimeoutMs: deps.readTimeoutMs ?? 10_000,
      minBytesPerSecond: deps.minBodyBytesPerSecond ?? 65_536,
    }),
  );

  api.onError((thrown, c) => {
    let err = c.get("bodyError") ??
      (thrown instanceof HTTPException ? fromHttpException(thrown, c) : toFessError(thrown));
    // A scope check only knows that no key came; the authenticator knows why (another scheme).
    if (err.status === 401 && c.get("principal") === null) {
      err = deps.authenticator.missingKeyError(c.req.raw);
    }
    const log = c.get("log") ?? deps.logger;
    const where = { path: c.req.path, method: c.req.method };
    if (err.status >= 500 && err.code !== "overloaded") {
      log.error("request failed", { ...where, code: err.code, error: thrown });
    } else {
      log.info("request rejected", { ...where, status: err.status, reason: err.message });
    }
    return errorResponse(err);
  });

  // Method lookup for 405, built on the first miss (every route is mounted by then).
  let patterns: { pattern: URLPattern; method: string }[] | undefined;
  api.notFound((c) => {
    patterns ??= api.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => ({ pattern: new URLPattern({ pathname: r.path }), method: r.method }));
    const path = c.req.path;
    const allow = [
      ...new Set(
        patterns.filter((p) => p.pattern.test({ pathname: path }))
          .map((p) => p.method),
      ),
    ];
    if (allow.length > 0) {
      if (allow.includes("GET") && !allow.includes("HEAD")) allow.push("HEAD");
      throw new MethodNotAllowedError(c.req.method, allow);
    }
    throw new NotFoundError(`no route for ${path}`);
  });
  return api;
}

/** The OpenAPI 3.1 document of `api` (every route mounted on it). */
export function openApiDocument(api: OpenAPIHono<FessEnv>, version: string): object {
  return api.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "FESS",
      version,
      description: "Real-time video-surveillance detection: frames in, detections and events " +
        "out. Errors are JSON {error, code, detail}. Unknown paths answer 404 and known " +
        "paths with another method 405 (with Allow). Scoped routes need an API key " +
        "(Authorization: Bearer or X-API-Key) holding the scope named in x-scope " +
        "(admin holds every scope).",
    },
  });
}
