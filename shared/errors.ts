/**
 * The one error hierarchy of FESS. Every failure that can reach a client is a {@link FessError}
 * carrying its HTTP status, a stable machine-readable `code`, and whether retrying may help
 * (`retriable`, as in kafkajs). {@link errorResponse} is the one place they become
 * `{error, code, detail}` JSON responses (the HTTP app's `onError` and the connection guard's
 * 408 both use it).
 *
 * @module
 */

/** Options shared by every {@link FessError}. */
export interface FessErrorOptions {
  /** Structured detail returned to the client (never secrets). */
  readonly detail?: unknown;
  /** The underlying error, kept for logs only. */
  readonly cause?: unknown;
  /** Whether the same request may succeed later. */
  readonly retriable?: boolean;
  /** Seconds after which a retry may succeed (sent as `Retry-After`). */
  readonly retryAfterSeconds?: number;
}

/** Base class: an error with an HTTP status, a stable code and a retriable flag. */
export class FessError extends Error {
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Stable, machine-readable error code (snake_case). */
  readonly code: string;
  /** Whether retrying the same operation may succeed. */
  readonly retriable: boolean;
  /** Structured detail for the response body. */
  readonly detail: unknown;
  /** Seconds after which a retry may succeed, when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, options: FessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** 400: the request is malformed (bad header, bad query, undecodable body). */
export class BadRequestError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(400, "bad_request", message, options);
  }
}

/** 401: no or wrong API key. */
export class UnauthorizedError extends FessError {
  constructor(message = "a valid API key is required", options?: FessErrorOptions) {
    super(401, "unauthorized", message, options);
  }
}

/** 403: the API key is valid but lacks the scope this route needs. */
export class ForbiddenError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(403, "forbidden", message, options);
  }
}

/** 404: no such route or resource. */
export class NotFoundError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(404, "not_found", message, options);
  }
}

/** 405: the route exists but not for this method. */
export class MethodNotAllowedError extends FessError {
  /** Methods the route accepts, for the `Allow` header. */
  readonly allow: readonly string[];
  constructor(method: string, allow: readonly string[]) {
    super(405, "method_not_allowed", `method ${method} is not allowed here`, {
      detail: { allow },
    });
    this.allow = allow;
  }
}

/** 408: the client sent its request headers or body too slowly. */
export class RequestTimeoutError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(408, "request_timeout", message, { retriable: true, ...options });
  }
}

/** 409: the resource already exists. */
export class ConflictError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(409, "conflict", message, options);
  }
}

/** 413: the body is larger than the configured limit. */
export class PayloadTooLargeError extends FessError {
  constructor(limitBytes: number) {
    super(413, "payload_too_large", `request body exceeds the limit of ${limitBytes} bytes`, {
      detail: { limit_bytes: limitBytes },
    });
  }
}

/** 415: the content type is not one this route accepts. */
export class UnsupportedMediaTypeError extends FessError {
  constructor(got: string | null, accepted: readonly string[]) {
    super(
      415,
      "unsupported_media_type",
      `content type ${got ?? "(none)"} is not accepted; use one of ${accepted.join(", ")}`,
      { detail: { accepted } },
    );
  }
}

/** 422: the body parsed but failed validation; `detail` lists every issue with its path. */
export class ValidationError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(422, "validation_failed", message, options);
  }
}

/** 429: a bounded queue is full; the caller should retry later. */
export class TooManyRequestsError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(429, "too_many_requests", message, { retriable: true, ...options });
  }
}

/** 503: a dependency (Redis, Kafka, the detector) cannot serve right now. */
export class ServiceUnavailableError extends FessError {
  constructor(message: string, options?: FessErrorOptions) {
    super(503, "service_unavailable", message, { retriable: true, ...options });
  }
}

/** 503: the server is at its limit of requests in flight; retry after `Retry-After`. */
export class OverloadedError extends FessError {
  constructor(limit: number) {
    super(
      503,
      "overloaded",
      `the server is handling its limit of ${limit} requests; retry shortly`,
      {
        retriable: true,
        retryAfterSeconds: 1,
        detail: { max_inflight: limit },
      },
    );
  }
}

/** 500: a bug or an unexpected failure; its message is not shown to clients. */
export class InternalError extends FessError {
  constructor(message = "internal error", options?: FessErrorOptions) {
    super(500, "internal_error", message, options);
  }
}

/** Converts any thrown value into a {@link FessError}, hiding unexpected internals. */
export function toFessError(err: unknown): FessError {
  if (err instanceof FessError) return err;
  return new InternalError("internal error", { cause: err });
}

/**
 * The text of any thrown value, for logs and reasons in responses: an Error's message, else its
 * string form; cut to `maxLength` characters (with an ellipsis) when given.
 */
export function errorMessage(err: unknown, maxLength?: number): string {
  const text = err instanceof Error ? err.message : String(err);
  return maxLength !== undefined && text.length > maxLength ? text.slice(0, maxLength) + "…" : text;
}

/** The JSON body of every error response. */
export interface ErrorBody {
  /** What went wrong, for people. */
  readonly error: string;
  /** Stable machine-readable code. */
  readonly code: string;
  /** Structured detail, or null. */
  readonly detail: unknown;
}

/** The body for `err`: internal failures never show their message. */
export function errorBody(err: FessError): ErrorBody {
  return {
    error: err.status >= 500 && err.code === "internal_error" ? "internal error" : err.message,
    code: err.code,
    detail: err.detail ?? null,
  };
}

/** The one rendering of an error as an HTTP response, with its protocol headers. */
export function errorResponse(err: FessError): Response {
  const headers = new Headers({ "content-type": "application/json; charset=utf-8" });
  if (err instanceof MethodNotAllowedError) headers.set("allow", err.allow.join(", "));
  if (err.status === 401) headers.set("www-authenticate", 'Bearer realm="fess"');
  if (err.retryAfterSeconds !== undefined) {
    headers.set("retry-after", String(Math.max(0, Math.ceil(err.retryAfterSeconds))));
  }
  // A request cut mid-body leaves unread bytes on the connection: do not reuse it.
  if (err.status === 408 || err.status === 413) headers.set("connection", "close");
  return new Response(JSON.stringify(errorBody(err)), { status: err.status, headers });
}
