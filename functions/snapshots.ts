/**
 * `GET /snapshots/{event_id}`: the JPEG snapshot of an alert (the Alert event's
 * `snapshot_url`), while it has not expired. Mount it as a protected route: snapshots show
 * people. 400 for an id that is not a UUID, 404 when there is no snapshot (never stored,
 * expired or evicted), 503 when the store cannot answer.
 *
 * @module
 */
import { BadRequestError, MethodNotAllowedError, NotFoundError } from "../shared/errors.ts";
import { SNAPSHOTS_PATH, type SnapshotStore } from "../shared/snapshots/snapshot_store.ts";

/** Dependencies of {@link createSnapshotsHandler}. */
export interface SnapshotsHandlerDeps {
  /** Where snapshots are. */
  readonly store: SnapshotStore;
  /** Mount prefix. Default `/snapshots`. */
  readonly prefix?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const METHODS = ["GET", "HEAD"] as const;

/** Creates the snapshots handler. */
export function createSnapshotsHandler(
  deps: SnapshotsHandlerDeps,
): (req: Request) => Promise<Response> {
  const prefix = deps.prefix ?? SNAPSHOTS_PATH;
  const pattern = new URLPattern({ pathname: `${prefix}/:id` });
  return async (req) => {
    const match = pattern.exec(req.url);
    if (!match) throw new NotFoundError(`no route for ${new URL(req.url).pathname}`);
    if (!(METHODS as readonly string[]).includes(req.method)) {
      throw new MethodNotAllowedError(req.method, METHODS);
    }
    const id = match.pathname.groups.id ?? "";
    if (!UUID.test(id)) throw new BadRequestError("snapshot id must be an event id (a UUID)");
    const jpeg = await deps.store.get(id.toLowerCase());
    if (!jpeg) {
      throw new NotFoundError(`no snapshot for event ${id}: never stored, expired or evicted`);
    }
    return new Response(req.method === "HEAD" ? null : jpeg as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": "image/jpeg",
        "content-length": String(jpeg.length),
        "cache-control": "private, max-age=60",
      },
    });
  };
}
