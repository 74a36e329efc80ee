/**
 * `GET /events/stream`: accepted events as Server-Sent Events, for the live page and any
 * dashboard. Filters: `camera_id` and `type` (comma-separated lists). Scope `events`.
 *
 * Each event is one SSE message: `id` = event_id, `event` = event_type, `data` = the event's
 * JSON. A comment line goes out every `heartbeatMs` so proxies and the listener's idle timeout
 * keep the connection. A subscriber that reads too slowly loses the oldest events, never
 * memory: it gets a `dropped` message with the count. The stream ends when the client goes.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { TooManyRequestsError } from "../shared/errors.ts";
import { EVENT_TYPES, EventTypeSchema } from "../shared/events.ts";
import type { LiveFeed } from "../shared/live/live_feed.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createStreamHandler}. */
export interface StreamHandlerDeps {
  readonly feed: LiveFeed;
  /** Milliseconds between heartbeat comments. Default 15000. */
  readonly heartbeatMs?: number;
}

const listOf = <T extends z.ZodType>(item: T) =>
  z.string().optional().transform((s, ctx) => {
    const parts = (s ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
    const out: z.infer<T>[] = [];
    for (const p of parts) {
      const r = item.safeParse(p);
      if (!r.success) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(p)} is not allowed` });
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
      camera_id: listOf(z.string().min(1).max(64)).openapi({
        description: "Only these cameras (comma-separated)",
        example: "cam-1,cam-2",
      }),
      type: listOf(EventTypeSchema).openapi({
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

/** Creates the stream route. */
export function createStreamHandler(deps: StreamHandlerDeps): OpenAPIHono<FessEnv> {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  return createRoutes().openapi(streamRoute, (c) => {
    const { camera_id, type } = c.req.valid("query");
    const sub = deps.feed.subscribe({ cameraIds: camera_id, types: type });
    if (!sub) {
      throw new TooManyRequestsError("too many live event subscribers; retry later", {
        retryAfterSeconds: 5,
      });
    }
    // A client that goes away cancels the body stream (`cancel` below), which ends the
    // subscription; the request's own abort signal is not used for that.
    const abort = new AbortController();
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(": connected\n\n"));
        heartbeat = setInterval(() => {
          try {
            controller.enqueue(encoder.encode(": ping\n\n"));
          } catch {
            abort.abort();
          }
        }, heartbeatMs);
      },
      async pull(controller) {
        const next = await sub.next(abort.signal);
        if (next === null) {
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
        abort.abort();
      },
    });
    abort.signal.addEventListener("abort", () => {
      clearInterval(heartbeat);
      sub.close();
    }, { once: true });
    return c.body(body, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
  });
}
