/**
 * `GET /events/stream`: accepted events as Server-Sent Events, for the live page and any
 * dashboard. Filters: `camera_id` and `type` (comma-separated lists). Scope `events`.
 *
 * Each event is one SSE message: `id` = event_id, `event` = event_type, `data` = the event's
 * JSON. A comment line goes out every `heartbeatMs` so proxies and the listener's idle timeout
 * keep the connection. A subscriber that reads too slowly loses the oldest events, never
 * memory: it gets a `dropped` message with the count. The stream ends when the client goes,
 * or when the feed closes: the server starting to drain closes it, so a stream (long-lived by
 * design) never holds a shutdown; the page's `EventSource` reconnects, to the next instance.
 *
 * A subscription is a bounded slot (`LiveFeed` `maxSubscribers`), so only a body that is
 * streamed holds one: `HEAD` answers the headers without subscribing (Hono runs this GET
 * handler for it and drops the body unread and uncancelled), and the slot is released when the
 * body is cancelled (the client went, before or after the first read) or the feed closes it.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { TooManyRequestsError } from "../shared/errors.ts";
import { CameraIdSchema } from "../shared/camera_id.ts";
import { EVENT_TYPES, EventTypeSchema } from "../shared/events.ts";
import type { LiveFeed } from "../shared/live/live_feed.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createStreamHandler}. */
export interface StreamHandlerDeps {
  readonly feed: LiveFeed;
  /** Milliseconds between heartbeat comments. Default 15000. */
  readonly heartbeatMs?: number;
}

/**
 * A comma-separated list of `item`s; absent means no filter. Every entry must be valid and
 * non-empty, so `camera_id=,,` or a typo never silently widens to "everything".
 */
const listOf = <T extends z.ZodType>(name: string, item: T) =>
  z.string().optional().transform((s, ctx) => {
    if (s === undefined) return [];
    const out: z.infer<T>[] = [];
    for (const raw of s.split(",")) {
      const p = raw.trim();
      const shown = JSON.stringify(p.length > 64 ? `${p.slice(0, 64)}…` : p);
      if (p === "") {
        ctx.addIssue({
          code: "custom",
          message: `${name} has an empty entry; leave ${name} out for no filter`,
        });
        return z.NEVER;
      }
      const r = item.safeParse(p);
      if (!r.success) {
        ctx.addIssue({
          code: "custom",
          message: `${name} ${shown} is not allowed: ${r.error.issues[0]?.message ?? "invalid"}`,
        });
        return z.NEVER;
      }
      out.push(r.data as z.infer<T>);
    }
    return out;
  });

const streamRoute = createRoute({
  method: "get",
  path: "/events/stream",
  summary: "Accepted events as Server-Sent Events (filter by camera and type)",
  tags: ["events"],
  ...scoped("events"),
  request: {
    query: z.object({
      camera_id: listOf("camera_id", CameraIdSchema).openapi({
        description: "Only these cameras (comma-separated)",
        example: "cam-1,cam-2",
      }),
      type: listOf("type", EventTypeSchema).openapi({
        description: `Only these event types (comma-separated): ${EVENT_TYPES.join(", ")}`,
        example: "alert",
      }),
    }),
  },
  responses: {
    ...errorResponses([400, 429], { scoped: true }),
    200: {
      description: "text/event-stream: `event: <event_type>`, `id: <event_id>`, `data: <JSON>`",
      content: { "text/event-stream": { schema: z.string() } },
    },
  },
});

const encoder = new TextEncoder();

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  "x-accel-buffering": "no",
};

/** Creates the stream route. */
export function createStreamHandler(deps: StreamHandlerDeps): OpenAPIHono<FessEnv> {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  return createRoutes().openapi(streamRoute, (c) => {
    const { camera_id, type } = c.req.valid("query");
    // HEAD never reads the body: it gets the headers and holds no slot.
    if (c.req.method === "HEAD") return c.body(null, 200, SSE_HEADERS);
    const sub = deps.feed.subscribe({ cameraIds: camera_id, types: type });
    if (!sub) {
      throw new TooManyRequestsError("too many live event subscribers; retry later", {
        retryAfterSeconds: 5,
      });
    }
    // Deno.serve cancels the body of a client that goes, also one gone before the first read
    // or before this handler returned, so `cancel` is the release. The request's signal is
    // not used: Deno 2 also aborts it when a response completes (and then warns if it was read).
    const abort = new AbortController();
    const release = () => abort.abort();
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    abort.signal.addEventListener("abort", () => {
      clearInterval(heartbeat);
      sub.close();
    }, { once: true });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(": connected\n\n"));
        heartbeat = setInterval(() => {
          try {
            controller.enqueue(encoder.encode(": ping\n\n"));
          } catch {
            release();
          }
        }, heartbeatMs);
      },
      async pull(controller) {
        const next = await sub.next(abort.signal);
        if (next === null) {
          release();
          controller.close();
          return;
        }
        let text = next.dropped > 0
          ? `event: dropped\ndata: ${JSON.stringify({ dropped: next.dropped })}\n\n`
          : "";
        for (const e of next.events) {
          text += `id: ${e.event_id}\nevent: ${e.event_type}\ndata: ${JSON.stringify(e)}\n\n`;
        }
        controller.enqueue(encoder.encode(text));
      },
      cancel() {
        release();
      },
    });
    return c.body(body, 200, SSE_HEADERS);
  });
}
