/**
 * The one HTTP router. It mounts handler modules on path prefixes, authenticates protected
 * mounts, enforces the body-size limit, gives every request an id, and is the single place
 * where thrown {@link FessError}s become `{error, detail}` JSON responses.
 *
 * @module
 */
import type { Authenticator } from "../shared/auth.ts";
import {
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  toFessError,
} from "../shared/errors.ts";
import { jsonResponse } from "../shared/http.ts";
import type { Logger } from "../shared/logger.ts";

/** A request handler: every function module exports a factory returning one. */
export type Handler = (req: Request) => Promise<Response>;

/** A handler mounted on a path prefix. */
export interface Mount {
  /** Path prefix, e.g. `/detect`; matches the prefix itself and anything below `prefix/`. */
  readonly prefix: string;
  /** The handler; it matches its own sub-paths and throws 404/405 for the rest. */
  readonly handler: Handler;
  /** Whether requests need an API key. */
  readonly protected: boolean;
}

/** Dependencies of {@link createRouter}. */
export interface RouterDeps {
  readonly mounts: readonly Mount[];
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimitBytes: number;
  /** This replica's name, sent as {@link INSTANCE_HEADER} (which replica served a request). */
  readonly instanceId?: string;
  /** Called after each request with its outcome (for metrics). */
  readonly onResponse?: (
    info: { route: string; method: string; status: number; seconds: number },
  ) => void;
}

/** Header carrying the request id (accepted from clients, generated when absent). */
export const REQUEST_ID_HEADER = "x-request-id";
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** Header naming the replica that answered (behind a load balancer). */
export const INSTANCE_HEADER = "x-fess-instance";

/** Composes mounts into one handler. Longest prefix wins. */
export function createRouter(deps: RouterDeps): Handler {
  const mounts = [...deps.mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  const find = (path: string) =>
    mounts.find((m) =>
      path === m.prefix || path.startsWith(m.prefix.endsWith("/") ? m.prefix : m.prefix + "/")
    );

  return async (req) => {
    const started = performance.now();
    const given = req.headers.get(REQUEST_ID_HEADER);
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    const path = new URL(req.url).pathname;
    const log = deps.logger.child({ request_id: requestId });
    const mount = find(path);
    let response: Response;
    try {
      if (!mount) throw new NotFoundError(`no route for ${path}`);
      if (mount.protected) deps.authenticator.check(req);
      const declared = req.headers.get("content-length");
      if (declared !== null && Number(declared) > deps.bodyLimitBytes) {
        throw new PayloadTooLargeError(deps.bodyLimitBytes);
      }
      response = await mount.handler(req);
    } catch (thrown) {
      const err = toFessError(thrown);
      if (err.status >= 500) {
        log.error("request failed", { path, method: req.method, code: err.code, error: thrown });
      } else {
        log.info("request rejected", {
          path,
          method: req.method,
          status: err.status,
          reason: err.message,
        });
      }
      const headers = new Headers();
      if (err instanceof MethodNotAllowedError) headers.set("allow", err.allow.join(", "));
      if (err.status === 401) headers.set("www-authenticate", 'Bearer realm="fess"');
      if (err.retryAfterSeconds !== undefined) {
        headers.set("retry-after", String(err.retryAfterSeconds));
      }
      const body: { error: string; detail: unknown; code: string } = {
        error: err.status >= 500 && err.code === "internal_error" ? "internal error" : err.message,
        code: err.code,
        detail: err.detail ?? null,
      };
      response = jsonResponse(body, err.status, headers);
    }
    const seconds = (performance.now() - started) / 1000;
    try {
      response.headers.set(REQUEST_ID_HEADER, requestId);
      if (deps.instanceId) response.headers.set(INSTANCE_HEADER, deps.instanceId);
    } catch {
      // Immutable headers (e.g. a proxied fetch Response): the id is only a convenience.
    }
    deps.onResponse?.({
      route: mount?.prefix ?? "unmatched",
      method: req.method,
      status: response.status,
      seconds,
    });
    log.debug("request", {
      method: req.method,
      path,
      status: response.status,
      ms: Math.round(seconds * 1000),
    });
    return response;
  };
}

/** Throws 405 unless `req.method` is one of `allowed`. */
export function requireMethod(req: Request, allowed: readonly string[]): void {
  if (!allowed.includes(req.method)) throw new MethodNotAllowedError(req.method, allowed);
}
