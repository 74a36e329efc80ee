/**
 * Publishing a frame's events: each event is built and handed to the publisher, and the frame
 * records which were accepted and which were refused with why (a full queue, an event that
 * failed its schema). Refusals are reported, never thrown: an event problem after detection
 * must not turn the frame into a 5xx.
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
   * Returns the event when the publisher accepted it, else null.
   */
  publish<E extends FessEvent>(type: EventType, build: () => E): E | null;
  /** The frame's events so far. */
  readonly events: FrameEvents;
  /** Time spent building and publishing, ms. */
  readonly ms: number;
}

/** Dependencies of {@link createEventRecorder}. */
export interface EventRecorderDeps {
  readonly publisher: Pick<Publisher, "publish">;
  readonly logger: Logger;
  readonly cameraId: string;
}

/** Creates a recorder for one frame. */
export function createEventRecorder(deps: EventRecorderDeps): EventRecorder {
  const events: FrameEvents = { published: [], rejected: [] };
  let ms = 0;
  return {
    publish(type, build) {
      const t0 = performance.now();
      let event: ReturnType<typeof build> | null = null;
      try {
        event = build();
        events.published.push(deps.publisher.publish(event).event_id);
        return event;
      } catch (err) {
        const reason = errorMessage(err, 500);
        events.rejected.push({ event_id: event?.event_id ?? null, event_type: type, reason });
        deps.logger.warn("event not accepted", {
          event_type: type,
          camera_id: deps.cameraId,
          reason,
        });
        return null;
      } finally {
        ms += performance.now() - t0;
      }
    },
    events,
    get ms() {
      return ms;
    },
  };
}
