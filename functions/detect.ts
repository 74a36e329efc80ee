/**
 * `POST /detect/{camera_id}`: one frame in (JPEG, PNG or raw pixels), its {@link FrameOutcome}
 * out. The handler only reads the request (camera id, frame number, timestamp, raw-frame spec
 * from the query or `X-Frame-*` headers, the body), decodes the pixels through the decode
 * admission and hands the frame to `pipeline.process`, which runs every stage; all request
 * checks happen before any decoding.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { parseCameraId } from "../shared/camera_id.ts";
import { BadRequestError, UnsupportedMediaTypeError } from "../shared/errors.ts";
import { mediaType, readBodyBytes } from "../shared/http.ts";
import { createFrameDecoder, type FrameDecoder } from "../shared/image/frame_decoder.ts";
import {
  DEFAULT_MAX_PIXELS,
  MAX_FRAME_SIDE,
  PixelFormatSchema,
} from "../shared/image/raw_frame.ts";
import {
  type FrameOutcome,
  FrameOutcomeSchema,
  type FrameSource,
} from "../shared/pipeline/frame_outcome.ts";
import { parseFrameTimestamp } from "../shared/pipeline/frame_timestamp.ts";
import type { Pipeline } from "../shared/pipeline/pipeline.ts";
import { integerQuery, type QueryParam } from "./query_params.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Content types `POST /detect` accepts. */
export const DETECT_CONTENT_TYPES = [
  "image/jpeg",
  "image/png",
  "application/octet-stream",
] as const;

/** Dependencies of {@link createDetectHandler}. */
export interface DetectHandlerDeps {
  /** The frame's route. */
  readonly pipeline: Pick<Pipeline, "process" | "assertReady">;
  /** Largest accepted body (default 32 MiB). */
  readonly bodyLimitBytes?: number;
  /** Decode admission (default: 8K UHD frames, 4 decodes at once, 8 waiting). */
  readonly frameDecoder?: FrameDecoder;
  /** Largest accepted distance of a frame timestamp from now (`server.timestamp_skew_seconds`). */
  readonly timestampSkewSeconds: number;
  /** Clock for default timestamps and the timestamp window. */
  readonly now?: () => Date;
}

const FrameNumberSchema = integerQuery({
  min: 0,
  description: "Client frame number, decimal digits (or X-Frame-Number)",
});
const dimension = (side: string, header: string) =>
  integerQuery({
    min: 1,
    max: MAX_FRAME_SIDE,
    description: `Raw frames: ${side}, decimal digits (or ${header})`,
  });
const WidthSchema = dimension("width", "X-Frame-Width");
const HeightSchema = dimension("height", "X-Frame-Height");

const queryText = (description: string) => z.string().optional().openapi({ description });
const binary = (type: string) => ({
  schema: { type: "string" as const, contentMediaType: type },
});

/** The route declaration. */
export const detectRoute = createRoute({
  method: "post",
  path: "/detect/{camera_id}",
  summary: "Detect, track and recognise in one frame (JPEG, PNG, or raw pixels)",
  tags: ["detect"],
  ...scoped("detect"),
  request: {
    params: z.object({
      camera_id: z.string().openapi({
        param: { name: "camera_id", in: "path" },
        description: "1-64 characters: letters, digits, . _ -",
        example: "cam-1",
      }),
    }),
    query: z.object({
      frame_number: FrameNumberSchema,
      timestamp: queryText(
        "Capture time: RFC 3339 with Z or ±hh:mm, or integer epoch milliseconds, within server.timestamp_skew_seconds of now (or X-Frame-Timestamp)",
      ),
      width: WidthSchema,
      height: HeightSchema,
      pixel_format: queryText(
        `Raw frames: ${PixelFormatSchema.options.join(", ")} (or X-Pixel-Format)`,
      ),
    }),
    body: {
      required: true,
      content: {
        "image/jpeg": binary("image/jpeg"),
        "image/png": binary("image/png"),
        "application/octet-stream": binary("application/octet-stream"),
      },
    },
  },
  responses: {
    ...errorResponses([400, 415, 422, 429], { scoped: true, body: true }),
    200: {
      description:
        "The frame's outcome: motion verdict, detections with track ids, faces, events and per-stage timings (docs/RESPONSE.md)",
      content: { "application/json": { schema: FrameOutcomeSchema } },
    },
  },
});

/** Creates the detect route, `POST /detect/{camera_id}`. */
export function createDetectHandler(deps: DetectHandlerDeps): OpenAPIHono<FessEnv> {
  const limit = deps.bodyLimitBytes ?? 32 * 1024 * 1024;
  const decoder = deps.frameDecoder ??
    createFrameDecoder({
      maxFramePixels: DEFAULT_MAX_PIXELS,
      maxConcurrentDecodes: 4,
      maxDecodePixels: DEFAULT_MAX_PIXELS,
      maxQueuedDecodes: 8,
    });
  const now = deps.now ?? (() => new Date());

  const detect = async (
    req: Request,
    cameraIdParam: string,
    query: DetectQuery,
  ): Promise<FrameOutcome> => {
    deps.pipeline.assertReady();
    const url = new URL(req.url);
    const cameraId = parseCameraId(cameraIdParam);
    const type = mediaType(req);
    if (!type || !(DETECT_CONTENT_TYPES as readonly string[]).includes(type)) {
      throw new UnsupportedMediaTypeError(type, DETECT_CONTENT_TYPES);
    }
    const param = (query: string, header: string) =>
      url.searchParams.get(query) ?? req.headers.get(header);
    // The route validated the query; a header stands in for an absent query parameter.
    const orHeader = (value: number | undefined, header: string, schema: QueryParam<number>) =>
      value ?? headerInteger(req, header, schema);
    const frameNumber = orHeader(query.frame_number, "X-Frame-Number", FrameNumberSchema) ?? null;
    const rawTimestamp = param("timestamp", "x-frame-timestamp");
    const arrival = now();
    const timestamp = rawTimestamp === null || rawTimestamp === ""
      ? arrival.toISOString()
      : parseFrameTimestamp(rawTimestamp, {
        nowMs: arrival.getTime(),
        skewSeconds: deps.timestampSkewSeconds,
      });
    const rawSpec = type === "application/octet-stream"
      ? parseRawSpec(
        orHeader(query.width, "X-Frame-Width", WidthSchema),
        orHeader(query.height, "X-Frame-Height", HeightSchema),
        param("pixel_format", "x-pixel-format"),
      )
      : null;

    const body = await readBodyBytes(req, limit);
    const t0 = performance.now();
    const source: FrameSource = rawSpec ? "raw" : type === "image/png" ? "png" : "jpeg";
    const frame = await decoder.decode(body, source === "raw" ? null : source, rawSpec);
    const decodeMs = performance.now() - t0;
    return await deps.pipeline.process({
      cameraId,
      frameNumber,
      timestamp,
      frame,
      source,
      decodeMs,
    });
  };

  return createRoutes().openapi(
    detectRoute,
    async (c) =>
      c.json(await detect(c.req.raw, c.req.valid("param").camera_id, c.req.valid("query")), 200),
  );
}

type DetectQuery = z.infer<typeof detectRoute.request.query>;

/** An integer from `header` checked by its query parameter's schema; undefined when absent. */
function headerInteger(
  req: Request,
  header: string,
  schema: QueryParam<number>,
): number | undefined {
  const parsed = schema.safeParse(req.headers.get(header) ?? undefined);
  if (!parsed.success) {
    throw new BadRequestError(`invalid header: ${header}: ${parsed.error.issues[0]!.message}`);
  }
  return parsed.data;
}

function parseRawSpec(
  width: number | undefined,
  height: number | undefined,
  format: string | null,
): { width: number; height: number; format: z.infer<typeof PixelFormatSchema> } {
  if (width === undefined || height === undefined) {
    throw new BadRequestError(
      "raw frames need a width and a height (X-Frame-Width/X-Frame-Height headers or width/height query)",
    );
  }
  const f = PixelFormatSchema.safeParse(format ?? undefined);
  if (!f.success) {
    throw new BadRequestError(
      `raw frames need a pixel format, one of ${
        PixelFormatSchema.options.join(", ")
      } (X-Pixel-Format header or pixel_format query), got ${JSON.stringify(format)}`,
    );
  }
  return { width, height, format: f.data };
}
