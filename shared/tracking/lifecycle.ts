/**
 * Track snapshots as they appear in events: the `tracks` field of a MotionDetection event
 * (shared/events.ts `TrackLifecycleSchema`), with times as ISO-8601 UTC.
 *
 * @module
 */
import type { TrackLifecycle } from "../events.ts";
import type { TrackerUpdate, TrackSnapshot } from "./tracker.ts";

/** One snapshot as an event entry. */
export function toTrackLifecycle(s: TrackSnapshot): TrackLifecycle {
  return {
    track_id: s.track_id,
    class_name: s.class_name,
    phase: s.phase,
    bbox: s.bbox,
    score: s.score,
    hits: s.hits,
    missed: s.missed,
    first_seen: new Date(s.first_seen_ms).toISOString(),
    last_seen: new Date(s.last_seen_ms).toISOString(),
  };
}

/** Every live track and every track ended by `update`, as event entries. */
export function trackLifecycles(update: TrackerUpdate): TrackLifecycle[] {
  return [...update.tracks, ...update.ended].map(toTrackLifecycle);
}
