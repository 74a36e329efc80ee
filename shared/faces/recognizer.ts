/**
 * The face pipeline on frames: detect (YuNet, on the whole frame or inside person boxes), align
 * each face to the ArcFace template, embed (MobileFaceNet), match against the gallery, and emit
 * one {@link FaceRecognitionEvent} per face. It also implements {@link FaceImageEncoder} for the
 * `/faces` API (enrol or match from an uploaded photo).
 *
 * @module
 */
import type { BoundingBox, FaceRecognitionEvent } from "../events.ts";
import { createFaceRecognitionEvent } from "../events.ts";
import { decodeImage } from "../image/decode.ts";
import type { RawFrame } from "../image/raw_frame.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import { alignFace } from "./align.ts";
import type { EncodedFace, FaceDetector, FaceEmbedder, FaceImageEncoder } from "./face_types.ts";
import type { FaceGallery } from "./gallery.ts";

/** Options of {@link createFaceRecognizer}. */
export interface FaceRecognizerOptions {
  /** Finds faces. */
  readonly faceDetector: FaceDetector;
  /** Embeds aligned faces. */
  readonly embedder: FaceEmbedder;
  /** Known faces. */
  readonly gallery: FaceGallery;
  /** Faces smaller than this (shorter box side, pixels) are skipped: too small to identify. Default 20. */
  readonly minFaceSize?: number;
  /** Where `fess_face_recognitions_total` is counted. */
  readonly metrics?: Pick<FessMetrics, "faceRecognitionsTotal">;
  /** Logger. */
  readonly logger: Logger;
}

/** Where a frame came from. */
export interface RecognizeContext {
  /** Camera of the frame. */
  readonly cameraId: string;
  /** Frame number. */
  readonly frameNumber: number;
  /** Capture time; default now. */
  readonly timestamp?: string | Date;
  /** Person boxes (e.g. from RTMDet): only these areas are searched. */
  readonly regions?: readonly BoundingBox[];
  /** Match threshold; default the gallery's. */
  readonly threshold?: number;
}

/** Runs the face pipeline. */
export interface FaceRecognizer extends FaceImageEncoder {
  /** Every face in the frame, embedded (no matching). */
  encodeFrame(
    frame: RawFrame,
    options?: { regions?: readonly BoundingBox[] },
  ): Promise<EncodedFace[]>;
  /** One event per face found, matched against the gallery. */
  recognize(frame: RawFrame, context: RecognizeContext): Promise<FaceRecognitionEvent[]>;
}

/** Creates a face recognizer. */
export function createFaceRecognizer(options: FaceRecognizerOptions): FaceRecognizer {
  const { faceDetector, embedder, gallery, metrics } = options;
  const minFaceSize = options.minFaceSize ?? 20;
  const log = options.logger.child({ component: "face_recognizer" });
  if (embedder.dim !== gallery.dim) {
    throw new RangeError(
      `embedder gives ${embedder.dim}-D vectors, gallery holds ${gallery.dim}-D`,
    );
  }

  async function encodeFrame(
    frame: RawFrame,
    opts: { regions?: readonly BoundingBox[] } = {},
  ): Promise<EncodedFace[]> {
    const faces = await faceDetector.detect(frame, { regions: opts.regions });
    const out: EncodedFace[] = [];
    for (const f of faces) {
      const side = Math.min(f.bbox.x2 - f.bbox.x1, f.bbox.y2 - f.bbox.y1);
      if (side < minFaceSize) continue;
      const aligned = alignFace(frame, f.landmarks, embedder.inputSize);
      out.push({ ...f, encoding: await embedder.embed(aligned) });
    }
    return out;
  }

  return {
    encodeFrame,
    async encodeImage(bytes, opts = {}) {
      const frame = await decodeImage(bytes, { expect: opts.expect });
      return encodeFrame(frame);
    },
    async recognize(frame, ctx) {
      const faces = await encodeFrame(frame, { regions: ctx.regions });
      const events: FaceRecognitionEvent[] = [];
      for (const f of faces) {
        const m = gallery.match(f.encoding, { threshold: ctx.threshold });
        const authorized = m.matched && m.metadata?.authorized === true;
        events.push(createFaceRecognitionEvent({
          camera_id: ctx.cameraId,
          frame_number: ctx.frameNumber,
          timestamp: ctx.timestamp,
          bbox: f.bbox,
          landmarks: f.landmarks.map((p) => ({ x: p.x, y: p.y })),
          detection_score: Math.min(1, Math.max(0, f.score)),
          face_id: m.faceId,
          name: m.metadata?.name ?? null,
          similarity: m.similarity,
          authorized,
        }));
        metrics?.faceRecognitionsTotal.inc({
          camera_id: ctx.cameraId,
          authorized: String(authorized),
        });
      }
      if (events.length > 0) {
        log.debug("faces recognised", {
          camera_id: ctx.cameraId,
          frame_number: ctx.frameNumber,
          faces: events.length,
          known: events.filter((e) => e.face_id !== null).length,
        });
      }
      return events;
    },
  };
}
