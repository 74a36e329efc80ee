/**
 * Stage 5, faces: searches the person boxes of the frame for faces and matches them against
 * the gallery. A recognizer failure is logged and the frame goes on without faces.
 * (With a tracker, this stage is meant to search only tracks without a confident identity.)
 *
 * @module
 */
import type { Detection, FaceRecognitionEvent } from "../events.ts";
import type { FaceRecognizer } from "../faces/recognizer.ts";
import type { Logger } from "../logger.ts";
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
  /** One recognition per face (not yet published). */
  readonly faces: FaceRecognitionEvent[];
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
  if (!deps.recognizer || regions.length === 0) return { faces: [], ms: 0 };
  const t0 = performance.now();
  try {
    const faces = await deps.recognizer.recognize(input.frame, {
      cameraId: input.cameraId,
      frameNumber,
      timestamp: input.timestamp,
      regions,
    });
    return { faces, ms: performance.now() - t0 };
  } catch (err) {
    deps.logger.error("face recognition failed", { camera_id: input.cameraId, error: err });
    return { faces: [], ms: performance.now() - t0 };
  }
}
