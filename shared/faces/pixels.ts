/**
 * Pixel access shared by the face stages: where R, G and B live in a {@link RawFrame} of any
 * layout.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";

/** Byte offsets of R, G and B within a pixel (all 0 for gray). */
export function rgbOffsets(frame: RawFrame): readonly [number, number, number] {
  switch (frame.layout) {
    case "rgb":
    case "rgba":
      return [0, 1, 2];
    case "bgr":
      return [2, 1, 0];
    case "gray":
      return [0, 0, 0];
  }
}
