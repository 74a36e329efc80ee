/**
 * A frame as every source hands it to `pipeline.process`: the HTTP handler today, the camera
 * intake later. The source has already decoded the pixels and parsed the metadata; `process`
 * validates it again (camera id, frame number, timestamp) before any work, so a bad frame is a
 * 4xx from any source and never a failure after detection.
 *
 * @module
 */
import type { DetectorFrame } from "../detector/detector.ts";
import type { FrameSource } from "./frame_outcome.ts";

/** One decoded frame with its metadata. */
export interface FrameInput {
  /** A validated camera id ({@link import("../camera_id.ts").CAMERA_ID_PATTERN}). */
  readonly cameraId: string;
  /** The client's frame number; null to take the camera's next number. */
  readonly frameNumber: number | null;
  /** Capture time, RFC 3339 with an offset (see `frame_timestamp.ts`). */
  readonly timestamp: string;
  /** The decoded pixels (`source` holds the original size of a frame decoded smaller). */
  readonly frame: DetectorFrame;
  /** How the frame arrived. */
  readonly source: FrameSource;
  /** Time spent decoding, ms (reported as `timing.decode_ms`). */
  readonly decodeMs: number;
}
