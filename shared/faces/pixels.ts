/**
 * Pixel access shared by the face stages: where R, G and B live in a {@link RawFrame} of any
 * layout, and bilinear sampling (used for alignment and crop scaling).
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

/**
 * Bilinear sample of channel offset `c` at (x, y); 0 outside the frame (like OpenCV's constant
 * border), so a face at the edge is padded with black, not smeared.
 */
export function sampleBilinear(frame: RawFrame, x: number, y: number, c: number): number {
  const { width, height, channels, data } = frame;
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  const px = (xi: number, yi: number) =>
    xi < 0 || yi < 0 || xi >= width || yi >= height ? 0 : data[(yi * width + xi) * channels + c]!;
  const top = px(x0, y0) * (1 - fx) + px(x0 + 1, y0) * fx;
  const bottom = px(x0, y0 + 1) * (1 - fx) + px(x0 + 1, y0 + 1) * fx;
  return top * (1 - fy) + bottom * fy;
}
