/**
 * Checks of a request's method and `Host` header, made before anything routes the request or
 * builds a `Request` from it: the server answers a failed check itself, in FESS's error shape.
 *
 * - Methods are case-sensitive tokens; FESS serves the standard ones it routes or may route
 *   (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS). Anything else, including TRACE, TRACK,
 *   CONNECT and lower-case spellings, is 501: the Fetch API forbids some of them outright and
 *   would fold `get` into `GET`, so the app would see a different method than was sent.
 * - `Host` is empty or absent (the server then names itself), or a host name, an IPv4
 *   address or a bracketed IPv6 address, with an optional port. Anything else is 400: the
 *   request URL is built from it, so a `/`, `?`, `#` or `\` in it would change the path the
 *   app routes, away from the path a proxy in front saw.
 *
 * @module
 */
import { BadRequestError, FessError } from "../errors.ts";

/** The methods FESS serves; any other is refused with 501. */
export const SERVED_METHODS: readonly string[] = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
];

/** 501 for `method`, or null when FESS serves it. */
export function checkMethod(method: string): FessError | null {
  if (SERVED_METHODS.includes(method)) return null;
  const upper = method.toUpperCase();
  const reason = SERVED_METHODS.includes(upper)
    ? ` (methods are case-sensitive: use ${upper})`
    : `; FESS serves ${SERVED_METHODS.join(", ")}`;
  return new FessError(501, "not_implemented", `method ${method} is not supported${reason}`, {
    detail: { method, supported: SERVED_METHODS },
  });
}

const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOST = new RegExp(
  `^(?:(?:${LABEL})(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]{2,45}\\])(?::(\\d{0,5}))?$`,
);

/** 400 for a `Host` header value that is not a host with an optional port, else null. */
export function checkHost(host: string | null): FessError | null {
  if (host === null || host === "") return null;
  const match = host.length <= 260 ? HOST.exec(host) : null;
  // The URL parser has the last word (`a.1` is a bad IPv4, `[::::]` a bad IPv6): handlers
  // build `new URL(request.url)` from this header and must not throw.
  if (
    match && (match[1] === undefined || match[1] === "" || Number(match[1]) <= 65535) &&
    URL.canParse(`http://${host}/`)
  ) {
    return null;
  }
  return new BadRequestError(
    "invalid Host header: expected a host name, an IPv4 address or a bracketed IPv6 " +
      "address, with an optional port",
    { detail: { header: "host", value: host.slice(0, 200) } },
  );
}
