/**
 * Stage 6, alerts: each face that is not authorised raises an Alert, at most once per camera
 * and face per cooldown (unknown faces of a camera share one cooldown), so a loitering
 * stranger does not flood the alert topic. The cooldown starts only when the publisher accepts
 * the alert: a refused alert (full queue) must not silence the next frame's alert.
 * Cooldowns live in the camera's record and go with it when the camera goes idle.
 *
 * @module
 */
import { createAlertEvent, type FaceRecognitionEvent } from "../events.ts";
import type { CameraRecord } from "./camera_registry.ts";
import type { EventRecorder } from "./event_recorder.ts";

/** Dependencies of {@link runAlertsStage}. */
export interface AlertsStageDeps {
  /** Seconds between two alerts for the same camera and face. */
  readonly cooldownSeconds: number;
  /** Clock in ms. */
  readonly now: () => number;
}

/** What identifies the frame in its alerts. */
export interface AlertBase {
  readonly camera_id: string;
  readonly frame_number: number;
  readonly timestamp: string;
}

// Expired cooldowns are swept once a camera holds this many.
const SWEEP_AT = 1000;

/** Raises the alerts of one frame's faces through `recorder`; returns how many were accepted. */
export async function runAlertsStage(
  deps: AlertsStageDeps,
  camera: CameraRecord,
  faces: readonly FaceRecognitionEvent[],
  base: AlertBase,
  recorder: EventRecorder,
): Promise<number> {
  const t = deps.now();
  const cooldownMs = deps.cooldownSeconds * 1000;
  const cooldowns = camera.alertCooldowns;
  const thisFrame = new Set<string>();
  // Started together so they share one write-ahead-log commit; cooldowns start on acceptance.
  const pending: Promise<boolean>[] = [];
  for (const f of faces) {
    if (f.authorized) continue;
    const key = f.face_id ?? "";
    if (thisFrame.has(key)) continue;
    const last = cooldowns.get(key);
    if (last !== undefined && t - last < cooldownMs) continue;
    thisFrame.add(key);
    const known = f.face_id !== null;
    pending.push(
      recorder.publish("alert", () =>
        createAlertEvent({
          ...base,
          alert_type: known ? "unauthorized_face" : "unknown_face",
          severity: "warning",
          message: known
            ? `face ${f.face_id} is not authorised on camera ${base.camera_id}`
            : `unknown face on camera ${base.camera_id}`,
          face_id: f.face_id,
        })).then((alert) => {
          if (alert) cooldowns.set(key, t);
          return alert !== null;
        }),
    );
  }
  const accepted = (await Promise.all(pending)).filter(Boolean).length;
  if (cooldowns.size > SWEEP_AT) {
    for (const [k, v] of cooldowns) if (t - v >= cooldownMs) cooldowns.delete(k);
  }
  return accepted;
}
