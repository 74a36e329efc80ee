/**
 * `/faces`: the face gallery over HTTP (scope `faces`).
 *
 * - `GET /faces?offset&limit&include_encoding` — page of faces sorted by id.
 * - `PUT /faces/{face_id}[?overwrite=true]` — enrol from JSON `{encoding, metadata}` or from a
 *   JPEG/PNG holding exactly one face (metadata in `name`/`authorized`/`notes` query params or
 *   `X-Face-Name`/`X-Face-Authorized`/`X-Face-Notes` headers).
 * - `GET /faces/{face_id}[?include_encoding=true]`, `DELETE /faces/{face_id}`.
 * - `POST /faces/match` — JSON `{encoding, threshold?}` (one result) or an image (every face).
 *
 * Encodings are returned only when asked for and never logged. `match` is not a face id
 * (`/faces/match` takes POST only). Bodies accept JSON or an image, so the JSON shape is
 * validated in the handler with the same zod schemas the routes document (as JSON Schema).
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { decodeFloat32LE } from "../shared/cache/codec.ts";
import {
  BadRequestError,
  ConflictError,
  MethodNotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../shared/errors.ts";
import type { FaceGallery, FaceMatch, FaceRecord } from "../shared/faces/gallery.ts";
import { parseFaceId } from "../shared/faces/gallery.ts";
import type { EncodedFace, FaceImageEncoder } from "../shared/faces/face_types.ts";
import { FaceMetadataSchema } from "../shared/faces/face_schemas.ts";
import { mediaType, readBodyBytes, readJson } from "../shared/http.ts";
import type { ImageFormat } from "../shared/image/decode.ts";
import type { Logger } from "../shared/logger.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createFacesHandler}. */
export interface FacesHandlerDeps {
  /** The gallery. */
  readonly gallery: FaceGallery;
  /** Face models for image enrolment/matching; without it images get 503. */
  readonly faceEncoder?: FaceImageEncoder;
  /** Logger (ids and counts only). */
  readonly logger: Logger;
  /** Largest body accepted. Default 10 MiB. */
  readonly bodyLimitBytes?: number;
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
  try {
    return parseFaceId(raw);
  } catch (err) {
    throw new BadRequestError((err as Error).message);
  }
}

function recordJson(r: FaceRecord, encoding?: Float32Array | null) {
  return {
    face_id: r.faceId,
    metadata: r.metadata,
    cached_at: r.cachedAt,
    ...(encoding ? { encoding: Array.from(encoding) } : {}),
  };
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

const FaceSchema = z.object({
  face_id: z.string(),
  metadata: FaceMetadataSchema,
  cached_at: z.string(),
  encoding: z.array(z.number()).optional().openapi({ description: "Only with include_encoding" }),
}).openapi("Face");

const MatchSchema = z.object({
  matched: z.boolean(),
  face_id: z.string().nullable(),
  name: z.string().nullable(),
  authorized: z.boolean(),
  similarity: z.number().nullable(),
  threshold: z.number(),
  metadata: FaceMetadataSchema.nullable(),
}).openapi("FaceMatch");

const DetectedFaceSchema = z.object({
  bbox: z.object({ x1: z.number(), y1: z.number(), x2: z.number(), y2: z.number() }),
  landmarks: z.array(z.object({ x: z.number(), y: z.number() })).readonly(),
  detection_score: z.number(),
});

const FaceIdParams = z.object({
  face_id: z.string().openapi({
    param: { name: "face_id", in: "path" },
    description: "1-128 characters: letters, digits, . _ - (not `match`)",
    example: "alice",
  }),
});

const flagParam = (description: string) =>
  z.string().optional().openapi({ description: `${description} (true/false)` });

const IMAGE_BODY = { schema: { type: "string" as const, contentMediaType: "image/jpeg" } };
const PNG_BODY = { schema: { type: "string" as const, contentMediaType: "image/png" } };

// JSON Schema of zod schemas whose route also takes images (validated in the handler).
const jsonBody = (schema: z.ZodType) => ({
  schema: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >,
});

/** `/faces/match` takes POST only: other methods on it are 405, not a face called "match". */
const notMatch: MiddlewareHandler<FessEnv> = async (c, next) => {
  if (c.req.param("face_id") === "match") throw new MethodNotAllowedError(c.req.method, ["POST"]);
  await next();
};

function routes() {
  const list = createRoute({
    method: "get",
    path: "/faces",
    summary: "List the gallery (sorted by id, paginated)",
    tags: ["faces"],
    ...scoped("faces"),
    request: {
      query: z.object({
        offset: z.string().optional().openapi({ description: "Default 0" }),
        limit: z.string().optional().openapi({ description: `1..${MAX_PAGE}, default 100` }),
        include_encoding: flagParam("Include each face's 128-D encoding"),
      }),
    },
    responses: {
      ...errorResponses([400], { scoped: true }),
      200: {
        description: "A page of faces",
        content: {
          "application/json": {
            schema: z.object({
              items: z.array(FaceSchema),
              total: z.number().int(),
              offset: z.number().int(),
              limit: z.number().int(),
              next_offset: z.number().int().nullable(),
            }),
          },
        },
      },
    },
  });
  const match = createRoute({
    method: "post",
    path: "/faces/match",
    summary: "Best gallery match for an encoding (JSON), or for every face in an image",
    tags: ["faces"],
    ...scoped("faces"),
    request: {
      query: z.object({
        threshold: z.string().optional().openapi({ description: "Cosine similarity, -1..1" }),
      }),
      body: {
        required: true,
        content: {
          "application/json": jsonBody(MatchBodySchema),
          "image/jpeg": IMAGE_BODY,
          "image/png": PNG_BODY,
        },
      },
    },
    responses: {
      ...errorResponses([400, 415, 422], { scoped: true, body: true }),
      200: {
        description: "JSON body: one match. Image body: {faces: [...], count, threshold}",
        content: {
          "application/json": {
            schema: z.union([
              MatchSchema,
              z.object({
                faces: z.array(DetectedFaceSchema.extend(MatchSchema.shape)),
                count: z.number().int(),
                threshold: z.number(),
              }),
            ]),
          },
        },
      },
    },
  });
  const get = createRoute({
    method: "get",
    path: "/faces/{face_id}",
    summary: "Read one face",
    tags: ["faces"],
    ...scoped("faces", notMatch),
    request: {
      params: FaceIdParams,
      query: z.object({ include_encoding: flagParam("Include the 128-D encoding") }),
    },
    responses: {
      ...errorResponses([400, 404], { scoped: true }),
      200: { description: "The face", content: { "application/json": { schema: FaceSchema } } },
    },
  });
  const put = createRoute({
    method: "put",
    path: "/faces/{face_id}",
    summary: "Enrol a face from a JSON encoding or an image holding exactly one face",
    tags: ["faces"],
    ...scoped("faces", notMatch),
    request: {
      params: FaceIdParams,
      query: z.object({
        overwrite: flagParam("Replace an existing face"),
        name: z.string().optional().openapi({ description: "Image enrolment: name" }),
        authorized: flagParam("Image enrolment: authorised person"),
        notes: z.string().optional().openapi({ description: "Image enrolment: notes" }),
      }),
      body: {
        required: true,
        content: {
          "application/json": jsonBody(EnrolBodySchema),
          "image/jpeg": IMAGE_BODY,
          "image/png": PNG_BODY,
        },
      },
    },
    responses: {
      ...errorResponses([400, 409, 415, 422, 507], { scoped: true, body: true }),
      200: {
        description: "Replaced (overwrite=true)",
        content: { "application/json": { schema: EnrolledSchema } },
      },
      201: {
        description: "Created (Location header)",
        content: { "application/json": { schema: EnrolledSchema } },
      },
    },
  });
  const remove = createRoute({
    method: "delete",
    path: "/faces/{face_id}",
    summary: "Delete a face",
    tags: ["faces"],
    ...scoped("faces", notMatch),
    request: { params: FaceIdParams },
    responses: {
      ...errorResponses([400, 404], { scoped: true }),
      204: { description: "Deleted" },
    },
  });
  return { list, match, get, put, remove };
}

const EnrolledSchema = FaceSchema.extend({
  created: z.boolean(),
  source: z.enum(["encoding", "image"]),
  face: DetectedFaceSchema.optional(),
});

/** Creates the `/faces` routes. */
export function createFacesHandler(deps: FacesHandlerDeps): OpenAPIHono<FessEnv> {
  const limit = deps.bodyLimitBytes ?? 10 * 1024 * 1024;
  const log = deps.logger.child({ component: "faces_api" });
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

  async function list(url: URL) {
    const offset = intParam(url, "offset", 0, Number.MAX_SAFE_INTEGER);
    const pageSize = intParam(url, "limit", 100, MAX_PAGE);
    const withEncoding = flag(url.searchParams.get("include_encoding"), "include_encoding") ??
      false;
    const { items, total } = gallery.list({ offset, limit: pageSize });
    const encodings = withEncoding
      ? await Promise.all(items.map((r) => gallery.getEncoding(r.faceId)))
      : [];
    const next = offset + items.length < total ? offset + items.length : null;
    return {
      items: items.map((r, i) => recordJson(r, encodings[i])),
      total,
      offset,
      limit: pageSize,
      next_offset: next,
    };
  }

  async function enrol(req: Request, url: URL, faceId: string) {
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
    const source = kind === "json" ? "encoding" as const : "image" as const;
    log.info("face stored via api", { face_id: faceId, created, source });
    return {
      created,
      body: {
        ...recordJson(record),
        created,
        source,
        ...(detected ? { face: faceJson(detected) } : {}),
      },
    };
  }

  async function match(req: Request, url: URL) {
    const kind = bodyKind(req);
    if (kind === "json") {
      const body = await readJson(req, MatchBodySchema, limit);
      const threshold = body.threshold ?? thresholdParam(url);
      return matchJson(gallery.match(encodingValues(body.encoding), { threshold }));
    }
    const threshold = thresholdParam(url);
    const encoder = requireEncoder();
    const faces = await encoder.encodeImage(await readBodyBytes(req, limit), { expect: kind });
    const results = faces.map((f) => ({
      ...faceJson(f),
      ...matchJson(gallery.match(f.encoding, { threshold })),
    }));
    return { faces: results, count: results.length, threshold: threshold ?? gallery.threshold };
  }

  const r = routes();
  const url = (req: Request) => new URL(req.url);
  return createRoutes()
    .openapi(r.list, async (c) => c.json(await list(url(c.req.raw)), 200))
    .openapi(r.match, async (c) => c.json(await match(c.req.raw, url(c.req.raw)), 200))
    .openapi(r.get, async (c) => {
      const faceId = pathFaceId(c.req.valid("param").face_id);
      const record = gallery.get(faceId);
      if (!record) throw new NotFoundError(`face ${faceId} not found`);
      const withEncoding = flag(c.req.query("include_encoding") ?? null, "include_encoding") ??
        false;
      const encoding = withEncoding ? await gallery.getEncoding(faceId) : null;
      if (withEncoding && !encoding) throw new NotFoundError(`face ${faceId} not found`);
      return c.json(recordJson(record, encoding), 200);
    })
    .openapi(r.put, async (c) => {
      const faceId = pathFaceId(c.req.valid("param").face_id);
      const { created, body } = await enrol(c.req.raw, url(c.req.raw), faceId);
      return created
        ? c.json(body, 201, { location: `/faces/${encodeURIComponent(faceId)}` })
        : c.json(body, 200);
    })
    .openapi(r.remove, async (c) => {
      const faceId = pathFaceId(c.req.valid("param").face_id);
      if (!(await gallery.delete(faceId))) throw new NotFoundError(`face ${faceId} not found`);
      return c.body(null, 204);
    });
}
