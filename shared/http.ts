/**
 * Small HTTP helpers shared by the handlers: JSON responses, bounded body reads and
 * schema-validated JSON bodies. Errors are thrown as {@link FessError}s and rendered by the
 * app's one error handler (`functions/api.ts`).
 *
 * @module
 */
import type { z } from "zod";
import { BadRequestError, errorMessage, PayloadTooLargeError, ValidationError } from "./errors.ts";

/** A JSON response with the right content type. */
export function jsonResponse(body: unknown, status = 200, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers: h });
}

/** The media type of a request, lower-cased, without parameters (`null` when absent). */
export function mediaType(req: Request): string | null {
  const raw = req.headers.get("content-type");
  if (!raw) return null;
  return raw.split(";")[0]!.trim().toLowerCase() || null;
}

/**
 * Reads the whole body, refusing more than `limitBytes` (a route's own limit, below the
 * server's) with a 413, counted while streaming. The declared `Content-Length` and the read
 * deadline are checked once, by the body guard middleware, before any handler runs.
 */
export async function readBodyBytes(req: Request, limitBytes: number): Promise<Uint8Array> {
  if (req.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limitBytes) throw new PayloadTooLargeError(limitBytes);
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** One validation problem: dotted path (`(root)` for the whole value) and message. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** Longest path or message of a {@link ValidationIssue}: unknown keys are the caller's text. */
const ISSUE_CHARS = 300;

/** Formats zod issues as `{path, message}` pairs with dotted paths, each cut to 300 chars. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  const cut = (s: string) => s.length > ISSUE_CHARS ? `${s.slice(0, ISSUE_CHARS)}…` : s;
  return issues.map((i) => ({
    path: cut(i.path.map(String).join(".") || "(root)"),
    message: cut(i.message),
  }));
}

/** Reads a JSON body (bounded) and validates it, throwing 400 on bad JSON, 422 on bad shape. */
export async function readJson<S extends z.ZodType>(
  req: Request,
  schema: S,
  limitBytes: number,
): Promise<z.infer<S>> {
  const bytes = await readBodyBytes(req, limitBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BadRequestError(`body is not valid JSON: ${errorMessage(err)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError("body failed validation", {
      detail: { issues: formatIssues(parsed.error.issues) },
    });
  }
  return parsed.data;
}
