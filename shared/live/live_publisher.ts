/**
 * A publisher that also offers every event it accepts to the live feed (the page's
 * Server-Sent Events). Accepted means accepted by the inner publisher — durable in its
 * write-ahead log: a refused event never reaches the page, so the page shows exactly what
 * consumers of the topics will see.
 *
 * @module
 */
import type { Publisher } from "../events/publisher.ts";
import type { FessEvent } from "../events.ts";
import type { LiveFeed } from "./live_feed.ts";

/** Wraps `publisher` so accepted events are also offered to `feed`. */
export function withLiveFeed(publisher: Publisher, feed: LiveFeed): Publisher {
  return {
    start: () => publisher.start(),
    async publish(event) {
      const receipt = await publisher.publish(event);
      // The publisher validated it: from here on it is a FessEvent.
      feed.offer(event as FessEvent);
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
