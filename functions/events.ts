/**
 * `POST /events`: publish one FESS event (validated against the event schemas). Scope `events`.
 *
 * - 202 `{event_id, topic, status: "accepted"}`: the event is in the write-ahead log (durable
 *   per `kafka.fsync`); delivery continues in the background.
 * - `?wait=true`: waits for the outcome: 200 `{..., status: "delivered", partition, offset}`,
 *   202 `{..., status: "dead_lettered", reason}` when the broker refused it for good, or
 *   202 `{..., status: "pending"}` when it is still waiting (broker down) after the timeout.
 * - 422 with zod issues for an invalid event, 413 when the event exceeds
 *   `kafka.max_event_bytes` (with its size and the limit), 429 when the log is full, 415 for
 *   a non-JSON body, 503 when the log cannot be written or on shutdown.
 *
 * The publisher is the one validator of events; the route documents the same zod schemas as
 * JSON Schema so the body is not validated twice.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { UnsupportedMediaTypeError } from "../shared/errors.ts";
import { FessEventSchema } from "../shared/events.ts";
import type { DeliveryResult, Publisher } from "../shared/events/publisher.ts";
import { mediaType, readJson } from "../shared/http.ts";
import type { Logger } from "../shared/logger.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createEventsHandler}. */
export interface EventsHandlerDeps {
  readonly publisher: Publisher;
  readonly logger: Logger;
  /** Largest accepted body. Default 1 MiB (events are small). */
  readonly bodyLimitBytes?: number;
  /** Longest `?wait=true` waits before answering 202 `pending`. Default 30000 ms. */
  readonly waitTimeoutMs?: number;
}

const JSON_TYPES = ["application/json"];

const WaitSchema = z.enum(["true", "false", "1", "0", ""]).optional().openapi({
  description: "Wait for the delivery outcome (up to 30 s)",
});

const ReceiptSchema = z.object({
  event_id: z.string(),
  event_type: z.string(),
  topic: z.string(),
  status: z.enum(["accepted", "pending", "dead_lettered", "delivered"]),
  reason: z.string().optional(),
  partition: z.number().int().nullable().optional(),
  offset: z.string().nullable().optional(),
}).openapi("EventReceipt");

function publishRoute() {
  return createRoute({
    method: "post",
    path: "/events",
    summary: "Publish one FESS event to its Kafka topic (or the local event log)",
    tags: ["events"],
    ...scoped("events"),
    request: {
      query: z.object({ wait: WaitSchema }),
      body: {
        required: true,
        content: {
          // JSON Schema of the zod event schemas: documented here, validated by the publisher.
          "application/json": {
            schema: z.toJSONSchema(FessEventSchema, { io: "input" }) as Record<string, unknown>,
          },
        },
      },
    },
    responses: {
      ...errorResponses([400, 413, 415, 422, 429], { scoped: true, body: true }),
      200: {
        description: "Delivered (with ?wait=true)",
        content: { "application/json": { schema: ReceiptSchema } },
      },
      202: {
        description: "Accepted (queued), or spooled to disk while the broker is down",
        content: { "application/json": { schema: ReceiptSchema } },
      },
    },
  });
}

/** Creates the events routes. */
export function createEventsHandler(deps: EventsHandlerDeps): OpenAPIHono<FessEnv> {
  const limit = deps.bodyLimitBytes ?? 1_048_576;
  const waitTimeoutMs = deps.waitTimeoutMs ?? 30_000;
  const logger = deps.logger.child({ component: "events_handler" });

  return createRoutes().openapi(publishRoute(), async (c) => {
    const type = mediaType(c.req.raw);
    if (type !== "application/json") throw new UnsupportedMediaTypeError(type, JSON_TYPES);
    const wait = ["true", "1"].includes(c.req.valid("query").wait ?? "");

    // The publisher validates against the event schemas itself (422 listing every issue).
    const body = await readJson(c.req.raw, z.unknown(), limit);
    const receipt = await deps.publisher.publish(body); // throws 422 / 413 / 429 / 503
    const accepted = {
      event_id: receipt.event_id,
      event_type: receipt.event_type,
      topic: receipt.topic,
    };
    if (!wait) return c.json({ ...accepted, status: "accepted" as const }, 202);

    const result = await withTimeout(receipt.delivery, waitTimeoutMs);
    if (result === null) return c.json({ ...accepted, status: "pending" as const }, 202);
    switch (result.status) {
      case "delivered":
        return c.json(
          {
            ...accepted,
            status: "delivered" as const,
            partition: result.partition,
            offset: result.offset,
          },
          200,
        );
      case "dead_lettered":
        logger.warn("event dead-lettered", { event_id: receipt.event_id, reason: result.reason });
        return c.json(
          { ...accepted, status: "dead_lettered" as const, reason: result.reason },
          202,
        );
      case "retained":
        return c.json({ ...accepted, status: "pending" as const }, 202);
    }
  });
}

function withTimeout(p: Promise<DeliveryResult>, ms: number): Promise<DeliveryResult | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
