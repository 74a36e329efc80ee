/**
 * API-key authentication in one place. Protected routes accept `Authorization: Bearer <key>`
 * or `X-API-Key: <key>`. Keys are compared in constant time over their SHA-256 digests, so
 * neither content nor length leaks through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { UnauthorizedError } from "./errors.ts";

/** Checks requests to protected routes. */
export interface Authenticator {
  /** Whether any key is configured (without keys every request passes). */
  readonly enabled: boolean;
  /** Throws {@link UnauthorizedError} unless the request carries a configured key. */
  check(req: Request): void;
}

const digest = (s: string): Uint8Array => createHash("sha256").update(s, "utf8").digest();

/** Extracts the presented key from `Authorization: Bearer` or `X-API-Key`. */
export function presentedKey(req: Request): string | null {
  const auth = req.headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1]!;
  }
  return req.headers.get("x-api-key");
}

/** Creates an authenticator over `keys` (empty: authentication disabled). */
export function createAuthenticator(keys: readonly string[]): Authenticator {
  const digests = keys.map(digest);
  return {
    enabled: digests.length > 0,
    check(req) {
      if (digests.length === 0) return;
      const key = presentedKey(req);
      if (key === null) {
        throw new UnauthorizedError("an API key is required (Authorization: Bearer or X-API-Key)");
      }
      const d = digest(key);
      // Compare against every key, no early exit, so timing does not reveal which matched.
      let ok = false;
      for (const k of digests) ok = timingSafeEqual(k, d) || ok;
      if (!ok) throw new UnauthorizedError("the API key is not valid");
    },
  };
}
