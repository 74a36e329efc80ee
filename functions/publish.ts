/**
 * `POST /events`: publish one FESS event (validated against the event schemas).
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
 * Mounted at prefix `/events`.
 *
 * @module
 */
import { BadRequestError, NotFoundError, UnsupportedMediaTypeError } from "../shared/errors.ts";
import { z } from "zod";
import { jsonResponse, mediaType, readJson } from "../shared/http.ts";
import type { Logger } from "../shared/logger.ts";
import type { DeliveryResult, Publisher } from "../shared/events/publisher.ts";
import { type Handler, requireMethod } from "./router.ts";

/** Dependencies of {@link createPublishHandler}. */
export interface PublishHandlerDeps {
  readonly publisher: Publisher;
  readonly logger: Logger;
  /** Largest accepted body. Default 1 MiB (events are small). */
  readonly bodyLimitBytes?: number;
  /** Longest `?wait=true` waits before answering 202 `pending`. Default 30000 ms. */
  readonly waitTimeoutMs?: number;
}

const JSON_TYPES = ["application/json"];

/** Creates the publish handler. */
export function createPublishHandler(deps: PublishHandlerDeps): Handler {
  const limit = deps.bodyLimitBytes ?? 1_048_576;
  const waitTimeoutMs = deps.waitTimeoutMs ?? 30_000;
  const logger = deps.logger.child({ component: "publish_handler" });
  const route = new URLPattern({ pathname: "/events{/}?" });

  return async (req) => {
    const url = new URL(req.url);
    if (!route.test(url)) throw new NotFoundError(`no route for ${url.pathname}`);
    requireMethod(req, ["POST"]);
    const type = mediaType(req);
    if (type !== "application/json") throw new UnsupportedMediaTypeError(type, JSON_TYPES);
    const wait = parseWait(url.searchParams.get("wait"));

    // The publisher validates against the event schemas itself (422 listing every issue).
    const body = await readJson(req, z.unknown(), limit);
    const receipt = await deps.publisher.publish(body); // throws 422 / 413 / 429 / 503
    const accepted = {
      event_id: receipt.event_id,
      event_type: receipt.event_type,
      topic: receipt.topic,
    };
    if (!wait) return jsonResponse({ ...accepted, status: "accepted" }, 202);

    const result = await withTimeout(receipt.delivery, waitTimeoutMs);
    if (result === null) return jsonResponse({ ...accepted, status: "pending" }, 202);
    switch (result.status) {
      case "delivered":
        return jsonResponse(
          { ...accepted, status: "delivered", partition: result.partition, offset: result.offset },
          200,
        );
      case "dead_lettered":
        logger.warn("event dead-lettered", { event_id: receipt.event_id, reason: result.reason });
        return jsonResponse({ ...accepted, status: "dead_lettered", reason: result.reason }, 202);
      case "retained":
        return jsonResponse({ ...accepted, status: "pending" }, 202);
    }
  };
}

function parseWait(raw: string | null): boolean {
  if (raw === null || raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1") return true;
  throw new BadRequestError(`wait must be true or false, got ${JSON.stringify(raw.slice(0, 20))}`);
}

function withTimeout(p: Promise<DeliveryResult>, ms: number): Promise<DeliveryResult | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
