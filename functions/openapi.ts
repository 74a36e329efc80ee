/**
 * What every route module shares to declare its routes once, with zod schemas that are both
 * the validation and the OpenAPI description: the Hono environment ({@link FessEnv}), the
 * error schema and the error responses each route documents, the scope guard, and
 * {@link createRoutes}, the sub-app every `createXHandler(deps)` returns.
 *
 * Invariants: validation failures never use Hono's default response; they throw
 * {@link BadRequestError} (query, path, headers) or {@link ValidationError} (JSON body) and
 * reach the one `onError` in `functions/api.ts`. Every route lists each error status it can
 * answer, so `/openapi.json` documents every error response.
 *
 * @module
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { type Principal, requireScope } from "../shared/auth.ts";
import type { ApiKeyScope } from "../shared/config.ts";
import {
  BadRequestError,
  type FessError,
  UnauthorizedError,
  ValidationError,
} from "../shared/errors.ts";
import { formatIssues } from "../shared/http.ts";
import type { Logger } from "../shared/logger.ts";

/** Per-request values the middleware sets for handlers. */
export interface FessVariables {
  /** The request id (also in the `X-Request-Id` response header). */
  requestId: string;
  /** The logger with the request id bound. */
  log: Logger;
  /** Who sent the request: `null` without a key (only open routes then). */
  principal: Principal | null;
  /** Why the body stream was cut (limit or deadline), when it was. */
  bodyError?: FessError;
}

/** The Hono environment of every FESS route. */
export type FessEnv = { Variables: FessVariables };

/** The JSON body of every error response (`shared/errors.ts` builds it). */
export const ErrorSchema = z.object({
  error: z.string().openapi({ description: "What went wrong, for people" }),
  code: z.string().openapi({ description: "Stable machine-readable code", example: "not_found" }),
  detail: z.unknown().openapi({ description: "Structured detail (zod issues, limits), or null" }),
}).openapi("Error");

const ERROR_DESCRIPTIONS = {
  400: "Malformed request: bad query, path, header or undecodable body",
  401: "No API key, or a key that is not configured",
  403: "The API key lacks the scope this route needs",
  404: "No such resource",
  408: "The request body arrived too slowly (server.read_timeout_ms, min_body_bytes_per_second)",
  409: "The resource already exists",
  413: "The body is larger than server.body_limit_bytes",
  415: "Unsupported content type",
  422: "The body parsed but failed validation; detail.issues lists every problem",
  429: "A bounded queue is full; retry later",
  500: "Unexpected failure (logged with the request id)",
  503: "A dependency cannot serve, or the server is at server.max_inflight (Retry-After)",
  507: "The face gallery is full (cache.max_faces)",
} as const;

/** An error status a route can document. */
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

type ErrorResponse = {
  description: string;
  content: { "application/json": { schema: typeof ErrorSchema } };
};

/**
 * The error responses of a route: `statuses` plus 500 and 503 (any route), 401 and 403 when
 * it needs a scope, 408 and 413 when it takes a body.
 */
export function errorResponses(
  statuses: readonly ErrorStatus[],
  options: { scoped?: boolean; body?: boolean } = {},
): Record<ErrorStatus, ErrorResponse> {
  const all = new Set<ErrorStatus>([...statuses, 500, 503]);
  if (options.scoped) [401, 403].forEach((s) => all.add(s as ErrorStatus));
  if (options.body) [408, 413].forEach((s) => all.add(s as ErrorStatus));
  const out = {} as Record<ErrorStatus, ErrorResponse>;
  for (const s of [...all].sort()) {
    out[s] = {
      description: ERROR_DESCRIPTIONS[s],
      content: { "application/json": { schema: ErrorSchema } },
    };
  }
  return out;
}

/** OpenAPI security requirement of scoped routes (either header works). */
export const KEY_SECURITY: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

/** Route middleware: 401 without a key, 403 without `scope` (admin has every scope). */
export function scope(required: ApiKeyScope): MiddlewareHandler<FessEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (!principal) {
      throw new UnauthorizedError("an API key is required (Authorization: Bearer or X-API-Key)");
    }
    requireScope(principal, required);
    await next();
  };
}

/**
 * The fields a scoped route adds to its `createRoute` config: the security requirement, the
 * scope check (then `extra` route middleware), and `x-scope` naming the scope in the document.
 */
export function scoped(required: ApiKeyScope, ...extra: MiddlewareHandler<FessEnv>[]): {
  security: typeof KEY_SECURITY;
  middleware: MiddlewareHandler<FessEnv>[];
  "x-scope": ApiKeyScope;
} {
  return { security: KEY_SECURITY, middleware: [scope(required), ...extra], "x-scope": required };
}

/** Validation hook: FESS's error model instead of Hono's default 400 body. */
export function validationHook(
  result: { success: boolean; target: string; error?: { issues: z.core.$ZodIssue[] } },
): void {
  if (result.success) return;
  const issues = formatIssues(result.error?.issues ?? []);
  if (result.target === "json") {
    throw new ValidationError("body failed validation", { detail: { issues } });
  }
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new BadRequestError(`invalid ${result.target}: ${summary}`, { detail: { issues } });
}

/** The sub-app a handler module returns; mount it with `api.route("/", subApp)`. */
export function createRoutes(): OpenAPIHono<FessEnv> {
  return new OpenAPIHono<FessEnv>({ defaultHook: validationHook });
}
