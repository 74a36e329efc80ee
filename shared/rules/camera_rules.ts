/**
 * The settings a camera runs with: its entry under `cameras`, or — for a camera nobody
 * configured — no zones and the two face rules FESS always had (an alert for each unknown or
 * unauthorised face, per track, every `faces.alert_cooldown_seconds`).
 *
 * @module
 */
import { type CameraSettings, CameraSettingsSchema } from "../camera_settings.ts";

/** Settings of `cameraId`: configured, else the default face rules. */
export function cameraSettingsFor(
  cameras: Readonly<Record<string, CameraSettings>>,
  cameraId: string,
  faceAlertCooldownSeconds: number,
): CameraSettings {
  const configured = Object.hasOwn(cameras, cameraId) ? cameras[cameraId] : undefined;
  if (configured) return configured;
  return CameraSettingsSchema.parse({
    rules: [
      { id: "unknown_face", on: "unknown_face", cooldown_seconds: faceAlertCooldownSeconds },
      {
        id: "unauthorized_face",
        on: "unauthorized_face",
        cooldown_seconds: faceAlertCooldownSeconds,
      },
    ],
  });
}
