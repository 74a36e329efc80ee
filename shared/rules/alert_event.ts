/**
 * A rule alert as the Alert event published on the alert topic: `alert_type` is the rule's
 * trigger (`enter`, `dwell`, `unknown_face`, `unauthorized_face`), `timestamp` and
 * `captured_at` are the frame's capture time, and `snapshot_url` points at the snapshot stored
 * under the event's own id (built once the id exists, hence the callback).
 *
 * @module
 */
import { type AlertEvent, AlertEventSchema, createAlertEvent } from "../events.ts";
import type { RuleAlert } from "./rules_engine.ts";

/** Where an alert happened. */
export interface AlertEventContext {
  readonly camera_id: string;
  readonly frame_number: number;
  /** The snapshot URL of an event id; absent: the event has no snapshot. */
  readonly snapshotUrl?: (eventId: string) => string;
}

/** Builds the validated Alert event of a rule alert. */
export function createRuleAlertEvent(alert: RuleAlert, ctx: AlertEventContext): AlertEvent {
  const captured = new Date(alert.captured_at_ms).toISOString();
  const event = createAlertEvent({
    camera_id: ctx.camera_id,
    frame_number: ctx.frame_number,
    timestamp: captured,
    alert_type: alert.on,
    severity: alert.on === "unauthorized_face" ? "critical" : "warning",
    message: alert.message.slice(0, 1024),
    face_id: alert.face_id,
    rule_id: alert.rule_id,
    track_id: alert.track_id,
    zone: alert.zone,
    object_class: alert.class_name,
    score: alert.score,
    bbox: alert.bbox,
    ...(alert.dwell_seconds === null ? {} : { dwell_seconds: alert.dwell_seconds }),
    captured_at: captured,
    snapshot_url: null,
  });
  if (!ctx.snapshotUrl) return event;
  return AlertEventSchema.parse({ ...event, snapshot_url: ctx.snapshotUrl(event.event_id) });
}
