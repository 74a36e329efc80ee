/**
 * `/faces`: the face gallery over HTTP (API key required; the router enforces it).
 *
 * - `GET /faces?offset&limit&include_encoding` — page of faces sorted by id.
 * - `PUT /faces/{face_id}[?overwrite=true]` — enrol from JSON `{encoding, metadata}` or from a
 *   JPEG/PNG holding exactly one face (metadata in `name`/`authorized`/`notes` query params or
 *   `X-Face-Name`/`X-Face-Authorized`/`X-Face-Notes` headers).
 * - `GET /faces/{face_id}[?include_encoding=true]`, `DELETE /faces/{face_id}`.
 * - `POST /faces/match` — JSON `{encoding, threshold?}` (one result) or an image (every face).
 *
 * Encodings are returned only when asked for and never logged.
 *
 * @module
 */
import { z } from "zod";
import { decodeFloat32LE } from "../shared/cache/codec.ts";
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../shared/errors.ts";
import type { FaceGallery, FaceMatch, FaceRecord } from "../shared/faces/gallery.ts";
import { parseFaceId } from "../shared/faces/gallery.ts";
import type { EncodedFace, FaceImageEncoder } from "../shared/faces/face_types.ts";
import { FaceMetadataSchema } from "../shared/faces/face_schemas.ts";
import { jsonResponse, mediaType, readBodyBytes, readJson } from "../shared/http.ts";
import type { ImageFormat } from "../shared/image/decode.ts";
import type { Logger } from "../shared/logger.ts";
import { type Handler, requireMethod } from "./router.ts";

/** Dependencies of {@link createCacheHandler}. */
export interface CacheHandlerDeps {
  /** The gallery. */
  readonly gallery: FaceGallery;
  /** Face models for image enrolment/matching; without it images get 503. */
  readonly faceEncoder?: FaceImageEncoder;
  /** Logger (ids and counts only). */
  readonly logger: Logger;
  /** Largest body accepted. Default 10 MiB. */
  readonly bodyLimitBytes?: number;
  /** Mount prefix. Default `/faces`. */
  readonly prefix?: string;
}

const IMAGE_TYPES: Record<string, ImageFormat> = { "image/jpeg": "jpeg", "image/png": "png" };
const ACCEPTED = ["application/json", "image/jpeg", "image/png"] as const;
const MAX_PAGE = 1000;

/** An encoding in JSON: numbers, or base64 of little-endian float32 bytes. */
const EncodingFieldSchema = z.union([z.array(z.unknown()).max(65536), z.string().max(1 << 20)]);

const EnrolBodySchema = z.object({
  encoding: EncodingFieldSchema,
  metadata: FaceMetadataSchema.optional(),
}).strict();

const MatchBodySchema = z.object({
  encoding: EncodingFieldSchema,
  threshold: z.number().min(-1).max(1).optional(),
}).strict();

function encodingValues(field: z.infer<typeof EncodingFieldSchema>): ArrayLike<number> {
  if (typeof field !== "string") return field as number[];
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(field), (c) => c.charCodeAt(0));
  } catch {
    throw new ValidationError("encoding string is not valid base64");
  }
  try {
    return decodeFloat32LE(bytes);
  } catch (err) {
    throw new ValidationError(`encoding: ${(err as Error).message}`);
  }
}

function flag(raw: string | null, name: string): boolean | undefined {
  if (raw === null || raw === "") return undefined;
  const v = raw.trim().toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no") return false;
  throw new BadRequestError(`${name} must be true or false`);
}

function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new BadRequestError(`${name} must be an integer in 0..${max}`);
  }
  return n;
}

function pathFaceId(raw: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError("face id is not valid percent-encoding");
  }
  try {
    return parseFaceId(decoded);
  } catch (err) {
    throw new BadRequestError((err as Error).message);
  }
}

function recordJson(r: FaceRecord, encoding?: Float32Array | null) {
  const out: Record<string, unknown> = {
    face_id: r.faceId,
    metadata: r.metadata,
    cached_at: r.cachedAt,
  };
  if (encoding) out.encoding = Array.from(encoding);
  return out;
}

function matchJson(m: FaceMatch) {
  return {
    matched: m.matched,
    face_id: m.faceId,
    name: m.metadata?.name ?? null,
    authorized: m.metadata?.authorized ?? false,
    similarity: m.similarity,
    threshold: m.threshold,
    metadata: m.metadata,
  };
}

function faceJson(f: EncodedFace) {
  return { bbox: f.bbox, landmarks: f.landmarks, detection_score: f.score };
}

/** Creates the `/faces` handler. */
export function createCacheHandler(deps: CacheHandlerDeps): Handler {
  const prefix = deps.prefix ?? "/faces";
  const limit = deps.bodyLimitBytes ?? 10 * 1024 * 1024;
  const log = deps.logger.child({ component: "faces_api" });
  const listPattern = new URLPattern({ pathname: `${prefix}{/}?` });
  const matchPattern = new URLPattern({ pathname: `${prefix}/match` });
  const facePattern = new URLPattern({ pathname: `${prefix}/:id` });
  const { gallery } = deps;

  const requireEncoder = (): FaceImageEncoder => {
    if (!deps.faceEncoder) {
      throw new ServiceUnavailableError("face models are not loaded; send a JSON encoding instead");
    }
    return deps.faceEncoder;
  };

  const bodyKind = (req: Request): "json" | ImageFormat => {
    const type = mediaType(req);
    if (type === "application/json") return "json";
    const image = type ? IMAGE_TYPES[type] : undefined;
    if (image) return image;
    throw new UnsupportedMediaTypeError(type, ACCEPTED);
  };

  const thresholdParam = (url: URL): number | undefined => {
    const raw = url.searchParams.get("threshold");
    if (raw === null || raw === "") return undefined;
    const t = Number(raw);
    if (!Number.isFinite(t) || t < -1 || t > 1) {
      throw new BadRequestError("threshold must be a number in [-1, 1]");
    }
    return t;
  };

  async function list(url: URL): Promise<Response> {
    const offset = intParam(url, "offset", 0, Number.MAX_SAFE_INTEGER);
    const pageSize = intParam(url, "limit", 100, MAX_PAGE);
    const withEncoding = flag(url.searchParams.get("include_encoding"), "include_encoding") ??
      false;
    const { items, total } = gallery.list({ offset, limit: pageSize });
    const encodings = withEncoding
      ? await Promise.all(items.map((r) => gallery.getEncoding(r.faceId)))
      : [];
    const next = offset + items.length < total ? offset + items.length : null;
    return jsonResponse({
      items: items.map((r, i) => recordJson(r, encodings[i])),
      total,
      offset,
      limit: pageSize,
      next_offset: next,
    });
  }

  async function enrol(req: Request, url: URL, faceId: string): Promise<Response> {
    const overwrite = flag(url.searchParams.get("overwrite"), "overwrite") ?? false;
    const kind = bodyKind(req);
    let encoding: ArrayLike<number>;
    let metadata: unknown;
    let detected: EncodedFace | undefined;
    if (kind === "json") {
      const body = await readJson(req, EnrolBodySchema, limit);
      encoding = encodingValues(body.encoding);
      metadata = body.metadata ?? {};
    } else {
      // Refuse a duplicate before spending model time on the image.
      if (!overwrite && gallery.has(faceId)) {
        throw new ConflictError(`face ${faceId} already exists; use overwrite=true to replace it`);
      }
      const encoder = requireEncoder();
      const bytes = await readBodyBytes(req, limit);
      const q = url.searchParams, h = req.headers;
      const name = q.get("name") ?? h.get("x-face-name") ?? undefined;
      const notes = q.get("notes") ?? h.get("x-face-notes") ?? undefined;
      const authorized = flag(q.get("authorized") ?? h.get("x-face-authorized"), "authorized");
      metadata = { name, notes, authorized };
      const faces = await encoder.encodeImage(bytes, { expect: kind });
      if (faces.length !== 1) {
        throw new ValidationError(
          `enrolment needs exactly one face in the image, found ${faces.length}`,
          { detail: { faces_found: faces.length, faces: faces.map(faceJson) } },
        );
      }
      detected = faces[0]!;
      encoding = detected.encoding;
    }
    const { record, created } = await gallery.enrol({
      faceId,
      encoding,
      metadata: metadata as never,
      overwrite,
    });
    log.info("face stored via api", {
      face_id: faceId,
      created,
      source: kind === "json" ? "encoding" : "image",
    });
    return jsonResponse(
      {
        ...recordJson(record),
        created,
        source: kind === "json" ? "encoding" : "image",
        ...(detected ? { face: faceJson(detected) } : {}),
      },
      created ? 201 : 200,
      created ? { location: `${prefix}/${encodeURIComponent(faceId)}` } : undefined,
    );
  }

  async function match(req: Request, url: URL): Promise<Response> {
    const kind = bodyKind(req);
    if (kind === "json") {
      const body = await readJson(req, MatchBodySchema, limit);
      const threshold = body.threshold ?? thresholdParam(url);
      return jsonResponse(matchJson(gallery.match(encodingValues(body.encoding), { threshold })));
    }
    const threshold = thresholdParam(url);
    const encoder = requireEncoder();
    const faces = await encoder.encodeImage(await readBodyBytes(req, limit), { expect: kind });
    const results = faces.map((f) => ({
      ...faceJson(f),
      ...matchJson(gallery.match(f.encoding, { threshold })),
    }));
    return jsonResponse({
      faces: results,
      count: results.length,
      threshold: threshold ?? gallery.threshold,
    });
  }

  return async (req) => {
    const url = new URL(req.url);
    if (listPattern.test(url)) {
      requireMethod(req, ["GET"]);
      return await list(url);
    }
    if (matchPattern.test(url)) {
      requireMethod(req, ["POST"]);
      return await match(req, url);
    }
    const m = facePattern.exec(url);
    if (!m) throw new NotFoundError(`no route for ${url.pathname}`);
    requireMethod(req, ["GET", "PUT", "DELETE"]);
    const faceId = pathFaceId(m.pathname.groups.id ?? "");
    if (req.method === "PUT") return await enrol(req, url, faceId);
    if (req.method === "DELETE") {
      if (!(await gallery.delete(faceId))) throw new NotFoundError(`face ${faceId} not found`);
      return new Response(null, { status: 204 });
    }
    const record = gallery.get(faceId);
    if (!record) throw new NotFoundError(`face ${faceId} not found`);
    const withEncoding = flag(url.searchParams.get("include_encoding"), "include_encoding") ??
      false;
    const encoding = withEncoding ? await gallery.getEncoding(faceId) : null;
    if (withEncoding && !encoding) throw new NotFoundError(`face ${faceId} not found`);
    return jsonResponse(recordJson(record, encoding));
  };
}
