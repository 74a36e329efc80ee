/**
 * API-key authentication and scopes in one place. Requests carry `Authorization: Bearer <key>`
 * or `X-API-Key: <key>`. Keys are compared in constant time over their SHA-256 digests, so
 * neither content nor length leaks through timing.
 *
 * Invariants: a key has at least one scope; `admin` implies every scope; with no keys
 * configured (development only, production refuses to start) every request acts as admin.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKeyScope } from "./config.ts";
import { ForbiddenError, UnauthorizedError } from "./errors.ts";

/** A configured key: the secret, what it may do, and a name for logs. */
export interface ApiKeyEntry {
  readonly key: string;
  readonly scopes: readonly ApiKeyScope[];
  readonly name?: string;
}

/** Who made a request: the key's name and scopes (never the key). */
export interface Principal {
  readonly name: string;
  readonly scopes: readonly ApiKeyScope[];
}

/** Checks requests against the configured keys. */
export interface Authenticator {
  /** Whether any key is configured (without keys every request passes as admin). */
  readonly enabled: boolean;
  /**
   * The principal a request presents: `null` when it presents no key (and keys are
   * configured); throws {@link UnauthorizedError} for a key that is not configured.
   */
  identify(req: Request): Principal | null;
  /** Throws 401 unless the request carries a configured key (any scope). */
  check(req: Request): Principal;
}

/** The principal of every request when no keys are configured. */
export const OPEN_PRINCIPAL: Principal = { name: "open", scopes: ["admin"] };

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

/** Throws 403 unless `principal` holds `scope` (or `admin`). */
export function requireScope(principal: Principal, scope: ApiKeyScope): void {
  if (principal.scopes.includes("admin") || principal.scopes.includes(scope)) return;
  throw new ForbiddenError(`API key ${principal.name} lacks the ${scope} scope`, {
    detail: { required_scope: scope, key_scopes: principal.scopes },
  });
}

/**
 * Creates an authenticator over `keys` (empty: authentication disabled). A bare string is an
 * admin key.
 */
export function createAuthenticator(keys: readonly (string | ApiKeyEntry)[]): Authenticator {
  const entries = keys.map((k, i) => {
    const entry: ApiKeyEntry = typeof k === "string" ? { key: k, scopes: ["admin"] } : k;
    return {
      digest: digest(entry.key),
      principal: { name: entry.name ?? `key-${i + 1}`, scopes: entry.scopes } as Principal,
    };
  });
  const identify = (req: Request): Principal | null => {
    if (entries.length === 0) return OPEN_PRINCIPAL;
    const key = presentedKey(req);
    if (key === null) return null;
    const d = digest(key);
    // Compare against every key, no early exit, so timing does not reveal which matched.
    let found: Principal | null = null;
    for (const e of entries) if (timingSafeEqual(e.digest, d)) found ??= e.principal;
    if (!found) throw new UnauthorizedError("the API key is not valid");
    return found;
  };
  return {
    enabled: entries.length > 0,
    identify,
    check(req) {
      const principal = identify(req);
      if (principal === null) {
        throw new UnauthorizedError("an API key is required (Authorization: Bearer or X-API-Key)");
      }
      return principal;
    },
  };
}
