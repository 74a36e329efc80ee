/**
 * Multi-object tracker for one camera, after ByteTrack ("associating every detection box"):
 *
 * 1. every confirmed track (tracked or lost) is moved forward by its Kalman filter;
 * 2. high-score detections are matched to those tracks by IoU (Hungarian assignment; a pair
 *    needs IoU at least `match_iou`, and candidates rank by IoU·score as in ByteTrack);
 * 3. tracked tracks still unmatched get a second chance with the low-score detections
 *    (`low_threshold <= score < high_threshold`, IoU at least `low_match_iou`): an occluded
 *    person keeps its id through the frames where the detector is unsure;
 * 4. tentative tracks are matched with the high-score detections left; a tentative track is
 *    confirmed after `min_hits` consecutive hits, and removed on its first miss;
 * 5. high-score detections left over (score at least `new_track_threshold`) start tentative
 *    tracks; confirmed tracks unmatched for more than `max_missed` updates end.
 *
 * Invariants: a track only ever matches detections of its own class; ids are positive
 * integers handed out in increasing order per tracker on confirmation and never reused, so a
 * short-lived false positive does not use one up; the number of live tracks never exceeds
 * `max_tracks` (the most-missed lost track makes room, else the new one is not started).
 * All state lives in the returned object: the pipeline's per-camera record holds it.
 *
 * `update` is meant for frames the detector ran on: misses are counted in updates, not time.
 *
 * @module
 */
import type { BoundingBox, Detection } from "../events.ts";
import { assign } from "./assignment.ts";
import { createKalmanFilter, type KalmanState } from "./kalman.ts";

/** Tracker settings (the `tracker` section of the config). */
export interface TrackerSettings {
  /** Detections at least this confident take part in the first association. */
  readonly high_threshold: number;
  /** Detections below this are ignored; between it and `high_threshold`: second association. */
  readonly low_threshold: number;
  /** Smallest score of an unmatched detection that starts a track. */
  readonly new_track_threshold: number;
  /** Smallest IoU (score-weighted) of a first-association match. */
  readonly match_iou: number;
  /** Smallest IoU of a second-association (low-score) match. */
  readonly low_match_iou: number;
  /** Consecutive updates a confirmed track may go unmatched before it ends. */
  readonly max_missed: number;
  /** Hits that confirm a track (1: confirmed on its first detection). */
  readonly min_hits: number;
  /** Most live tracks (tentative, tracked, lost) per camera. */
  readonly max_tracks: number;
}

/** Smallest IoU between a tentative track and a detection (ByteTrack's 0.7 cost limit). */
const TENTATIVE_MATCH_IOU = 0.3;

/** What happened to a confirmed track in one update. */
export type TrackPhase = "new" | "update" | "lost" | "end";

/** A confirmed track as seen after one update. */
export interface TrackSnapshot {
  /** Stable id within the camera (positive, never reused). */
  readonly track_id: number;
  /** Class of every detection of the track. */
  readonly class_id: number;
  /** Class name. */
  readonly class_name: string;
  /** `new`: confirmed this update; `update`: matched; `lost`: not matched; `end`: removed. */
  readonly phase: TrackPhase;
  /** Matched detection's box (`new`, `update`), else the predicted box. */
  readonly bbox: BoundingBox;
  /** Score of the last matched detection. */
  readonly score: number;
  /** Index of the matched detection in this update's input, or -1. */
  readonly detection_index: number;
  /** Detections matched over the track's life. */
  readonly hits: number;
  /** Updates since the track was started. */
  readonly age: number;
  /** Consecutive updates without a match. */
  readonly missed: number;
  /** Timestamp (ms) of the track's first detection. */
  readonly first_seen_ms: number;
  /** Timestamp (ms) of its last matched detection. */
  readonly last_seen_ms: number;
}

/** A detection with its track id (null: not part of a confirmed track). */
export type TrackedDetection = Detection & { readonly track_id: number | null };

/** Result of {@link Tracker.update}. */
export interface TrackerUpdate {
  /** The input detections, same order, each with its `track_id`. */
  readonly detections: TrackedDetection[];
  /** Every live confirmed track: phase `new`, `update` or `lost`. */
  readonly tracks: TrackSnapshot[];
  /** Tracks removed by this update (phase `end`); their ids never come back. */
  readonly ended: TrackSnapshot[];
}

/** A per-camera tracker. */
export interface Tracker {
  /** Associates one frame's detections with the tracks; `timestampMs` is the capture time. */
  update(detections: readonly Detection[], timestampMs: number): TrackerUpdate;
  /** Ends every track (camera reset): returns them with phase `end`. */
  reset(): TrackSnapshot[];
  /** Live tracks of any state (tentative included), for metrics and bounds. */
  readonly size: number;
}

interface Track {
  id: number; // 0 while tentative
  classId: number;
  className: string;
  kf: KalmanState;
  state: "tentative" | "tracked" | "lost";
  hits: number;
  age: number;
  missed: number;
  score: number;
  bbox: BoundingBox;
  firstSeenMs: number;
  lastSeenMs: number;
  matchedIndex: number;
  confirmedNow: boolean;
}

/** Validates settings, throwing a RangeError naming the first bad one. */
function check(s: TrackerSettings): void {
  const unit = (name: keyof TrackerSettings) => {
    const v = s[name];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`tracker.${name} must be in [0, 1], got ${v}`);
  };
  unit("high_threshold");
  unit("low_threshold");
  unit("new_track_threshold");
  unit("match_iou");
  unit("low_match_iou");
  if (s.low_threshold > s.high_threshold) {
    throw new RangeError("tracker.low_threshold must not exceed tracker.high_threshold");
  }
  for (const name of ["max_missed", "min_hits", "max_tracks"] as const) {
    if (!Number.isInteger(s[name]) || s[name] < (name === "max_missed" ? 0 : 1)) {
      throw new RangeError(`tracker.${name} must be a positive integer, got ${s[name]}`);
    }
  }
}

/** IoU of two boxes given as corner coordinates. */
export function iou(a: BoundingBox, b: BoundingBox): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

function predictedBox(kf: KalmanState): BoundingBox {
  const m = kf.mean;
  const h = Math.max(1e-3, m[3]!);
  const w = Math.max(1e-3, m[2]! * h);
  return { x1: m[0]! - w / 2, y1: m[1]! - h / 2, x2: m[0]! + w / 2, y2: m[1]! + h / 2 };
}

/** Creates a tracker for one camera. */
export function createTracker(settings: TrackerSettings): Tracker {
  check(settings);
  const kalman = createKalmanFilter();
  let tracks: Track[] = [];
  let nextId = 1;

  const measure = (b: BoundingBox): [number, number, number, number] => {
    const w = Math.max(1e-3, b.x2 - b.x1);
    const h = Math.max(1e-3, b.y2 - b.y1);
    return [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, w / h, h];
  };

  const hit = (t: Track, d: Detection, index: number, ts: number) => {
    const [cx, cy, a, h] = measure(d.bbox);
    kalman.update(t.kf, cx, cy, a, h);
    t.hits++;
    t.missed = 0;
    t.score = d.score;
    t.bbox = d.bbox;
    t.lastSeenMs = ts;
    t.matchedIndex = index;
    if (t.state === "lost") t.state = "tracked";
  };

  /** Matches `pool` to detections `dets` (indices into `all`), returning the unmatched ones. */
  const associate = (
    pool: Track[],
    dets: number[],
    all: readonly Detection[],
    minIou: number,
    fuseScore: boolean,
    ts: number,
  ): { tracks: Track[]; dets: number[] } => {
    if (pool.length === 0 || dets.length === 0) return { tracks: pool, dets };
    const cost = new Float64Array(pool.length * dets.length);
    const limit = 1 - minIou;
    for (let i = 0; i < pool.length; i++) {
      const t = pool[i]!;
      const box = predictedBox(t.kf);
      for (let j = 0; j < dets.length; j++) {
        const d = all[dets[j]!]!;
        if (d.class_id !== t.classId) {
          cost[i * dets.length + j] = limit;
          continue;
        }
        const overlap = iou(box, d.bbox);
        // Plain IoU decides admissibility; within it, the score-weighted IoU ranks candidates
        // (ByteTrack's fuse_score), kept below the limit so an admissible pair stays so.
        cost[i * dets.length + j] = overlap < minIou
          ? limit
          : fuseScore
          ? Math.min(1 - overlap * d.score, limit - 1e-9)
          : Math.min(1 - overlap, limit - 1e-9);
      }
    }
    const { rowToCol, colToRow } = assign(cost, pool.length, dets.length, limit);
    const leftTracks: Track[] = [];
    for (let i = 0; i < pool.length; i++) {
      const j = rowToCol[i]!;
      if (j < 0) leftTracks.push(pool[i]!);
      else hit(pool[i]!, all[dets[j]!]!, dets[j]!, ts);
    }
    const leftDets: number[] = [];
    for (let j = 0; j < dets.length; j++) if (colToRow[j]! < 0) leftDets.push(dets[j]!);
    return { tracks: leftTracks, dets: leftDets };
  };

  const snapshot = (t: Track, phase: TrackPhase): TrackSnapshot => ({
    track_id: t.id,
    class_id: t.classId,
    class_name: t.className,
    phase,
    bbox: phase === "new" || phase === "update" ? t.bbox : predictedBox(t.kf),
    score: t.score,
    detection_index: phase === "new" || phase === "update" ? t.matchedIndex : -1,
    hits: t.hits,
    age: t.age,
    missed: t.missed,
    first_seen_ms: t.firstSeenMs,
    last_seen_ms: t.lastSeenMs,
  });

  const confirm = (t: Track) => {
    t.state = "tracked";
    t.id = nextId++;
    t.confirmedNow = true;
  };

  return {
    get size() {
      return tracks.length;
    },

    update(detections, ts) {
      if (!Number.isFinite(ts)) throw new RangeError(`timestamp must be finite, got ${ts}`);
      const high: number[] = [];
      const low: number[] = [];
      for (let i = 0; i < detections.length; i++) {
        const s = detections[i]!.score;
        if (s >= settings.high_threshold) high.push(i);
        else if (s >= settings.low_threshold) low.push(i);
      }
      const confirmed: Track[] = [];
      const tentative: Track[] = [];
      for (const t of tracks) {
        t.age++;
        t.matchedIndex = -1;
        t.confirmedNow = false;
        kalman.predict(t.kf, t.state === "lost");
        (t.state === "tentative" ? tentative : confirmed).push(t);
      }

      // First association: high-score boxes against every confirmed track.
      const first = associate(confirmed, high, detections, settings.match_iou, true, ts);
      // Second association: low-score boxes against tracks that were visible last update.
      const visible = first.tracks.filter((t) => t.state === "tracked");
      associate(visible, low, detections, settings.low_match_iou, false, ts);
      // Tentative tracks against the high-score boxes nobody took.
      const third = associate(tentative, first.dets, detections, TENTATIVE_MATCH_IOU, true, ts);

      const ended: TrackSnapshot[] = [];
      const removed = new Set<Track>();
      for (const t of third.tracks) removed.add(t); // a tentative track dies on its first miss
      for (const t of tentative) {
        if (!removed.has(t) && t.hits >= settings.min_hits) confirm(t);
      }
      for (const t of first.tracks) {
        if (t.matchedIndex >= 0) continue;
        t.missed++;
        t.state = "lost";
        if (t.missed > settings.max_missed) {
          removed.add(t);
          ended.push(snapshot(t, "end"));
        }
      }
      tracks = tracks.filter((t) => !removed.has(t));

      // New tracks from the high-score boxes still unmatched.
      for (const i of third.dets) {
        const d = detections[i]!;
        if (d.score < settings.new_track_threshold) continue;
        if (tracks.length >= settings.max_tracks && !makeRoom(ended)) continue;
        const [cx, cy, a, h] = measure(d.bbox);
        const t: Track = {
          id: 0,
          classId: d.class_id,
          className: d.class_name,
          kf: kalman.initiate(cx, cy, a, h),
          state: "tentative",
          hits: 1,
          age: 0,
          missed: 0,
          score: d.score,
          bbox: d.bbox,
          firstSeenMs: ts,
          lastSeenMs: ts,
          matchedIndex: i,
          confirmedNow: false,
        };
        if (settings.min_hits <= 1) confirm(t);
        tracks.push(t);
      }

      const out: TrackedDetection[] = detections.map((d) => ({ ...d, track_id: null }));
      const live: TrackSnapshot[] = [];
      for (const t of tracks) {
        if (t.state === "tentative") continue;
        if (t.matchedIndex >= 0) {
          out[t.matchedIndex] = { ...detections[t.matchedIndex]!, track_id: t.id };
        }
        live.push(
          snapshot(t, t.confirmedNow ? "new" : t.matchedIndex >= 0 ? "update" : "lost"),
        );
      }
      return { detections: out, tracks: live, ended };
    },

    reset() {
      const ended = tracks.filter((t) => t.state !== "tentative").map((t) => snapshot(t, "end"));
      tracks = [];
      return ended;
    },
  };

  /** Ends the lost track missed longest to make room; false when there is none. */
  function makeRoom(ended: TrackSnapshot[]): boolean {
    let worst: Track | undefined;
    for (const t of tracks) {
      if (t.state === "lost" && (!worst || t.missed > worst.missed)) worst = t;
    }
    if (!worst) return false;
    tracks = tracks.filter((t) => t !== worst);
    ended.push(snapshot(worst, "end"));
    return true;
  }
}
