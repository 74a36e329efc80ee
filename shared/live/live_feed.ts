/**
 * The live feed: every event the publisher accepts is offered here and fanned out to the
 * page's Server-Sent-Events subscribers, each with its own filter.
 *
 * Invariants: offering never blocks or throws (the frame path calls it); a slow subscriber
 * cannot grow memory without bound — its queue holds at most `maxQueue` events, older ones
 * are dropped and counted, and the subscriber is told how many it missed; the number of
 * subscribers is bounded by `maxSubscribers` (beyond it `subscribe` returns null). Closing
 * the feed (when the server starts draining) ends every subscription, so the long-lived
 * streams never hold a shutdown; a subscription asked for after that is born closed.
 *
 * @module
 */
import type { EventType, FessEvent } from "../events.ts";

/** Which events a subscriber wants; an empty list or absent field means all. */
export interface FeedFilter {
  readonly cameraIds?: readonly string[];
  readonly types?: readonly EventType[];
}

/** One subscriber's view of the feed. */
export interface FeedSubscription {
  /** Waits for the next events (at least one), or resolves `null` once closed or aborted. */
  next(signal?: AbortSignal): Promise<{ events: FessEvent[]; dropped: number } | null>;
  /** Stops the subscription; pending `next` calls resolve null. Idempotent. */
  close(): void;
}

/** Fan-out of accepted events to live subscribers. */
export interface LiveFeed {
  /** Offers an accepted event to every matching subscriber. Never throws. */
  offer(event: FessEvent): void;
  /** Subscribes; null when `maxSubscribers` are already connected. */
  subscribe(filter: FeedFilter): FeedSubscription | null;
  /** Connected subscribers. */
  readonly subscribers: number;
  /**
   * Ends every subscription (pending `next` calls resolve null); later `subscribe` calls get
   * a subscription that is already closed. Idempotent.
   */
  close(): void;
}

/** Options of {@link createLiveFeed}. */
export interface LiveFeedOptions {
  /** Events a subscriber may have waiting before the oldest are dropped. Default 500. */
  readonly maxQueue?: number;
  /** Most concurrent subscribers. Default 64. */
  readonly maxSubscribers?: number;
}

interface Subscriber {
  readonly filter: FeedFilter;
  queue: FessEvent[];
  dropped: number;
  wake: (() => void) | null;
  closed: boolean;
}

function matches(filter: FeedFilter, event: FessEvent): boolean {
  if (filter.types?.length && !filter.types.includes(event.event_type)) return false;
  if (filter.cameraIds?.length) {
    const camera = "camera_id" in event ? event.camera_id : undefined;
    if (camera === undefined || !filter.cameraIds.includes(camera)) return false;
  }
  return true;
}

/** Creates an empty feed. */
export function createLiveFeed(options: LiveFeedOptions = {}): LiveFeed {
  const maxQueue = options.maxQueue ?? 500;
  const maxSubscribers = options.maxSubscribers ?? 64;
  const subs = new Set<Subscriber>();
  let closed = false;
  const end = (sub: Subscriber) => {
    sub.closed = true;
    subs.delete(sub);
    const wake = sub.wake;
    sub.wake = null;
    wake?.();
  };

  return {
    get subscribers() {
      return subs.size;
    },
    offer(event) {
      for (const s of subs) {
        if (!matches(s.filter, event)) continue;
        s.queue.push(event);
        if (s.queue.length > maxQueue) {
          const excess = s.queue.length - maxQueue;
          s.queue.splice(0, excess);
          s.dropped += excess;
        }
        const wake = s.wake;
        s.wake = null;
        wake?.();
      }
    },
    close() {
      closed = true;
      for (const s of subs) end(s);
    },
    subscribe(filter) {
      if (subs.size >= maxSubscribers) return null;
      // Once the feed is closed a subscription is born closed: its stream ends at once.
      const sub: Subscriber = { filter, queue: [], dropped: 0, wake: null, closed };
      if (!closed) subs.add(sub);
      return {
        async next(signal) {
          while (!sub.closed && sub.queue.length === 0) {
            if (signal?.aborted) return null;
            await new Promise<void>((resolve) => {
              const onAbort = () => resolve();
              signal?.addEventListener("abort", onAbort, { once: true });
              sub.wake = () => {
                signal?.removeEventListener("abort", onAbort);
                resolve();
              };
            });
            sub.wake = null;
          }
          if (sub.closed) return null;
          const out = { events: sub.queue, dropped: sub.dropped };
          sub.queue = [];
          sub.dropped = 0;
          return out;
        },
        close: () => end(sub),
      };
    },
  };
}
