/**
 * Stage 5, faces: with the tracker, faces per track ({@link runTrackFacesStage}): only the
 * person tracks the camera's {@link TrackIdentities} policy selects (no identity yet, or due
 * for re-verification; at most `faces.max_searches_per_frame`) are searched, each inside its
 * own box, and a FaceRecognition event is due only when a track's identity is new or changed.
 * Without the tracker ({@link runFacesStage}), every person box of every frame is searched
 * and every face is an event. A recognizer failure is logged and the frame goes on without
 * faces.
 *
 * @module
 */
import type { Detection, FaceRecognitionEvent } from "../events.ts";
import { assignFacesToTracks, type TrackIdentities } from "../faces/track_identity.ts";
import type { FaceRecognizer } from "../faces/recognizer.ts";
import type { Logger } from "../logger.ts";
import type { TrackSnapshot } from "../tracking/tracker.ts";
import type { FrameInput } from "./frame_input.ts";

/** Dependencies of {@link runFacesStage}. */
export interface FacesStageDeps {
  /** Null when face recognition is off or its models are missing. */
  readonly recognizer: Pick<FaceRecognizer, "recognize"> | null;
  /** Class whose boxes are searched for faces. */
  readonly personClass: string;
  readonly logger: Logger;
}

/** The faces of one frame. */
export interface FacesStageResult {
  /** One recognition per face found (with `track_id` when it belongs to a searched track). */
  readonly faces: FaceRecognitionEvent[];
  /** The events to publish: every face without a tracker, else identity changes only. */
  readonly publish: FaceRecognitionEvent[];
  readonly ms: number;
}

/** Recognises faces inside the person detections. */
export async function runFacesStage(
  deps: FacesStageDeps,
  input: FrameInput,
  frameNumber: number,
  detections: readonly Detection[],
): Promise<FacesStageResult> {
  const regions = detections.filter((d) => d.class_name === deps.personClass).map((d) => d.bbox);
  if (!deps.recognizer || regions.length === 0) return { faces: [], publish: [], ms: 0 };
  const t0 = performance.now();
  try {
    const faces = await deps.recognizer.recognize(input.frame, {
      cameraId: input.cameraId,
      frameNumber,
      timestamp: input.timestamp,
      regions,
    });
    return { faces, publish: faces, ms: performance.now() - t0 };
  } catch (err) {
    deps.logger.error("face recognition failed", { camera_id: input.cameraId, error: err });
    return { faces: [], publish: [], ms: performance.now() - t0 };
  }
}

/** One frame's tracks for {@link runTrackFacesStage}. */
export interface TrackFacesInput {
  /** Confirmed live tracks after this frame. */
  readonly tracks: readonly TrackSnapshot[];
  /** Tracks that ended in this frame (their identities are forgotten). */
  readonly ended: readonly number[];
  /** Capture time, epoch ms (search schedule). */
  readonly timestampMs: number;
}

/** Searches faces in the person tracks that are due, updating the camera's identities. */
export async function runTrackFacesStage(
  deps: Pick<FacesStageDeps, "recognizer" | "logger">,
  identities: TrackIdentities,
  input: FrameInput,
  frameNumber: number,
  tracked: TrackFacesInput,
): Promise<FacesStageResult> {
  identities.forget(tracked.ended);
  if (!deps.recognizer) return { faces: [], publish: [], ms: 0 };
  const ts = tracked.timestampMs;
  const searches = identities.select(tracked.tracks, ts);
  if (searches.length === 0) return { faces: [], publish: [], ms: 0 };
  const t0 = performance.now();
  let found: FaceRecognitionEvent[];
  try {
    found = await deps.recognizer.recognize(input.frame, {
      cameraId: input.cameraId,
      frameNumber,
      timestamp: input.timestamp,
      regions: searches.map((s) => s.bbox),
    });
  } catch (err) {
    deps.logger.error("face recognition failed", { camera_id: input.cameraId, error: err });
    return { faces: [], publish: [], ms: performance.now() - t0 };
  }
  const byTrack = assignFacesToTracks(searches, found);
  const trackOf = new Map<FaceRecognitionEvent, number>();
  const publish: FaceRecognitionEvent[] = [];
  for (const s of searches) {
    const face = byTrack.get(s.track_id) ?? null;
    if (face) trackOf.set(face, s.track_id);
    const { changed } = identities.record(s.track_id, face, ts);
    if (changed && face) publish.push({ ...face, track_id: s.track_id });
  }
  const faces = found.map((f) => ({ ...f, track_id: trackOf.get(f) ?? null }));
  return { faces, publish, ms: performance.now() - t0 };
}
