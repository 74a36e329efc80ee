/**
 * Valid sample events of every type for publisher/Kafka tests.
 *
 * @module
 */
import {
  createAlertEvent,
  createFaceRecognitionEvent,
  createMotionDetectionEvent,
  createSystemStatusEvent,
  type FessEvent,
} from "../../shared/events.ts";

/** A motion event for `camera` / `frame`; `padTo` grows it to about that many JSON bytes. */
export function motionEvent(camera = "cam-1", frame = 0, padTo = 0): FessEvent {
  const e = createMotionDetectionEvent({
    camera_id: camera,
    frame_number: frame,
    motion_score: 0.42,
    frame_width: 768,
    frame_height: 576,
    detections: [{
      class_id: 0,
      class_name: "person",
      score: 0.91,
      bbox: { x1: 10, y1: 20, x2: 110, y2: 220 },
    }],
  });
  if (padTo <= JSON.stringify(e).length) return e;
  // Extra detections are schema-valid padding.
  const detections = [...e.detections];
  for (let i = 0; JSON.stringify({ ...e, detections }).length < padTo; i++) {
    detections.push({
      class_id: 2,
      class_name: "car",
      score: 0.5,
      bbox: { x1: i, y1: i, x2: i + 5, y2: i + 5 },
    });
  }
  return { ...e, detections };
}

/** A face-recognition event. */
export function faceEvent(camera = "cam-1", frame = 0): FessEvent {
  return createFaceRecognitionEvent({
    camera_id: camera,
    frame_number: frame,
    bbox: { x1: 100, y1: 80, x2: 180, y2: 180 },
    detection_score: 0.88,
    face_id: "face-7",
    name: "Ada",
    similarity: 0.71,
    authorized: true,
  });
}

/** An alert event. */
export function alertEvent(camera = "cam-1", frame = 0): FessEvent {
  return createAlertEvent({
    camera_id: camera,
    frame_number: frame,
    alert_type: "unauthorized_face",
    severity: "critical",
    message: "unknown person at the gate",
    face_id: null,
  });
}

/** A system-status event. */
export function statusEvent(camera = "cam-1", frame = 0): FessEvent {
  return createSystemStatusEvent({
    camera_id: camera,
    frame_number: frame,
    component: "detector",
    status: "healthy",
    detail: { fps: 12 },
  });
}
