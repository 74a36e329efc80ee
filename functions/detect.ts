/**
 * `POST /detect/{camera_id}`: one frame in (JPEG, PNG or raw pixels), detections out, with a
 * timing breakdown. Frame metadata comes from the query or `X-Frame-*` headers. The lead's
 * pipeline (motion gating, face recognition, events) plugs in through {@link DetectHooks}
 * instead of editing this file; what hooks return is merged into the response.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { parseCameraId } from "../shared/camera_id.ts";
import type { Detection } from "../shared/events.ts";
import type { Detector } from "../shared/detector/detector.ts";
import { BadRequestError, UnsupportedMediaTypeError } from "../shared/errors.ts";
import { mediaType, readBodyBytes } from "../shared/http.ts";
import { type DecodedFrame, decodeImage } from "../shared/image/decode.ts";
import {
  DEFAULT_MAX_PIXELS,
  PixelFormatSchema,
  type RawFrame,
  wrapRawFrame,
} from "../shared/image/raw_frame.ts";
import type { Logger } from "../shared/logger.ts";
import type { FessMetrics } from "../shared/metrics.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Content types `POST /detect` accepts. */
export const DETECT_CONTENT_TYPES = [
  "image/jpeg",
  "image/png",
  "application/octet-stream",
] as const;

/** What hooks see of a frame. */
export interface FrameContext {
  readonly cameraId: string;
  /** Client frame number, `null` when not given. */
  readonly frameNumber: number | null;
  /** Capture time (client-given, else arrival), ISO 8601. */
  readonly timestamp: string;
  /** The decoded frame (RGB for JPEG/PNG uploads, as sent for raw ones). */
  readonly frame: RawFrame;
  /** How the frame arrived. */
  readonly source: "jpeg" | "png" | "raw";
}

/** Extension points around detection. Their results are merged into the response body. */
export interface DetectHooks {
  /** Decides whether to run detection (e.g. motion gating); `info` is merged into the response. */
  beforeDetect?(frame: FrameContext): Promise<{ run: boolean; info?: Record<string, unknown> }>;
  /** Runs after detection (only when it ran), e.g. face recognition and event publishing. */
  afterDetect?(frame: FrameContext, detections: Detection[]): Promise<Record<string, unknown>>;
}

/** Dependencies of {@link createDetectHandler}. */
export interface DetectHandlerDeps {
  /** The loaded detector (only `detect`, `backend`, `model` are used). */
  readonly detector: Pick<Detector, "detect" | "backend" | "model">;
  readonly logger: Logger;
  /** Records `fess_detections_total` and `fess_detection_latency_seconds` when given. */
  readonly metrics?: FessMetrics;
  readonly hooks?: DetectHooks;
  /** Largest accepted body (default 32 MiB). */
  readonly bodyLimitBytes?: number;
  /** Largest accepted frame, width*height (default about 8K UHD). */
  readonly maxPixels?: number;
  /** Clock for default timestamps. */
  readonly now?: () => Date;
  /**
   * Without hooks nobody needs the full-resolution frame, so JPEG/PNG uploads are decoded
   * straight to the detector's input size (libjpeg scales while decoding). Default: on without
   * hooks; hooks that need full resolution (face recognition) leave it off.
   */
  readonly scaledDecode?: boolean;
}

const FrameNumberSchema = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const DimensionSchema = z.coerce.number().int().min(1);

const queryText = (description: string) => z.string().optional().openapi({ description });
const binary = (type: string) => ({
  schema: { type: "string" as const, contentMediaType: type },
});

/** The route declaration (also mounted alone, answering 503, when the detector is down). */
export const detectRoute = createRoute({
  method: "post",
  path: "/detect/{camera_id}",
  summary: "Detect objects in one frame (JPEG, PNG, or raw pixels)",
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
      frame_number: queryText("Client frame number (or X-Frame-Number)"),
      timestamp: queryText("Capture time, ISO 8601 or Unix seconds (or X-Frame-Timestamp)"),
      width: queryText("Raw frames: width (or X-Frame-Width)"),
      height: queryText("Raw frames: height (or X-Frame-Height)"),
      pixel_format: queryText("Raw frames: rgb24, bgr24, rgba, gray8... (or X-Pixel-Format)"),
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
      description: "Detections, motion verdict, faces, events and a timing breakdown",
      content: {
        "application/json": {
          schema: z.looseObject({
            camera_id: z.string(),
            frame_number: z.number().int().nullable(),
            timestamp: z.string(),
            width: z.number().int(),
            height: z.number().int(),
            detection_ran: z.boolean(),
            model: z.object({ id: z.string(), backend: z.string(), input_size: z.number() }),
            detections: z.array(z.unknown()),
            timing: z.record(z.string(), z.number()),
          }).openapi("DetectResponse"),
        },
      },
    },
  },
});

/** Creates the detect route, `POST /detect/{camera_id}`. */
export function createDetectHandler(deps: DetectHandlerDeps): OpenAPIHono<FessEnv> {
  const limit = deps.bodyLimitBytes ?? 32 * 1024 * 1024;
  const maxPixels = deps.maxPixels ?? DEFAULT_MAX_PIXELS;
  const now = deps.now ?? (() => new Date());
  const scaled = deps.scaledDecode ?? !deps.hooks;

  const detect = async (req: Request, cameraIdParam: string) => {
    const started = performance.now();
    const url = new URL(req.url);
    const cameraId = parseCameraId(cameraIdParam);
    const type = mediaType(req);
    if (!type || !(DETECT_CONTENT_TYPES as readonly string[]).includes(type)) {
      throw new UnsupportedMediaTypeError(type, DETECT_CONTENT_TYPES);
    }
    const param = (query: string, header: string) =>
      url.searchParams.get(query) ?? req.headers.get(header);
    const frameNumber = parseFrameNumber(param("frame_number", "x-frame-number"));
    const timestamp = parseTimestamp(param("timestamp", "x-frame-timestamp"), now);
    const rawSpec = type === "application/octet-stream"
      ? parseRawSpec(
        param("width", "x-frame-width"),
        param("height", "x-frame-height"),
        param("pixel_format", "x-pixel-format"),
      )
      : null;

    const body = await readBodyBytes(req, limit);
    const t0 = performance.now();
    let frame: DecodedFrame;
    let source: FrameContext["source"];
    if (rawSpec) {
      frame = wrapRawFrame({ data: body, ...rawSpec, maxPixels });
      source = "raw";
    } else {
      source = type === "image/png" ? "png" : "jpeg";
      const fitWithin = scaled ? deps.detector.model.input_size : undefined;
      frame = await decodeImage(body, { maxPixels, expect: source, fitWithin });
    }
    const t1 = performance.now();
    const context: FrameContext = { cameraId, frameNumber, timestamp, frame, source };

    let hookInfo: Record<string, unknown> = {};
    let run = true;
    let beforeMs: number | undefined;
    if (deps.hooks?.beforeDetect) {
      const h0 = performance.now();
      const decision = await deps.hooks.beforeDetect(context);
      beforeMs = performance.now() - h0;
      run = decision.run;
      hookInfo = { ...decision.info };
    }

    let detections: Detection[] = [];
    let timing = { preprocess_ms: 0, inference_ms: 0, postprocess_ms: 0 };
    let batchSize = 0;
    let afterMs: number | undefined;
    if (run) {
      const d0 = performance.now();
      const [result] = await deps.detector.detect([frame]);
      detections = result!.detections;
      timing = result!.timing;
      batchSize = result!.batch_size;
      const seconds = (t1 - t0 + performance.now() - d0) / 1000;
      if (deps.metrics) {
        deps.metrics.detectionLatency.observe({ camera_id: cameraId }, seconds);
        for (const d of detections) {
          deps.metrics.detectionsTotal.inc({ camera_id: cameraId, object_class: d.class_name });
        }
      }
      if (deps.hooks?.afterDetect) {
        const h0 = performance.now();
        hookInfo = { ...hookInfo, ...await deps.hooks.afterDetect(context, detections) };
        afterMs = performance.now() - h0;
      }
    }

    // Hook results go first so they can never overwrite the fields this handler owns.
    const response = {
      ...hookInfo,
      camera_id: cameraId,
      // A hook may number frames for cameras that do not (events need a frame number).
      frame_number: frameNumber ??
        (typeof hookInfo.frame_number === "number" ? hookInfo.frame_number : null),
      timestamp,
      width: frame.source?.width ?? frame.width,
      height: frame.source?.height ?? frame.height,
      detection_ran: run,
      model: {
        id: deps.detector.model.id,
        backend: deps.detector.backend,
        input_size: deps.detector.model.input_size,
      },
      detections,
      timing: {
        decode_ms: ms(t1 - t0),
        preprocess_ms: ms(timing.preprocess_ms),
        inference_ms: ms(timing.inference_ms),
        postprocess_ms: ms(timing.postprocess_ms),
        // Frames in the session run this frame shared (stage times are for that whole run).
        batch_size: batchSize,
        ...(beforeMs === undefined ? {} : { before_hook_ms: ms(beforeMs) }),
        ...(afterMs === undefined ? {} : { after_hook_ms: ms(afterMs) }),
        total_ms: ms(performance.now() - started),
      },
    };
    deps.logger.debug("frame detected", {
      camera_id: cameraId,
      frame_number: frameNumber,
      detections: detections.length,
      ran: run,
    });
    return response;
  };

  return createRoutes().openapi(
    detectRoute,
    async (c) => c.json(await detect(c.req.raw, c.req.valid("param").camera_id), 200),
  );
}

function ms(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function parseFrameNumber(raw: string | null): number | null {
  if (raw === null || raw === "") return null;
  const parsed = FrameNumberSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BadRequestError(
      `frame_number must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return parsed.data;
}

/** Accepts ISO 8601 or a Unix epoch in seconds (or milliseconds when above 1e11). */
function parseTimestamp(raw: string | null, now: () => Date): string {
  if (raw === null || raw === "") return now().toISOString();
  let millis: number;
  if (/^\d+(\.\d+)?$/.test(raw)) {
    const n = Number(raw);
    millis = n > 1e11 ? n : n * 1000;
  } else {
    millis = Date.parse(raw);
  }
  const date = new Date(millis);
  if (!Number.isFinite(millis) || Number.isNaN(date.getTime())) {
    throw new BadRequestError(
      `timestamp must be ISO 8601 or Unix epoch seconds, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return date.toISOString();
}

function parseRawSpec(
  width: string | null,
  height: string | null,
  format: string | null,
): { width: number; height: number; format: z.infer<typeof PixelFormatSchema> } {
  const w = DimensionSchema.safeParse(width ?? undefined);
  const h = DimensionSchema.safeParse(height ?? undefined);
  if (!w.success || !h.success) {
    throw new BadRequestError(
      "raw frames need a positive integer width and height (X-Frame-Width/X-Frame-Height headers or width/height query)",
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
  return { width: w.data, height: h.data, format: f.data };
}
