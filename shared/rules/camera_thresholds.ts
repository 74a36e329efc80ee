/**
 * A camera's own score thresholds (`cameras.<id>.score_threshold` / `class_thresholds`),
 * applied to the detector's output for that camera before tracking. The detector has already
 * dropped what is below `detector.score_threshold` / `detector.class_thresholds`, so a
 * camera's thresholds can only raise the bar.
 *
 * @module
 */
import type { CameraSettings } from "../camera_settings.ts";
import type { Detection } from "../events.ts";

/** The detections of `detections` that pass the camera's thresholds (a new array). */
export function applyCameraThresholds(
  detections: readonly Detection[],
  camera: Pick<CameraSettings, "score_threshold" | "class_thresholds">,
): Detection[] {
  const base = camera.score_threshold ?? 0;
  const perClass = camera.class_thresholds;
  const out: Detection[] = [];
  for (const d of detections) {
    if (d.score >= (perClass[d.class_name] ?? base)) out.push(d);
  }
  return out;
}
