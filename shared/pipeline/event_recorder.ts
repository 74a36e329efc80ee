/**
 * Publishing a frame's events: each event is built and handed to the publisher, and the frame
 * records which were accepted and which were refused with why (a full log, an oversized
 * event, an event that failed its schema). Refusals are reported, never thrown: an event
 * problem after detection must not turn the frame into a 5xx.
 *
 * Accepted means durable: the publisher resolves once the event is in its write-ahead log. A
 * frame's events are started without waiting for each other, so they share one group commit;
 * {@link EventRecorder.settle} waits for all of them before the frame answers.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { EventType, FessEvent } from "../events.ts";
import type { Publisher } from "../events/publisher.ts";
import type { Logger } from "../logger.ts";
import type { FrameEvents } from "./frame_outcome.ts";

/** Collects one frame's published and refused events. */
export interface EventRecorder {
  /**
   * Builds an event with `build` (a schema failure is recorded as refused) and publishes it.
   * Resolves to the event once the publisher accepted it (it is in the write-ahead log), else
   * to null. Never rejects.
   */
  publish<E extends FessEvent>(type: EventType, build: () => E): Promise<E | null>;
  /** Waits until every event started so far is accepted or refused. */
  settle(): Promise<void>;
  /** The frame's events, in the order they were started (complete after {@link settle}). */
  readonly events: FrameEvents;
  /** Time the frame spent building events and waiting for them to be durable, ms. */
  readonly ms: number;
}

/** Dependencies of {@link createEventRecorder}. */
export interface EventRecorderDeps {
  readonly publisher: Pick<Publisher, "publish">;
  readonly logger: Logger;
  readonly cameraId: string;
}

type Slot =
  | { readonly ok: true; readonly eventId: string }
  | {
    readonly ok: false;
    readonly eventId: string | null;
    readonly type: EventType;
    readonly reason: string;
  };

/** Creates a recorder for one frame. */
export function createEventRecorder(deps: EventRecorderDeps): EventRecorder {
  const slots: Promise<Slot>[] = [];
  const events: FrameEvents = { published: [], rejected: [] };
  let ms = 0;

  const refused = (type: EventType, eventId: string | null, err: unknown): Slot => {
    const reason = errorMessage(err, 500);
    deps.logger.warn("event not accepted", { event_type: type, camera_id: deps.cameraId, reason });
    return { ok: false, eventId, type, reason };
  };

  return {
    publish<E extends FessEvent>(type: EventType, build: () => E): Promise<E | null> {
      const t0 = performance.now();
      let event: E;
      try {
        event = build();
      } catch (err) {
        slots.push(Promise.resolve(refused(type, null, err)));
        ms += performance.now() - t0;
        return Promise.resolve(null);
      }
      ms += performance.now() - t0;
      const accepted = deps.publisher.publish(event).then(
        (receipt): Slot => ({ ok: true, eventId: receipt.event_id }),
        (err) => refused(type, event.event_id, err),
      );
      slots.push(accepted);
      return accepted.then((slot) => (slot.ok ? event : null));
    },
    async settle() {
      const t0 = performance.now();
      const settled = await Promise.all(slots);
      ms += performance.now() - t0;
      events.published.length = 0;
      events.rejected.length = 0;
      for (const s of settled) {
        if (s.ok) events.published.push(s.eventId);
        else events.rejected.push({ event_id: s.eventId, event_type: s.type, reason: s.reason });
      }
    },
    events,
    get ms() {
      return ms;
    },
  };
}
