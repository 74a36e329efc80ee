/**
 * The stages of the face pipeline as interfaces — detector, embedder, image encoder — so the
 * recognizer and the HTTP handler depend on behaviour, not on ONNX, and unit tests can put
 * fakes behind the same contracts.
 *
 * @module
 */
import type { BoundingBox } from "../events.ts";
import type { ImageFormat } from "../image/decode.ts";
import type { RawFrame } from "../image/raw_frame.ts";

/** A point in frame pixels. */
export interface Point {
  /** Horizontal position. */
  readonly x: number;
  /** Vertical position. */
  readonly y: number;
}

/** A face found in a frame. */
export interface DetectedFace {
  /** Face box in frame pixels. */
  readonly bbox: BoundingBox;
  /** Five landmarks in frame pixels: right eye, left eye, nose tip, right and left mouth corner
   * (the subject's right eye is on the image's left). */
  readonly landmarks: readonly Point[];
  /** Detector confidence in [0, 1]. */
  readonly score: number;
}

/** Finds faces in frames. */
export interface FaceDetector {
  /**
   * Faces in `frame`, best first. With `regions` (e.g. person boxes), only those areas are
   * searched; coordinates are still frame pixels.
   */
  detect(frame: RawFrame, options?: { regions?: readonly BoundingBox[] }): Promise<DetectedFace[]>;
}

/** Turns an aligned face into an L2-normalised embedding. */
export interface FaceEmbedder {
  /** Embedding size. */
  readonly dim: number;
  /** Side of the square aligned input it expects (112). */
  readonly inputSize: number;
  /** Embedding of an aligned `inputSize`² RGB face. */
  embed(aligned: RawFrame): Promise<Float32Array>;
}

/** A detected face with its embedding. */
export interface EncodedFace extends DetectedFace {
  /** L2-normalised embedding. */
  readonly encoding: Float32Array;
}

/** Finds and embeds every face in an encoded image (JPEG/PNG). */
export interface FaceImageEncoder {
  /** Faces in the image, best first; throws 400 for undecodable images. */
  encodeImage(bytes: Uint8Array, options?: { expect?: ImageFormat }): Promise<EncodedFace[]>;
}
