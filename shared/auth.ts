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
   * configured); throws {@link UnauthorizedError} for a key that is not configured, a
   * malformed bearer credential, or conflicting keys.
   */
  identify(req: Request): Principal | null;
  /** Throws 401 unless the request carries a configured key (any scope). */
  check(req: Request): Principal;
  /**
   * The 401 for a request that presents no key, saying why (e.g. an Authorization scheme
   * other than Bearer) when it can.
   */
  missingKeyError(req: Request): UnauthorizedError;
}

/** The principal of every request when no keys are configured. */
export const OPEN_PRINCIPAL: Principal = { name: "open", scopes: ["admin"] };

/** What a request presents, read by {@link readCredentials}. */
export type Credentials =
  /** Neither header. */
  | { readonly kind: "none" }
  /** One key, from `Authorization: Bearer` or `X-API-Key` (the same key when both). */
  | { readonly kind: "key"; readonly key: string }
  /** A broken FESS credential: refused with 401 on every route. */
  | { readonly kind: "malformed"; readonly reason: string }
  /**
   * Only an Authorization header of another scheme (e.g. Basic for a proxy in front): not a
   * FESS credential, so open routes still answer; `reason` explains a scoped route's 401.
   */
  | { readonly kind: "foreign"; readonly reason: string };

const REQUIRED = "an API key is required (Authorization: Bearer or X-API-Key)";
const BEARER_FORM = "send `Authorization: Bearer <key>` or `X-API-Key: <key>`";

const digest = (s: string): Uint8Array => createHash("sha256").update(s, "utf8").digest();

/** Reads the credentials of a request from `Authorization` and `X-API-Key`. */
export function readCredentials(req: Request): Credentials {
  const auth = req.headers.get("authorization")?.trim() ?? "";
  const apiKey = req.headers.get("x-api-key");
  if (apiKey !== null && apiKey.trim() === "") {
    return { kind: "malformed", reason: `the X-API-Key header is empty; ${BEARER_FORM}` };
  }
  if (auth === "") return apiKey === null ? { kind: "none" } : { kind: "key", key: apiKey };
  const [, scheme = "", rest = ""] = /^(\S+)\s*(.*)$/s.exec(auth) ?? [];
  if (!/^bearer$/i.test(scheme)) {
    // Headers sent twice reach us joined by a comma.
    if (/(?:^|,)\s*bearer(?:\s|$)/i.test(auth)) {
      return {
        kind: "malformed",
        reason: `the Authorization header holds several credentials (sent twice?); ${BEARER_FORM}`,
      };
    }
    if (apiKey !== null) return { kind: "key", key: apiKey };
    return {
      kind: "foreign",
      reason: `unsupported Authorization scheme ${
        JSON.stringify(scheme.slice(0, 20))
      } (expected Bearer); ${BEARER_FORM}`,
    };
  }
  if (rest === "") {
    return {
      kind: "malformed",
      reason: `the Authorization header has no bearer token; ${BEARER_FORM}`,
    };
  }
  if (/[\s,]/.test(rest)) {
    const reason = /,\s*bearer(?:\s|$)/i.test(rest)
      ? "the Authorization header holds several bearer credentials (sent twice?)"
      : "malformed bearer token: `Bearer <key>` takes one token without spaces or commas";
    return { kind: "malformed", reason: `${reason}; ${BEARER_FORM}` };
  }
  if (apiKey !== null && apiKey !== rest) {
    return {
      kind: "malformed",
      reason:
        "conflicting credentials: Authorization: Bearer and X-API-Key carry different keys; " +
        "send one",
    };
  }
  return { kind: "key", key: rest };
}

/** The presented key (`Authorization: Bearer` or `X-API-Key`), or null when none is usable. */
export function presentedKey(req: Request): string | null {
  const c = readCredentials(req);
  return c.kind === "key" ? c.key : null;
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
    const credentials = readCredentials(req);
    if (credentials.kind === "malformed") throw new UnauthorizedError(credentials.reason);
    if (credentials.kind !== "key") return null;
    const d = digest(credentials.key);
    // Compare against every key, no early exit, so timing does not reveal which matched.
    let found: Principal | null = null;
    for (const e of entries) if (timingSafeEqual(e.digest, d)) found ??= e.principal;
    if (!found) throw new UnauthorizedError("the API key is not valid");
    return found;
  };
  const missingKeyError = (req: Request): UnauthorizedError => {
    const credentials = readCredentials(req);
    return new UnauthorizedError(credentials.kind === "foreign" ? credentials.reason : REQUIRED);
  };
  return {
    enabled: entries.length > 0,
    identify,
    check(req) {
      const principal = identify(req);
      if (principal === null) throw missingKeyError(req);
      return principal;
    },
    missingKeyError,
  };
}
