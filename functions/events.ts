/**
 * `POST /events`: publish one FESS event (validated against the event schemas). Scope `events`.
 *
 * - 202 `{event_id, topic, status: "accepted"}`: the event is in the write-ahead log (durable
 *   per `kafka.fsync`); delivery continues in the background.
 * - `?wait=true`: waits for the outcome: 200 `{..., status: "delivered", partition, offset}`,
 *   202 `{..., status: "dead_lettered", reason}` when the broker refused it for good, or
 *   202 `{..., status: "pending"}` when it is still waiting (broker down) after the timeout.
 * - 422 with zod issues for an invalid event (unknown fields included, a `timestamp` or
 *   `captured_at` further than `server.timestamp_skew_seconds` from now, as `/detect` refuses
 *   frame times, and an alert `snapshot_url` other than this service's own for that alert),
 *   413 for a body over {@link EVENTS_BODY_LIMIT_BYTES} or an event over
 *   `kafka.max_event_bytes` (with its size and the limit), 429 when the log is full, 415 for a
 *   non-JSON body, 503 when the log cannot be written or on shutdown.
 *
 * The publisher is the one validator of events; the route documents the same zod schemas as
 * JSON Schema so the body is not validated twice (only a refused body is checked here again,
 * to list every problem at once).
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../shared/errors.ts";
import { checkEvent, FessEventSchema } from "../shared/events.ts";
import type { DeliveryResult, Publisher } from "../shared/events/publisher.ts";
import { mediaType, readJson, type ValidationIssue } from "../shared/http.ts";
import type { Logger } from "../shared/logger.ts";
import { snapshotUrl } from "../shared/snapshots/snapshot_store.ts";
import { createRoutes, errorResponses, type FessEnv, scoped } from "./openapi.ts";

/** Dependencies of {@link createEventsHandler}. */
export interface EventsHandlerDeps {
  readonly publisher: Publisher;
  readonly logger: Logger;
  /** Largest accepted body. Default {@link EVENTS_BODY_LIMIT_BYTES}. */
  readonly bodyLimitBytes?: number;
  /**
   * Largest distance of an event's `timestamp` / `captured_at` from now, in seconds
   * (`server.timestamp_skew_seconds`, as for `/detect`). Default 86400.
   */
  readonly timestampSkewSeconds?: number;
  /**
   * `snapshots.base_url`: an alert's `snapshot_url` must be `{base}/snapshots/{event_id}`, the
   * URL this service serves it at (the bare path when unset).
   */
  readonly snapshotBaseUrl?: string;
  /** Longest `?wait=true` waits before answering 202 `pending`. Default 30000 ms. */
  readonly waitTimeoutMs?: number;
}

/** Largest `POST /events` body by default: events are small (`kafka.max_event_bytes` 900 000). */
export const EVENTS_BODY_LIMIT_BYTES = 1_048_576;

const JSON_TYPES = ["application/json"];

/** The fields holding an event's own time. */
const TIME_FIELDS = ["timestamp", "captured_at"] as const;

/**
 * What this service refuses at its edge beyond the event schemas, as issues: time fields further
 * than `skewSeconds` from `nowMs`, and an alert's `snapshot_url` other than the one this
 * service serves for that alert (readers send their API key to it).
 */
function edgeIssues(
  body: unknown,
  nowMs: number,
  skewSeconds: number,
  snapshotBaseUrl: string | undefined,
): ValidationIssue[] {
  if (typeof body !== "object" || body === null) return [];
  const issues: ValidationIssue[] = [];
  const { event_type: type, event_id: id, snapshot_url: url } = body as Record<string, unknown>;
  if (type === "alert" && typeof id === "string" && typeof url === "string") {
    const own = snapshotUrl(id, snapshotBaseUrl);
    if (url !== own) {
      issues.push({
        path: "snapshot_url",
        message: `snapshot_url must be this service's snapshot of the alert, ${
          JSON.stringify(own.slice(0, 300))
        } (snapshots.base_url), or null`,
      });
    }
  }
  for (const field of TIME_FIELDS) {
    const value = Object.hasOwn(body, field) ? (body as Record<string, unknown>)[field] : null;
    if (typeof value !== "string") continue;
    const ms = Date.parse(value);
    // Malformed times are the schema's to name.
    if (!Number.isFinite(ms) || Math.abs(ms - nowMs) <= skewSeconds * 1000) continue;
    issues.push({
      path: field,
      message: `${field} ${JSON.stringify(value.slice(0, 64))} is not within ${skewSeconds} s ` +
        `of now (${new Date(nowMs).toISOString()}; server.timestamp_skew_seconds)`,
    });
  }
  return issues;
}

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
  const limit = deps.bodyLimitBytes ?? EVENTS_BODY_LIMIT_BYTES;
  const skewSeconds = deps.timestampSkewSeconds ?? 86_400;
  const waitTimeoutMs = deps.waitTimeoutMs ?? 30_000;
  const logger = deps.logger.child({ component: "events_handler" });

  return createRoutes().openapi(publishRoute(), async (c) => {
    const type = mediaType(c.req.raw);
    if (type !== "application/json") throw new UnsupportedMediaTypeError(type, JSON_TYPES);
    const wait = ["true", "1"].includes(c.req.valid("query").wait ?? "");

    // A declared size over this route's limit is refused before anything is read.
    if (Number(c.req.header("content-length") ?? 0) > limit) throw new PayloadTooLargeError(limit);
    // The publisher validates against the event schemas itself (422 listing every issue).
    const body = await readJson(c.req.raw, z.unknown(), limit);
    const edge = edgeIssues(body, Date.now(), skewSeconds, deps.snapshotBaseUrl);
    if (edge.length > 0) {
      const checked = checkEvent(body);
      const others = checked.ok
        ? []
        : checked.issues.filter((i) => !edge.some((l) => l.path === i.path));
      throw new ValidationError("event failed validation", {
        detail: { issues: [...edge, ...others] },
      });
    }
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
