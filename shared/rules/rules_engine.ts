/**
 * A camera's alert rules over tracked objects. Given one frame's tracks (and the identities
 * faces gave them), it returns the alerts to publish:
 *
 * - `enter`: a track comes into the rule's zone (or, without a zone, into the frame). It fires
 *   once per entry: leaving and coming back arms it again;
 * - `dwell`: a track has stayed in the zone for `min_dwell_seconds` (time by capture
 *   timestamps; frames where the track is lost do not reset it, being seen outside does);
 * - `unknown_face` / `unauthorized_face`: a track whose face was seen and not matched /
 *   matched a face that is not authorised.
 *
 * A rule applies to tracks of its `classes` whose detection score is at least `min_score`.
 * Zones test the box's bottom-centre. Cooldown is per (rule, track) — the engine is per
 * camera — so two strangers give two alerts and one loiterer one alert per cooldown; the
 * cooldown starts when an alert is returned, and {@link RulesEngine.refused} undoes that when
 * the publisher did not take the alert, so the next frame may raise it again.
 *
 * State is per live track and is dropped when the tracker ends the track; it is also capped
 * (`maxTracks`, least recently seen evicted) so a caller that forgets to pass ended tracks
 * cannot grow it without bound.
 *
 * @module
 */
import type { CameraSettings, Rule, RuleTrigger } from "../camera_settings.ts";
import type { BoundingBox } from "../events.ts";
import { bottomCentre, type FlatPolygon, flattenPolygon, pointInPolygon } from "./polygon.ts";

/** What the engine reads of a track (a tracker `TrackSnapshot` fits). */
export interface RuleTrack {
  readonly track_id: number;
  readonly class_name: string;
  /** Only `new` and `update` tracks (seen in this frame) are evaluated. */
  readonly phase: "new" | "update" | "lost" | "end";
  readonly score: number;
  readonly bbox: BoundingBox;
}

/** What the engine reads of a track's face identity (faces' `TrackIdentity` fits). */
export interface RuleIdentity {
  /** `known`: matched a gallery face; `unknown`: a face was seen and matched nobody. */
  readonly status: "known" | "unknown";
  readonly face_id: string | null;
  readonly name: string | null;
  readonly authorized: boolean;
}

/** One frame's input. */
export interface RulesInput {
  /** The camera's confirmed tracks after this frame. */
  readonly tracks: readonly RuleTrack[];
  /** Ids of tracks that ended in this frame: their state is dropped. */
  readonly ended?: readonly number[];
  /** Face identities by track id. */
  readonly identities?: ReadonlyMap<number, RuleIdentity>;
  /**
   * Tracks that were already in view when the camera's record started (e.g. after the camera
   * moved to this replica): their first sighting does not arm `enter` — they did not enter
   * while watched. Leaving a zone and coming back arms it as usual.
   */
  readonly present?: ReadonlySet<number>;
  /** Frame size in the pixels of the boxes. */
  readonly frameWidth: number;
  readonly frameHeight: number;
  /** The frame's capture time, epoch ms. */
  readonly timestampMs: number;
}

/** An alert to publish. */
export interface RuleAlert {
  readonly rule_id: string;
  readonly on: RuleTrigger;
  readonly track_id: number;
  /** The rule's zone, or null for the whole frame. */
  readonly zone: string | null;
  readonly class_name: string;
  readonly score: number;
  readonly bbox: BoundingBox;
  /** Capture time of the frame that fired, epoch ms. */
  readonly captured_at_ms: number;
  /** Seconds in the zone (dwell), else null. */
  readonly dwell_seconds: number | null;
  /** Face of the track (face rules), else null. */
  readonly face_id: string | null;
  readonly face_name: string | null;
  /** A sentence for operators. */
  readonly message: string;
}

/** Options of {@link createRulesEngine}. */
export interface RulesEngineOptions {
  /** Camera the engine belongs to (for messages). */
  readonly cameraId: string;
  /** The camera's settings. */
  readonly settings: CameraSettings;
  /** Most tracks with state (default 4096). */
  readonly maxTracks?: number;
}

/** A camera's rules engine. */
export interface RulesEngine {
  /** Evaluates one frame, returning the alerts to publish (their cooldowns started). */
  evaluate(input: RulesInput): RuleAlert[];
  /** Undoes the cooldown of an alert the publisher refused. */
  refused(alert: RuleAlert): void;
  /** Tracks with state. */
  readonly size: number;
}

interface TrackState {
  /** Zone name -> capture time (ms) the track was first seen inside, while inside. */
  readonly inside: Map<string, number>;
  /** Rule id -> time of its last alert for this track. */
  readonly lastAlert: Map<string, number>;
  /** `enter` rules waiting for their alert (armed on entry, disarmed when fired). */
  readonly armed: Set<string>;
  seenMs: number;
}

const FRAME = "\u0000frame"; // the pseudo-zone of rules without one

/** Creates the rules engine of one camera. */
export function createRulesEngine(options: RulesEngineOptions): RulesEngine {
  const { cameraId, settings } = options;
  const maxTracks = options.maxTracks ?? 4096;
  const rules: readonly Rule[] = settings.rules;
  // Only zones some rule uses are tested.
  const zones = new Map<string, FlatPolygon>();
  for (const r of rules) {
    if (r.zone !== null && !zones.has(r.zone)) {
      const polygon = settings.zones[r.zone];
      if (!polygon) throw new RangeError(`rule ${r.id} names unknown zone ${r.zone}`);
      zones.set(r.zone, flattenPolygon(polygon));
    }
  }
  const states = new Map<number, TrackState>();

  const stateOf = (id: number, ts: number): TrackState => {
    let st = states.get(id);
    if (st) {
      // Re-inserting keeps the map in least-recently-seen order for eviction.
      states.delete(id);
    } else {
      if (states.size >= maxTracks) states.delete(states.keys().next().value!);
      st = { inside: new Map(), lastAlert: new Map(), armed: new Set(), seenMs: ts };
    }
    st.seenMs = ts;
    states.set(id, st);
    return st;
  };

  const cooledDown = (st: TrackState, rule: Rule, ts: number): boolean => {
    const last = st.lastAlert.get(rule.id);
    // A capture clock that went backwards must not silence the rule until it catches up.
    return last === undefined || ts < last || ts - last >= rule.cooldown_seconds * 1000;
  };

  const describe = (
    rule: Rule,
    t: RuleTrack,
    zone: string | null,
    dwell: number | null,
    id?: RuleIdentity,
  ): string => {
    const what = `${t.class_name} ${t.track_id}`;
    const where = zone === null ? `on camera ${cameraId}` : `in zone ${zone} on camera ${cameraId}`;
    switch (rule.on) {
      case "enter":
        return zone === null
          ? `${what} appeared on camera ${cameraId}`
          : `${what} entered zone ${zone} on camera ${cameraId}`;
      case "dwell":
        return `${what} has stayed ${Math.round(dwell ?? 0)} s ${where}`;
      case "unknown_face":
        return `unknown face (${what}) ${where}`;
      case "unauthorized_face":
        return `face ${id?.face_id} (${id?.name ?? "no name"}, ${what}) is not authorised ${where}`;
    }
  };

  return {
    get size() {
      return states.size;
    },

    evaluate(input) {
      const ts = input.timestampMs;
      for (const id of input.ended ?? []) states.delete(id);
      const alerts: RuleAlert[] = [];
      if (rules.length === 0) return alerts;
      for (const t of input.tracks) {
        if (t.phase !== "new" && t.phase !== "update") continue;
        const isNew = !states.has(t.track_id);
        const arm = !(isNew && input.present?.has(t.track_id));
        const st = stateOf(t.track_id, ts);
        const [x, y] = bottomCentre(t.bbox, input.frameWidth, input.frameHeight);
        if (isNew) {
          st.inside.set(FRAME, ts);
          for (const r of rules) {
            if (arm && r.on === "enter" && r.zone === null) st.armed.add(r.id);
          }
        }
        for (const [name, poly] of zones) {
          const inside = pointInPolygon(poly, x, y);
          if (inside && !st.inside.has(name)) {
            st.inside.set(name, ts);
            for (const r of rules) {
              if (arm && r.on === "enter" && r.zone === name) st.armed.add(r.id);
            }
          } else if (!inside && st.inside.has(name)) {
            st.inside.delete(name);
            for (const r of rules) if (r.on === "enter" && r.zone === name) st.armed.delete(r.id);
          }
        }
        // A capture clock that went backwards restarts dwell times rather than freezing them.
        for (const [name, since] of st.inside) if (ts < since) st.inside.set(name, ts);
        const identity = input.identities?.get(t.track_id);
        for (const rule of rules) {
          if (rule.classes.length > 0 && !rule.classes.includes(t.class_name)) continue;
          if (t.score < rule.min_score) continue;
          const since = st.inside.get(rule.zone ?? FRAME);
          if (since === undefined) continue;
          const dwell = (ts - since) / 1000;
          let fire: boolean;
          switch (rule.on) {
            case "enter":
              fire = st.armed.has(rule.id);
              break;
            case "dwell":
              fire = dwell >= rule.min_dwell_seconds;
              break;
            case "unknown_face":
              fire = identity?.status === "unknown";
              break;
            case "unauthorized_face":
              fire = identity?.status === "known" && !identity.authorized;
              break;
          }
          if (!fire || !cooledDown(st, rule, ts)) continue;
          st.lastAlert.set(rule.id, ts);
          if (rule.on === "enter") st.armed.delete(rule.id);
          const faceRule = rule.on === "unknown_face" || rule.on === "unauthorized_face";
          alerts.push({
            rule_id: rule.id,
            on: rule.on,
            track_id: t.track_id,
            zone: rule.zone,
            class_name: t.class_name,
            score: t.score,
            bbox: t.bbox,
            captured_at_ms: ts,
            dwell_seconds: rule.on === "dwell" ? dwell : null,
            face_id: faceRule ? identity?.face_id ?? null : null,
            face_name: faceRule ? identity?.name ?? null : null,
            message: describe(rule, t, rule.zone, dwell, identity),
          });
        }
      }
      return alerts;
    },

    refused(alert) {
      const st = states.get(alert.track_id);
      if (!st || st.lastAlert.get(alert.rule_id) !== alert.captured_at_ms) return;
      st.lastAlert.delete(alert.rule_id);
      if (alert.on === "enter") st.armed.add(alert.rule_id);
    },
  };
}
