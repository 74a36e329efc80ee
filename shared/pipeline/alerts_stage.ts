/**
 * Stage 7, alerts: publishes the rule alerts of one frame (from the camera's rules engine),
 * each as an Alert event with its snapshot.
 *
 * Per alert, in order:
 * 1. de-duplication across replicas (shared/alerts/alert_keys.ts): a face alert is claimed
 *    under its face id for the rule's cooldown; any other alert of a track inherited by this
 *    camera record is dropped when another record marked the object's place. A lost claim or a
 *    foreign mark means another replica already raised it: the alert is dropped (its
 *    cooldown stays started, as if raised);
 * 2. the event is built (`snapshot_url` naming its own id) and published — a frame's alerts
 *    together, sharing one write-ahead-log commit; refused: the rules engine's cooldown is
 *    undone and the claim released, so the next frame may raise it;
 * 3. accepted: the object's place is marked for other replicas, the camera's last alert noted,
 *    and the snapshot rendered and stored *off the frame's path*: the frame's pixels are copied
 *    and the box drawn before the frame answers (the frame may be reused afterwards), the JPEG
 *    encoding and the store write run in the background ({@link AlertsStageDeps.background}),
 *    their failures logged. A client that fetches `snapshot_url` within milliseconds of the
 *    event may get a 404 it can retry.
 *
 * @module
 */
import { type AlertDeduper } from "../alerts/alert_dedup.ts";
import { alertKeys } from "../alerts/alert_keys.ts";
import { errorMessage } from "../errors.ts";
import type { AlertEvent } from "../events.ts";
import type { Logger } from "../logger.ts";
import { createRuleAlertEvent } from "../rules/alert_event.ts";
import type { RuleAlert } from "../rules/rules_engine.ts";
import { renderSnapshot, type SnapshotFrame } from "../snapshots/render_snapshot.ts";
import { type SnapshotStore, snapshotUrl } from "../snapshots/snapshot_store.ts";
import type { CameraRecord } from "./camera_registry.ts";
import type { EventRecorder } from "./event_recorder.ts";

/** Where and how snapshots are kept. */
export interface SnapshotSettings {
  readonly store: SnapshotStore;
  /** JPEG quality 1-100. */
  readonly quality: number;
  /** Prefix of `snapshot_url` (`snapshots.base_url`). */
  readonly baseUrl?: string;
}

/** Dependencies of {@link runAlertsStage}. */
export interface AlertsStageDeps {
  /** Claims and marks in the shared cache; null: no cross-replica de-duplication. */
  readonly deduper: AlertDeduper | null;
  /** Null when `snapshots.enabled` is false. */
  readonly snapshots: SnapshotSettings | null;
  /** Hands background work (snapshot encoding and storing) to the pipeline, which awaits it. */
  readonly background: (work: Promise<void>) => void;
  readonly logger: Logger;
}

/** The frame the alerts belong to. */
export interface AlertsFrame {
  readonly frameNumber: number;
  readonly frame: SnapshotFrame;
  /** Frame size in the pixels of the boxes. */
  readonly width: number;
  readonly height: number;
}

/** Publishes `alerts` through `recorder`; resolves to the accepted Alert events. */
export async function runAlertsStage(
  deps: AlertsStageDeps,
  camera: CameraRecord,
  frame: AlertsFrame,
  alerts: readonly RuleAlert[],
  recorder: EventRecorder,
): Promise<AlertEvent[]> {
  if (alerts.length === 0) return [];
  const scene = camera.scene;
  const { deduper, snapshots } = deps;
  const keyed = alerts.map((alert) => ({
    alert,
    cooldownMs: cooldownOf(scene.settings.rules, alert.rule_id),
    keys: alertKeys({
      cameraId: camera.id,
      ruleId: alert.rule_id,
      className: alert.class_name,
      faceId: alert.face_id,
      bbox: alert.bbox,
      frameWidth: frame.width,
      frameHeight: frame.height,
    }),
  }));
  // Claims of one frame go to the cache together, then alerts are published in order.
  const allowed = await Promise.all(keyed.map(({ alert, cooldownMs, keys }) => {
    if (!deduper || cooldownMs <= 0) return true;
    if (keys.kind === "face") return deduper.claim(keys.claim, cooldownMs);
    if (!scene.inherited.has(alert.track_id)) return true;
    return deduper.heldByOthers(keys.around, scene.holder).then((held) => !held);
  }));

  // Published together (one write-ahead-log commit), handled as each is accepted or refused.
  const published = await Promise.all(keyed.map(async ({ alert, cooldownMs, keys }, i) => {
    if (!allowed[i]) {
      deps.logger.debug("alert already raised by another replica", {
        camera_id: camera.id,
        rule_id: alert.rule_id,
        track_id: alert.track_id,
      });
      return null;
    }
    const event = await recorder.publish("alert", () =>
      createRuleAlertEvent(alert, {
        camera_id: camera.id,
        frame_number: frame.frameNumber,
        snapshotUrl: snapshots ? (id) => snapshotUrl(id, snapshots.baseUrl) : undefined,
      }));
    if (!event) {
      scene.rules.refused(alert);
      if (deduper && keys.kind === "face" && cooldownMs > 0) void deduper.release(keys.claim);
      return null;
    }
    if (deduper && keys.kind === "cell" && cooldownMs > 0) {
      deps.background(deduper.mark(keys.mark, scene.holder, cooldownMs));
    }
    if (snapshots) deps.background(storeSnapshot(deps.logger, snapshots, frame, event));
    return event;
  }));
  const accepted = published.filter((e): e is AlertEvent => e !== null);
  const last = accepted.at(-1);
  if (last) {
    camera.lastAlert = {
      event_id: last.event_id,
      alert_type: last.alert_type,
      rule_id: last.rule_id ?? null,
      timestamp: last.timestamp,
    };
  }
  return accepted;
}

function cooldownOf(rules: readonly { id: string; cooldown_seconds: number }[], id: string) {
  return (rules.find((r) => r.id === id)?.cooldown_seconds ?? 0) * 1000;
}

/** Starts the snapshot of `event`: pixels copied now, encoded and stored in the background. */
function storeSnapshot(
  logger: Logger,
  snapshots: SnapshotSettings,
  frame: AlertsFrame,
  event: AlertEvent,
): Promise<void> {
  const fail = (err: unknown) =>
    logger.warn("alert snapshot not stored", {
      camera_id: event.camera_id,
      event_id: event.event_id,
      reason: errorMessage(err),
    });
  let rendering: Promise<Uint8Array>;
  try {
    // renderSnapshot copies the pixels and draws the box before its first await.
    rendering = renderSnapshot(frame.frame, event.bbox!, { quality: snapshots.quality });
  } catch (err) {
    fail(err);
    return Promise.resolve();
  }
  return rendering
    .then((jpeg) => snapshots.store.put(event.event_id, jpeg))
    .then((kept) => {
      if (!kept) fail(new Error("larger than snapshots.max_bytes"));
    })
    .catch(fail);
}
