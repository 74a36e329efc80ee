/**
 * A camera's scene state, held by its {@link CameraRecord} and dropped with it: the camera's
 * settings (configured, else the default face rules), its motion mask, tracker, per-track face
 * identities and rules engine. Built on the camera's first frame from the settings.
 *
 * Inherited tracks: a camera record is new on its first frame here — a camera that just moved
 * from another replica, or came back after going idle. Tracks first seen within
 * {@link INHERIT_WINDOW_MS} of the record's first detected frame were already in view: they do
 * not raise `enter`, and their other alerts are checked against other replicas' marks
 * (shared/alerts/alert_keys.ts). The set holds live track ids only.
 *
 * @module
 */
import type { CameraSettings } from "../camera_settings.ts";
import type { Config } from "../config.ts";
import { createTrackIdentities, type TrackIdentities } from "../faces/track_identity.ts";
import { cameraSettingsFor } from "../rules/camera_rules.ts";
import { createMotionMask, type MotionMask } from "../rules/motion_mask.ts";
import { createRulesEngine, type RulesEngine } from "../rules/rules_engine.ts";
import { createTracker, type Tracker } from "../tracking/tracker.ts";

/** Tracks first seen this long (ms) after a record's first detected frame count as inherited. */
export const INHERIT_WINDOW_MS = 2000;

/** The settings sections a camera scene is built from. */
export type SceneSettings = Pick<Config, "cameras" | "faces" | "tracker">;

/** Per-camera scene state. */
export interface CameraScene {
  readonly settings: CameraSettings;
  readonly motionMask: MotionMask;
  /** Null when `tracker.enabled` is false (no track ids, faces every frame, no rule alerts). */
  readonly tracker: Tracker | null;
  readonly identities: TrackIdentities;
  readonly rules: RulesEngine;
  /** Who holds this record's alert marks: unique per record, across replicas and restarts. */
  readonly holder: string;
  /** Capture time (ms) of the first frame the detector ran on; null before. */
  startedMs: number | null;
  /** Live tracks that were in view when the record started. */
  readonly inherited: Set<number>;
}

/** Builds the scene of `cameraId` from the settings. */
export function createCameraScene(
  settings: SceneSettings,
  cameraId: string,
  personClass: string,
): CameraScene {
  const camera = cameraSettingsFor(
    settings.cameras,
    cameraId,
    settings.faces.alert_cooldown_seconds,
  );
  const faces = settings.faces;
  return {
    settings: camera,
    motionMask: createMotionMask(camera.masks),
    tracker: settings.tracker.enabled ? createTracker(settings.tracker) : null,
    identities: createTrackIdentities({
      reverifySeconds: faces.reverify_seconds,
      retrySeconds: faces.retry_seconds,
      maxSearchesPerFrame: faces.max_searches_per_frame,
      personClass,
    }),
    rules: createRulesEngine({ cameraId, settings: camera }),
    holder: crypto.randomUUID(),
    startedMs: null,
    inherited: new Set(),
  };
}
