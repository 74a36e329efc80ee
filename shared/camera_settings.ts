/**
 * Per-camera settings: zones, motion masks, alert rules and score thresholds. One zod schema
 * used by the service config (`cameras.<camera_id>`) and by the intake sidecar's
 * `cameras.yaml`, so both accept exactly the same document. A leaf module (zod only), like
 * `camera_id.ts`, so the config schema can embed it.
 *
 * Geometry is normalised: `[x, y]` with 0..1 across the frame's width and height, (0, 0) the
 * top-left corner, so one polygon fits every resolution a camera streams at.
 *
 * Invariants checked here: every polygon has 3 to 100 points inside the unit square; a
 * rule's `zone` names a zone of the same camera; rule ids are unique per camera; a `dwell`
 * rule has `min_dwell_seconds > 0`.
 *
 * @module
 */
import { z } from "zod";

const unit = z.number().min(0, "coordinates are normalised: 0..1").max(
  1,
  "coordinates are normalised: 0..1",
);

/** A point `[x, y]` in normalised frame coordinates. */
export const NormalizedPointSchema = z.tuple([unit, unit]);

/** A closed polygon (the last point connects to the first). */
export const PolygonSchema = z.array(NormalizedPointSchema).min(
  3,
  "a polygon needs at least 3 points",
).max(100, "a polygon has at most 100 points");
/** A polygon in normalised coordinates. */
export type Polygon = z.infer<typeof PolygonSchema>;

/** Names of zones and ids of rules: like camera ids, safe in keys, labels and URLs. */
export const NameSchema = z.string().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  "names are 1-64 of [A-Za-z0-9_.-], starting with a letter or digit",
);

/** What makes a rule fire. */
export const RULE_TRIGGERS = ["enter", "dwell", "unknown_face", "unauthorized_face"] as const;
/** A rule trigger. */
export type RuleTrigger = typeof RULE_TRIGGERS[number];

/** One alert rule of a camera. */
export const RuleSchema = z.strictObject({
  /** Unique per camera; named by the Alert event. */
  id: NameSchema,
  /** Object classes it applies to; empty: every class. */
  classes: z.array(z.string().min(1)).default([]),
  /** Zone whose polygon must hold the box's bottom-centre; null: the whole frame. */
  zone: NameSchema.nullable().default(null),
  /** `enter`: a track comes into the zone; `dwell`: stays `min_dwell_seconds`; face rules:
   * a person track whose face is unknown / known but not authorised. */
  on: z.enum(RULE_TRIGGERS),
  /** Seconds a track must stay in the zone (`dwell`). */
  min_dwell_seconds: z.number().min(0).default(0),
  /** Smallest detection score that can fire the rule. */
  min_score: z.number().min(0).max(1).default(0),
  /** Seconds between two alerts of this rule for the same track. */
  cooldown_seconds: z.number().min(0).default(60),
});
/** An alert rule. */
export type Rule = z.infer<typeof RuleSchema>;

/** Settings of one camera. */
export const CameraSettingsSchema = z.strictObject({
  /** Named zones. */
  zones: z.record(NameSchema, PolygonSchema).default({}),
  /** Motion masks: changes inside them never count as motion. */
  masks: z.array(PolygonSchema).default([]),
  /** Alert rules, evaluated on every tracked frame. */
  rules: z.array(RuleSchema).default([]),
  /** Detector score threshold for this camera (default: `detector.score_threshold`). */
  score_threshold: z.number().min(0).max(1).optional(),
  /** Per-class thresholds for this camera, over `detector.class_thresholds`. */
  class_thresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
}).superRefine((camera, ctx) => {
  const seen = new Set<string>();
  camera.rules.forEach((rule, i) => {
    if (seen.has(rule.id)) {
      ctx.addIssue({ code: "custom", path: ["rules", i, "id"], message: "duplicate rule id" });
    }
    seen.add(rule.id);
    if (rule.zone !== null && !(rule.zone in camera.zones)) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", i, "zone"],
        message: `no zone named ${rule.zone} on this camera`,
      });
    }
    if (rule.on === "dwell" && rule.min_dwell_seconds <= 0) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", i, "min_dwell_seconds"],
        message: "a dwell rule needs min_dwell_seconds > 0",
      });
    }
  });
});
/** Validated settings of one camera. */
export type CameraSettings = z.infer<typeof CameraSettingsSchema>;

/** Settings of a camera with nothing configured. */
export function defaultCameraSettings(): CameraSettings {
  return CameraSettingsSchema.parse({});
}
