/**
 * `GET /snapshots/{event_id}`: the JPEG snapshot of an alert (the Alert event's
 * `snapshot_url`), while it has not expired. Snapshots show people, so the route needs a key
 * with the `events` scope. 400 for an id that is not a UUID, 404 when there is no snapshot
 * (never stored, expired or evicted), 503 when the store cannot answer.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { NotFoundError } from "../shared/errors.ts";
import type { SnapshotStore } from "../shared/snapshots/snapshot_store.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createSnapshotsHandler}. */
export interface SnapshotsHandlerDeps {
  /** Where snapshots are. */
  readonly store: SnapshotStore;
}

const snapshotRoute = createRoute({
  method: "get",
  path: "/snapshots/{event_id}",
  summary: "The JPEG snapshot of an alert, while it has not expired (snapshots.ttl_seconds)",
  tags: ["events"],
  ...scoped("events"),
  request: {
    params: z.object({
      event_id: z.uuid().openapi({
        param: { name: "event_id", in: "path" },
        description: "The Alert event's event_id",
      }),
    }),
  },
  responses: {
    ...errorResponses([400, 404], { scoped: true }),
    200: {
      description: "The snapshot",
      content: { "image/jpeg": { schema: { type: "string", contentMediaType: "image/jpeg" } } },
    },
  },
});

/** Creates the snapshots route. */
export function createSnapshotsHandler(deps: SnapshotsHandlerDeps): OpenAPIHono<FessEnv> {
  return createRoutes().openapi(snapshotRoute, async (c) => {
    const id = c.req.valid("param").event_id.toLowerCase();
    const jpeg = await deps.store.get(id);
    if (!jpeg) {
      throw new NotFoundError(`no snapshot for event ${id}: never stored, expired or evicted`);
    }
    return c.body(jpeg as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "image/jpeg",
      "cache-control": "private, max-age=60",
    });
  });
}
