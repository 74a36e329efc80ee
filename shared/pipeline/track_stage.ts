/**
 * Stage 2b, tracking: the camera's own thresholds, then its tracker, giving every detection a
 * `track_id` and the frame its track lifecycle.
 *
 * With the tracker on, the detector runs at `min(detector.score_threshold,
 * tracker.low_threshold)` (see app.ts) so the tracker's second association sees the low-score
 * boxes of half-occluded objects. What the frame reports (response, events, cache) is still
 * what passes `detector.score_threshold` / `detector.class_thresholds`, plus the low-score
 * boxes that carry a confirmed track's id — an occluded person keeps showing.
 *
 * @module
 */
import type { Detection, TrackLifecycle } from "../events.ts";
import { applyCameraThresholds } from "../rules/camera_thresholds.ts";
import { trackLifecycles } from "../tracking/lifecycle.ts";
import type { TrackSnapshot } from "../tracking/tracker.ts";
import { type CameraScene, INHERIT_WINDOW_MS } from "./camera_scene.ts";

/** Dependencies of {@link runTrackStage}. */
export interface TrackStageDeps {
  /** Smallest score reported (`detector.score_threshold`). */
  readonly scoreThreshold: number;
  /** Per-class smallest scores reported (`detector.class_thresholds`). */
  readonly classThresholds: Readonly<Record<string, number>>;
}

/** The tracked detections of one frame. */
export interface TrackStageResult {
  /** What the frame reports, each with `track_id` (null: no confirmed track). */
  readonly detections: Detection[];
  /** Confirmed live tracks after this frame (empty without a tracker). */
  readonly tracks: readonly TrackSnapshot[];
  /** Ids of the tracks that ended in this frame. */
  readonly ended: readonly number[];
  /** The MotionDetection event's `tracks`; undefined without a tracker. */
  readonly lifecycles: TrackLifecycle[] | undefined;
  readonly ms: number;
}

/** Tracks one frame's detections (`timestampMs`: capture time). */
export function runTrackStage(
  deps: TrackStageDeps,
  scene: CameraScene,
  detections: readonly Detection[],
  timestampMs: number,
): TrackStageResult {
  const t0 = performance.now();
  const own = applyCameraThresholds(detections, scene.settings);
  const tracker = scene.tracker;
  if (!tracker) {
    return { detections: own, tracks: [], ended: [], lifecycles: undefined, ms: 0 };
  }
  scene.startedMs ??= timestampMs;
  const update = tracker.update(own, timestampMs);
  const inheritedUntil = scene.startedMs + INHERIT_WINDOW_MS;
  for (const t of update.tracks) {
    if (t.phase === "new" && t.first_seen_ms <= inheritedUntil) scene.inherited.add(t.track_id);
  }
  const ended = update.ended.map((t) => t.track_id);
  for (const id of ended) scene.inherited.delete(id);
  const shown: Detection[] = [];
  for (const d of update.detections) {
    const min = deps.classThresholds[d.class_name] ?? deps.scoreThreshold;
    if (d.score >= min || d.track_id !== null) shown.push(d);
  }
  return {
    detections: shown,
    tracks: update.tracks,
    ended,
    lifecycles: trackLifecycles(update),
    ms: performance.now() - t0,
  };
}

/**
 * The detector settings to load the detector with: with the tracker on, its score and class
 * thresholds lowered to `tracker.low_threshold` so the tracker's second association gets the
 * low-score boxes ({@link runTrackStage} filters what the frame reports back up).
 */
export function detectorSettingsForTracking<
  D extends { score_threshold: number; class_thresholds: Record<string, number> },
>(detector: D, tracker: { enabled: boolean; low_threshold: number }): D {
  if (!tracker.enabled) return detector;
  const low = tracker.low_threshold;
  const classThresholds: Record<string, number> = {};
  for (const [name, t] of Object.entries(detector.class_thresholds)) {
    classThresholds[name] = Math.min(t, low);
  }
  return {
    ...detector,
    score_threshold: Math.min(detector.score_threshold, low),
    class_thresholds: classThresholds,
  };
}
