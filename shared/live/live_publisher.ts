/**
 * A publisher that also offers every event it accepts to the live feed (the page's
 * Server-Sent Events). Accepted means accepted by the inner publisher — durable in its
 * write-ahead log: a refused event never reaches the page. The feed gets the event as the
 * publisher validated and wrote it (`receipt.event`), never the caller's input, so the page
 * shows exactly what consumers of the topics will see.
 *
 * @module
 */
import type { Publisher } from "../events/publisher.ts";
import type { LiveFeed } from "./live_feed.ts";

/** Wraps `publisher` so accepted events are also offered to `feed`. */
export function withLiveFeed(publisher: Publisher, feed: LiveFeed): Publisher {
  return {
    start: () => publisher.start(),
    async publish(event) {
      const receipt = await publisher.publish(event);
      feed.offer(receipt.event);
      return receipt;
    },
    get queued() {
      return publisher.queued;
    },
    get deadLetters() {
      return publisher.deadLetters;
    },
    get oldestAgeMs() {
      return publisher.oldestAgeMs;
    },
    get state() {
      return publisher.state;
    },
    healthCheck: () => publisher.healthCheck(),
    refreshMetrics: () => publisher.refreshMetrics(),
    flush: () => publisher.flush(),
    close: () => publisher.close(),
  };
}
