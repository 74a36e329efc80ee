/**
 * Faces per track, not per frame: which person tracks get a face search in this frame, what
 * identity each track has, and when that identity is news worth a FaceRecognition event.
 *
 * Policy (pure logic over track ids and recognizer results):
 * - only person tracks seen in this frame (`new`/`update`) are candidates, searched inside
 *   their own box;
 * - a track without an identity is searched at once, then, while no face is found, again every
 *   `retrySeconds` (a back turned to the camera must not cost a search every frame);
 * - a track with an identity (a face matched a gallery entry, or was seen and matched nobody)
 *   is searched again every `reverifySeconds`;
 * - at most `maxSearchesPerFrame` searches per frame: never-searched tracks first, then the
 *   longest waiting — the frame's face cost is bounded whatever the crowd;
 * - {@link TrackIdentities.record} says `changed` when a track gets its first identity or a
 *   different one (other face id, or unknown <-> known, or a changed authorisation): that is
 *   when a FaceRecognition event is published, not on every frame.
 *
 * State is per live track, dropped by {@link TrackIdentities.forget} when the tracker ends the
 * track, and capped at `maxTracks` (least recently seen evicted).
 *
 * @module
 */
import type { BoundingBox } from "../events.ts";

/** A track's face identity. */
export interface TrackIdentity {
  /** `known`: matched a gallery face; `unknown`: a face was seen and matched nobody. */
  readonly status: "known" | "unknown";
  readonly face_id: string | null;
  readonly name: string | null;
  readonly authorized: boolean;
  /** Similarity of the face that gave the identity. */
  readonly similarity: number;
  /** When it was last confirmed (epoch ms). */
  readonly verified_ms: number;
}

/** What the policy reads of a track (a tracker `TrackSnapshot` fits). */
export interface IdentityTrack {
  readonly track_id: number;
  readonly class_name: string;
  readonly phase: "new" | "update" | "lost" | "end";
  readonly bbox: BoundingBox;
}

/** A track to search this frame, and the box to search in. */
export interface FaceSearch {
  readonly track_id: number;
  readonly bbox: BoundingBox;
}

/** What the policy reads of a recognised face (a `FaceRecognitionEvent` fits). */
export interface RecognizedFace {
  readonly bbox: BoundingBox;
  readonly detection_score: number;
  readonly face_id: string | null;
  readonly name: string | null;
  readonly authorized: boolean;
  readonly similarity: number;
}

/** Result of {@link TrackIdentities.record}. */
export interface IdentityUpdate {
  /** The track's identity after the search (null: still none). */
  readonly identity: TrackIdentity | null;
  /** Whether it is new or different: publish a FaceRecognition event. */
  readonly changed: boolean;
}

/** Options of {@link createTrackIdentities}. */
export interface TrackIdentitiesOptions {
  /** Seconds between two searches of a track that has an identity (`faces.reverify_seconds`). */
  readonly reverifySeconds: number;
  /** Seconds between two searches of a track where no face was found (`faces.retry_seconds`). */
  readonly retrySeconds: number;
  /** Most searches per frame (`faces.max_searches_per_frame`). */
  readonly maxSearchesPerFrame: number;
  /** Class whose tracks have faces. Default `person`. */
  readonly personClass?: string;
  /** Most tracks with state (default 4096). */
  readonly maxTracks?: number;
}

/** Faces-per-track state of one camera. */
export interface TrackIdentities {
  /** The tracks to search in this frame; marks them searched at `nowMs`. */
  select(tracks: readonly IdentityTrack[], nowMs: number): FaceSearch[];
  /** Records a search's outcome for a track (`face` null: no face found in its box). */
  record(trackId: number, face: RecognizedFace | null, nowMs: number): IdentityUpdate;
  /** Drops the state of ended tracks. */
  forget(trackIds: readonly number[]): void;
  /** Current identities by track id (for the rules engine). */
  readonly identities: ReadonlyMap<number, TrackIdentity>;
  /** Tracks with state. */
  readonly size: number;
}

interface State {
  identity: TrackIdentity | null;
  /** Last search (ms), or -Infinity when never searched. */
  searchedMs: number;
  seenMs: number;
}

/** Creates the faces-per-track policy of one camera. */
export function createTrackIdentities(options: TrackIdentitiesOptions): TrackIdentities {
  const personClass = options.personClass ?? "person";
  const maxTracks = options.maxTracks ?? 4096;
  const maxSearches = Math.max(1, Math.floor(options.maxSearchesPerFrame));
  const states = new Map<number, State>();
  const identities = new Map<number, TrackIdentity>();

  const touch = (id: number, now: number): State => {
    let st = states.get(id);
    if (st) states.delete(id); // re-inserted below: the map stays in least-recently-seen order
    else {
      if (states.size >= maxTracks) {
        const oldest = states.keys().next().value!;
        states.delete(oldest);
        identities.delete(oldest);
      }
      st = { identity: null, searchedMs: -Infinity, seenMs: now };
    }
    st.seenMs = now;
    states.set(id, st);
    return st;
  };

  return {
    identities,
    get size() {
      return states.size;
    },

    select(tracks, now) {
      const due: { search: FaceSearch; st: State }[] = [];
      for (const t of tracks) {
        if (t.class_name !== personClass || (t.phase !== "new" && t.phase !== "update")) continue;
        const st = touch(t.track_id, now);
        const wait = (st.identity ? options.reverifySeconds : options.retrySeconds) * 1000;
        // A capture clock that went backwards counts as due, not as years away.
        if (now - st.searchedMs >= wait || now < st.searchedMs) {
          due.push({ search: { track_id: t.track_id, bbox: t.bbox }, st });
        }
      }
      due.sort((a, b) => a.st.searchedMs - b.st.searchedMs);
      const chosen = due.slice(0, maxSearches);
      for (const c of chosen) c.st.searchedMs = now;
      return chosen.map((c) => c.search);
    },

    record(trackId, face, now) {
      const st = touch(trackId, now);
      if (!face) return { identity: st.identity, changed: false };
      const prev = st.identity;
      const next: TrackIdentity = {
        status: face.face_id === null ? "unknown" : "known",
        face_id: face.face_id,
        name: face.name,
        authorized: face.authorized,
        similarity: face.similarity,
        verified_ms: now,
      };
      st.identity = next;
      identities.set(trackId, next);
      const changed = prev === null || prev.face_id !== next.face_id ||
        prev.status !== next.status || prev.authorized !== next.authorized;
      return { identity: next, changed };
    },

    forget(ids) {
      for (const id of ids) {
        states.delete(id);
        identities.delete(id);
      }
    },
  };
}

/**
 * Splits the faces found in one search call between the searched tracks: a face belongs to a
 * track whose box holds the face's centre — the one where it sits highest (heads are at the
 * top of person boxes) when boxes overlap — and each track keeps its most confident face.
 * Returns track id -> face.
 */
export function assignFacesToTracks<F extends Pick<RecognizedFace, "bbox" | "detection_score">>(
  searches: readonly FaceSearch[],
  faces: readonly F[],
): Map<number, F> {
  const out = new Map<number, F>();
  for (const f of faces) {
    const cx = (f.bbox.x1 + f.bbox.x2) / 2;
    const cy = (f.bbox.y1 + f.bbox.y2) / 2;
    let best: FaceSearch | undefined;
    let bestHeight = Infinity;
    for (const s of searches) {
      const b = s.bbox;
      if (cx < b.x1 || cx > b.x2 || cy < b.y1 || cy > b.y2) continue;
      const height = (cy - b.y1) / Math.max(1e-6, b.y2 - b.y1);
      if (height < bestHeight) {
        bestHeight = height;
        best = s;
      }
    }
    if (!best) continue;
    const held = out.get(best.track_id);
    if (!held || f.detection_score > held.detection_score) out.set(best.track_id, f);
  }
  return out;
}
