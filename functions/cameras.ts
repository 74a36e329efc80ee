/**
 * `GET /cameras` (the active cameras: fps, the latest processed frame's detections with track
 * ids, motion verdict, last alert) and `GET /cameras/{camera_id}/frame.jpg` (a small JPEG of
 * that frame, encoded on demand). They feed the live page's tiles. Both need the `events`
 * scope: frames show people.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { parseCameraId } from "../shared/camera_id.ts";
import { NotFoundError } from "../shared/errors.ts";
import { DetectionSchema } from "../shared/events.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** One camera as the page shows it. */
export const CameraSummarySchema = z.object({
  camera_id: z.string(),
  fps: z.number(),
  motion: z.object({ detected: z.boolean(), score: z.number() }).nullable(),
  last_frame: z.object({
    frame_number: z.number().int(),
    timestamp: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    detection_ran: z.boolean(),
    detections: z.array(DetectionSchema),
  }).nullable(),
  last_alert: z.object({
    event_id: z.string(),
    alert_type: z.string(),
    rule_id: z.string().nullable(),
    timestamp: z.string(),
  }).nullable(),
  frame_url: z.string(),
}).openapi("CameraSummary");
/** One camera as the page shows it. */
export type CameraSummary = z.infer<typeof CameraSummarySchema>;

/** What the handler needs of the pipeline's camera records. */
export interface CameraDirectory {
  /** Active cameras, sorted by id. */
  list(): CameraSummary[];
  /** JPEG of the camera's latest frame; null when none is kept (the next one will be). */
  frameJpeg(cameraId: string): Promise<Uint8Array | null>;
}

/** Dependencies of {@link createCamerasHandler}. */
export interface CamerasHandlerDeps {
  readonly cameras: CameraDirectory;
}

const listRoute = createRoute({
  method: "get",
  path: "/cameras",
  summary: "Active cameras with their latest processed frame (for the live page)",
  tags: ["cameras"],
  ...scoped("events"),
  responses: {
    ...errorResponses([], { scoped: true }),
    200: {
      description: "Cameras",
      content: {
        "application/json": { schema: z.object({ cameras: z.array(CameraSummarySchema) }) },
      },
    },
  },
});

const frameRoute = createRoute({
  method: "get",
  path: "/cameras/{camera_id}/frame.jpg",
  summary: "A small JPEG of the camera's latest processed frame (boxes are drawn by the page)",
  tags: ["cameras"],
  ...scoped("events"),
  request: {
    params: z.object({
      camera_id: z.string().openapi({ param: { name: "camera_id", in: "path" } }),
    }),
  },
  responses: {
    ...errorResponses([400, 404], { scoped: true }),
    200: {
      description: "JPEG",
      content: { "image/jpeg": { schema: { type: "string", contentMediaType: "image/jpeg" } } },
    },
  },
});

/** Creates the camera routes. */
export function createCamerasHandler(deps: CamerasHandlerDeps): OpenAPIHono<FessEnv> {
  return createRoutes()
    .openapi(listRoute, (c) => c.json({ cameras: deps.cameras.list() }, 200))
    .openapi(frameRoute, async (c) => {
      const id = parseCameraId(c.req.valid("param").camera_id);
      const jpeg = await deps.cameras.frameJpeg(id);
      if (!jpeg) {
        throw new NotFoundError(
          `no frame of camera ${id} is kept yet: frames are kept while the camera is watched`,
        );
      }
      return c.body(jpeg as Uint8Array<ArrayBuffer>, 200, {
        "content-type": "image/jpeg",
        "cache-control": "no-store",
      });
    });
}
