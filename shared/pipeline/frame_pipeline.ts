/**
 * What happens to a frame around detection: the motion gate decides whether the detector runs;
 * after it runs, the detections are cached under `detection:{camera_id}:{frame_number}`, a
 * MotionDetection event is published, faces are recognised inside person boxes, and each face
 * that is not authorised raises an Alert (at most once per camera and face per cooldown, so a
 * loitering stranger does not flood the alert topic).
 *
 * Dependency failures never fail the frame: a Redis outage leaves `cached: false`, a full
 * event queue is reported in the response (`events.rejected`), never silently dropped.
 *
 * @module
 */
import type { DetectionStore } from "../cache/detection_store.ts";
import {
  createAlertEvent,
  createMotionDetectionEvent,
  type Detection,
  type FaceRecognitionEvent,
  type FessEvent,
} from "../events.ts";
import type { Publisher } from "../events/publisher.ts";
import type { FaceRecognizer } from "../faces/recognizer.ts";
import type { RawFrame } from "../image/raw_frame.ts";
import type { Logger } from "../logger.ts";
import type { MotionGate } from "../motion/motion_gate.ts";
import type { CameraActivity } from "../camera_activity.ts";

/** The frame as the pipeline sees it (the detect handler's frame context). */
export interface PipelineFrame {
  readonly cameraId: string;
  readonly frameNumber: number | null;
  readonly timestamp: string;
  readonly frame: RawFrame & {
    readonly source?: { readonly width: number; readonly height: number };
  };
}

/** Dependencies of {@link createFramePipeline}. */
export interface FramePipelineDeps {
  readonly publisher: Publisher;
  readonly activity: CameraActivity;
  readonly logger: Logger;
  /** Absent when motion gating is off: every frame is detected. */
  readonly motionGate?: MotionGate;
  /** Absent when detections are not cached. */
  readonly detectionStore?: DetectionStore;
  /** Absent when face recognition is off or its models are missing. */
  readonly recognizer?: FaceRecognizer;
  /** Class whose boxes are searched for faces. Default `person`. */
  readonly personClass?: string;
  /** Seconds between two alerts for the same camera and face. */
  readonly alertCooldownSeconds: number;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

/** Hooks plugged into the detect handler. */
export interface FramePipeline {
  beforeDetect(frame: PipelineFrame): Promise<{ run: boolean; info: Record<string, unknown> }>;
  afterDetect(frame: PipelineFrame, detections: Detection[]): Promise<Record<string, unknown>>;
}

/** Creates the pipeline. */
export function createFramePipeline(deps: FramePipelineDeps): FramePipeline {
  const now = deps.now ?? (() => Date.now());
  const personClass = deps.personClass ?? "person";
  const seen = new WeakMap<PipelineFrame, { frameNumber: number; motionScore: number }>();
  const frameCounters = new Map<string, number>();
  const lastAlert = new Map<string, number>();
  const log = deps.logger.child({ component: "frame_pipeline" });

  const frameNumberOf = (f: PipelineFrame): number => {
    if (f.frameNumber !== null) {
      frameCounters.set(f.cameraId, f.frameNumber);
      return f.frameNumber;
    }
    // Cameras that do not number their frames get a per-camera sequence.
    const n = (frameCounters.get(f.cameraId) ?? -1) + 1;
    frameCounters.set(f.cameraId, n);
    return n;
  };

  /**
   * Publishes the events together (they share one write-ahead-log fsync), recording accepted
   * (durable) and refused ones in order; returns the accepted ids.
   */
  const publish = async (
    events: FessEvent[],
    out: { published: string[]; rejected: { event_id: string; reason: string }[] },
  ): Promise<Set<string>> => {
    const accepted = new Set<string>();
    const results = await Promise.allSettled(events.map((e) => deps.publisher.publish(e)));
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const r = results[i]!;
      if (r.status === "fulfilled") {
        out.published.push(r.value.event_id);
        accepted.add(e.event_id);
      } else {
        const err = r.reason;
        out.rejected.push({ event_id: e.event_id, reason: (err as Error).message });
        log.warn("event not accepted", {
          event_type: e.event_type,
          camera_id: e.camera_id,
          reason: (err as Error).message,
        });
      }
    }
    return accepted;
  };

  // The cooldown starts only when an alert is accepted: a refused alert (full queue) must not
  // silence the next frame's alert for the same face.
  const alertsFor = (
    faces: FaceRecognitionEvent[],
    base: { camera_id: string; frame_number: number; timestamp: string },
  ): { key: string; event: FessEvent }[] => {
    const t = now();
    const alerts: { key: string; event: FessEvent }[] = [];
    const thisFrame = new Set<string>();
    for (const f of faces) {
      if (f.authorized) continue;
      const key = `${f.camera_id}\u0000${f.face_id ?? "unknown"}`;
      const last = lastAlert.get(key);
      if (thisFrame.has(key)) continue;
      if (last !== undefined && t - last < deps.alertCooldownSeconds * 1000) continue;
      thisFrame.add(key);
      const known = f.face_id !== null;
      alerts.push({
        key,
        event: createAlertEvent({
          ...base,
          alert_type: known ? "unauthorized_face" : "unknown_face",
          severity: "warning",
          message: known
            ? `face ${f.face_id} is not authorised on camera ${f.camera_id}`
            : `unknown face on camera ${f.camera_id}`,
          face_id: f.face_id,
        }),
      });
    }
    if (lastAlert.size > 10_000) {
      for (const [k, v] of lastAlert) {
        if (t - v >= deps.alertCooldownSeconds * 1000) lastAlert.delete(k);
      }
    }
    return alerts;
  };

  return {
    beforeDetect(f) {
      deps.activity.frame(f.cameraId);
      const frameNumber = frameNumberOf(f);
      if (!deps.motionGate) {
        seen.set(f, { frameNumber, motionScore: 1 });
        return Promise.resolve({ run: true, info: { frame_number: frameNumber, motion: null } });
      }
      const m = deps.motionGate.check(f.cameraId, f.frame);
      seen.set(f, { frameNumber, motionScore: m.score });
      return Promise.resolve({
        run: m.motion,
        info: {
          frame_number: frameNumber,
          motion: { detected: m.motion, score: Math.round(m.score * 1e4) / 1e4 },
        },
      });
    },

    async afterDetect(f, detections) {
      const { frameNumber, motionScore } = seen.get(f) ??
        { frameNumber: frameNumberOf(f), motionScore: 1 };
      const base = { camera_id: f.cameraId, frame_number: frameNumber, timestamp: f.timestamp };
      const events = {
        published: [] as string[],
        rejected: [] as { event_id: string; reason: string }[],
      };

      let cached: boolean | null = null;
      if (deps.detectionStore) {
        try {
          await deps.detectionStore.put(f.cameraId, frameNumber, {
            detections,
            timestamp: f.timestamp,
          });
          cached = true;
        } catch (err) {
          cached = false;
          log.warn("detections not cached", {
            camera_id: f.cameraId,
            reason: (err as Error).message,
          });
        }
      }

      const width = f.frame.source?.width ?? f.frame.width;
      const height = f.frame.source?.height ?? f.frame.height;
      await publish([
        createMotionDetectionEvent({
          ...base,
          motion_score: motionScore,
          detections,
          frame_width: width,
          frame_height: height,
        }),
      ], events);

      let faces: FaceRecognitionEvent[] = [];
      const regions = detections.filter((d) => d.class_name === personClass).map((d) => d.bbox);
      if (deps.recognizer && regions.length > 0) {
        try {
          faces = await deps.recognizer.recognize(f.frame, {
            cameraId: f.cameraId,
            frameNumber,
            timestamp: f.timestamp,
            regions,
          });
        } catch (err) {
          log.error("face recognition failed", { camera_id: f.cameraId, error: err });
        }
        await publish(faces, events);
        const alerts = alertsFor(faces, base);
        const accepted = await publish(alerts.map((a) => a.event), events);
        for (const a of alerts) if (accepted.has(a.event.event_id)) lastAlert.set(a.key, now());
      }

      return {
        cached,
        faces: faces.map((e) => ({
          bbox: e.bbox,
          score: e.detection_score,
          face_id: e.face_id,
          name: e.name,
          similarity: e.similarity,
          authorized: e.authorized,
        })),
        events,
      };
    },
  };
}
