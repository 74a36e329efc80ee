/**
 * Per-camera settings the service also understands (detector input size, class thresholds,
 * zones). The service-side schema is defined with the tracking and rules work; until it lands
 * this placeholder accepts a mapping and passes it through untouched, so a `cameras.yaml`
 * written today keeps its `settings:` blocks. The sidecar never interprets them itself.
 *
 * MERGE POINT: replace {@link CameraServiceSettingsSchema} by the service's per-camera schema
 * (import it here); nothing else in `cameras/` depends on its shape.
 *
 * @module
 */
import { z } from "zod";

/** Per-camera service settings: placeholder, a string-keyed mapping passed through as is. */
export const CameraServiceSettingsSchema: z.ZodType<Readonly<Record<string, unknown>>> = z
  .record(z.string(), z.unknown())
  .describe("per-camera service settings (schema owned by the service)");

/** Per-camera service settings as validated by {@link CameraServiceSettingsSchema}. */
export type CameraServiceSettings = z.infer<typeof CameraServiceSettingsSchema>;
