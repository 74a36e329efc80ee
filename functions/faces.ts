/**
 * `/faces`: the face gallery over HTTP (scope `faces`).
 *
 * - `GET /faces?offset&limit&include_encoding` — page of faces sorted by id.
 * - `PUT /faces/{face_id}[?overwrite=true]` — enrol from JSON `{encoding, metadata}` or from a
 *   JPEG/PNG holding exactly one face (metadata in `name`/`authorized`/`notes` query params or
 *   `X-Face-Name`/`X-Face-Authorized`/`X-Face-Notes` headers, ASCII only: header bytes are
 *   Latin-1, so UTF-8 names go in the query).
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
import { EnrolMetadataSchema, FaceMetadataSchema } from "../shared/faces/face_schemas.ts";
import { formatIssues, mediaType, readBodyBytes, readJson } from "../shared/http.ts";
import type { ImageFormat } from "../shared/image/decode.ts";
import type { Logger } from "../shared/logger.ts";
import { decimalQuery, integerQuery } from "./query_params.ts";
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
const DEFAULT_PAGE = 100;

// Bounds on what JSON parsing may hold before the exact length is checked.
const MAX_ENCODING_ITEMS = 65536;
const MAX_ENCODING_CHARS = 1 << 20;

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length} items`;
  if (typeof v === "string") return `a string of ${v.length} characters`;
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** An encoding in JSON: `dim` numbers, or base64 of their little-endian float32 bytes. */
function encodingField(dim: number) {
  const expected = `${dim} numbers or base64 of ${dim * 4} bytes (${dim} little-endian float32)`;
  // Items stay unknown here so validateEncoding can name a bad index; the document states the
  // exact contract that check enforces.
  return z.union([
    z.array(z.unknown()).max(MAX_ENCODING_ITEMS).meta({
      description: `${dim} numbers`,
      items: { type: "number" },
      minItems: dim,
      maxItems: dim,
    }),
    z.string().max(MAX_ENCODING_CHARS).meta({
      description: `base64 of ${dim * 4} bytes: ${dim} little-endian float32`,
      contentEncoding: "base64",
    }),
  ], { error: (issue) => `expected ${expected}, got ${describeValue(issue.input)}` });
}

/** The JSON bodies of enrolment and matching for encodings of `dim` values. */
function bodySchemas(dim: number) {
  const encoding = encodingField(dim);
  return {
    enrol: z.object({ encoding, metadata: EnrolMetadataSchema.optional() }).strict(),
    match: z.object({ encoding, threshold: z.number().min(-1).max(1).optional() }).strict(),
  };
}
type BodySchemas = ReturnType<typeof bodySchemas>;

function encodingValues(field: string | unknown[], dim: number): ArrayLike<number> {
  if (typeof field !== "string") return field as number[];
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(field), (c) => c.charCodeAt(0));
  } catch {
    throw new ValidationError("encoding string is not valid base64");
  }
  const expected = dim * 4;
  if (bytes.byteLength !== expected) {
    throw new ValidationError(
      `encoding: expected base64 of ${expected} bytes (${dim} little-endian float32), ` +
        `got ${bytes.byteLength} bytes`,
      { detail: { expected_bytes: expected, got_bytes: bytes.byteLength } },
    );
  }
  return decodeFloat32LE(bytes, dim);
}

function flag(raw: string | null, name: string): boolean | undefined {
  if (raw === null || raw === "") return undefined;
  const v = raw.trim().toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no") return false;
  throw new BadRequestError(`${name} must be true or false`);
}

/**
 * A metadata header of image enrolment. Header values arrive as Latin-1, so UTF-8 text would be
 * stored garbled: anything beyond ASCII is refused, pointing at the query parameter.
 */
function asciiHeader(headers: Headers, header: string, query: string): string | undefined {
  const value = headers.get(header);
  if (value === null) return undefined;
  if (/[\u0080-\uffff]/.test(value)) {
    throw new BadRequestError(
      `${header} holds non-ASCII bytes; HTTP headers cannot carry UTF-8 text, so send it in the ` +
        `${query} query parameter (percent-encoded UTF-8) instead`,
      { detail: { header, use: query } },
    );
  }
  return value;
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

function routes(bodies: BodySchemas) {
  const list = createRoute({
    method: "get",
    path: "/faces",
    summary: "List the gallery (sorted by id, paginated)",
    tags: ["faces"],
    ...scoped("faces"),
    request: {
      query: z.object({
        offset: integerQuery({ min: 0, default: 0, description: "Faces to skip" }),
        limit: integerQuery({
          min: 1,
          max: MAX_PAGE,
          default: DEFAULT_PAGE,
          description: "Page size",
        }),
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
              next_offset: z.number().int().nullable().openapi({
                description: "offset of the next page (always past this one); null on the last",
              }),
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
        threshold: decimalQuery({
          min: -1,
          max: 1,
          description: "Cosine similarity; a JSON body's threshold takes precedence",
        }),
      }),
      body: {
        required: true,
        content: {
          "application/json": jsonBody(bodies.match),
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
        name: z.string().optional().openapi({
          description: "Image enrolment: name (or X-Face-Name, ASCII only); " +
            "1-200 characters, no control characters",
        }),
        authorized: flagParam("Image enrolment: authorised person (or X-Face-Authorized)"),
        notes: z.string().optional().openapi({
          description: "Image enrolment: notes (or X-Face-Notes, ASCII only); up to 2000 " +
            "characters, tab and line breaks the only control characters",
        }),
      }),
      body: {
        required: true,
        content: {
          "application/json": jsonBody(bodies.enrol),
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
  const bodies = bodySchemas(gallery.dim);

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

  async function list(query: { offset?: number; limit?: number }, url: URL) {
    const offset = query.offset ?? 0;
    const pageSize = query.limit ?? DEFAULT_PAGE;
    const withEncoding = flag(url.searchParams.get("include_encoding"), "include_encoding") ??
      false;
    const { items, total } = gallery.list({ offset, limit: pageSize });
    const encodings = withEncoding
      ? await Promise.all(items.map((r) => gallery.getEncoding(r.faceId)))
      : [];
    // Strictly past this page, so a client paging until null always ends.
    const end = offset + items.length;
    const next = items.length > 0 && end < total ? end : null;
    return {
      items: items.map((r, i) => recordJson(r, encodings[i])),
      total,
      offset,
      limit: pageSize,
      next_offset: next,
    };
  }

  /** Image enrolment's metadata from the query or `X-Face-*` headers, validated (422). */
  const imageMetadata = (req: Request, url: URL) => {
    const q = url.searchParams, h = req.headers;
    const metadata = {
      name: q.get("name") ?? asciiHeader(h, "X-Face-Name", "name"),
      notes: q.get("notes") ?? asciiHeader(h, "X-Face-Notes", "notes"),
      authorized: flag(q.get("authorized") ?? h.get("x-face-authorized"), "authorized"),
    };
    const parsed = EnrolMetadataSchema.safeParse(metadata);
    if (!parsed.success) {
      throw new ValidationError("metadata failed validation", {
        detail: { issues: formatIssues(parsed.error.issues) },
      });
    }
    return parsed.data;
  };

  async function enrol(req: Request, url: URL, faceId: string) {
    const overwrite = flag(url.searchParams.get("overwrite"), "overwrite") ?? false;
    const kind = bodyKind(req);
    let encoding: ArrayLike<number>;
    let metadata: unknown;
    let detected: EncodedFace | undefined;
    if (kind === "json") {
      const body = await readJson(req, bodies.enrol, limit);
      encoding = encodingValues(body.encoding, gallery.dim);
      metadata = body.metadata ?? {};
    } else {
      // Refuse a duplicate before spending model time on the image.
      if (!overwrite && gallery.has(faceId)) {
        throw new ConflictError(`face ${faceId} already exists; use overwrite=true to replace it`);
      }
      const encoder = requireEncoder();
      metadata = imageMetadata(req, url);
      const bytes = await readBodyBytes(req, limit);
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

  async function match(req: Request, query: { threshold?: number }) {
    const kind = bodyKind(req);
    if (kind === "json") {
      const body = await readJson(req, bodies.match, limit);
      const threshold = body.threshold ?? query.threshold;
      return matchJson(gallery.match(encodingValues(body.encoding, gallery.dim), { threshold }));
    }
    const { threshold } = query;
    const encoder = requireEncoder();
    const faces = await encoder.encodeImage(await readBodyBytes(req, limit), { expect: kind });
    const results = faces.map((f) => ({
      ...faceJson(f),
      ...matchJson(gallery.match(f.encoding, { threshold })),
    }));
    return { faces: results, count: results.length, threshold: threshold ?? gallery.threshold };
  }

  const r = routes(bodies);
  const url = (req: Request) => new URL(req.url);
  return createRoutes()
    .openapi(r.list, async (c) => c.json(await list(c.req.valid("query"), url(c.req.raw)), 200))
    .openapi(r.match, async (c) => c.json(await match(c.req.raw, c.req.valid("query")), 200))
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
