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
 * Bilinear sample of the three channel offsets `c` at (x, y), written to `out[0..2]`; 0 outside
 * the frame (like OpenCV's constant border), so a face at the edge is padded with black, not
 * smeared. The neighbours and weights are computed once for the three channels, and nothing
 * is allocated: this runs for every pixel of every face crop.
 */
export function sampleBilinear3(
  frame: RawFrame,
  x: number,
  y: number,
  c: readonly [number, number, number],
  out: Float64Array,
): void {
  const { width, height, channels, data } = frame;
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  const inX0 = x0 >= 0 && x0 < width, inX1 = x0 + 1 >= 0 && x0 + 1 < width;
  const inY0 = y0 >= 0 && y0 < height, inY1 = y0 + 1 >= 0 && y0 + 1 < height;
  // A neighbour outside the frame gets weight 0 (its index is never read).
  const w00 = inX0 && inY0 ? (1 - fx) * (1 - fy) : 0;
  const w10 = inX1 && inY0 ? fx * (1 - fy) : 0;
  const w01 = inX0 && inY1 ? (1 - fx) * fy : 0;
  const w11 = inX1 && inY1 ? fx * fy : 0;
  const p00 = (y0 * width + x0) * channels;
  const p10 = p00 + channels;
  const p01 = p00 + width * channels;
  const p11 = p01 + channels;
  for (let k = 0; k < 3; k++) {
    const ck = c[k]!;
    out[k] = (w00 === 0 ? 0 : data[p00 + ck]! * w00) + (w10 === 0 ? 0 : data[p10 + ck]! * w10) +
      (w01 === 0 ? 0 : data[p01 + ck]! * w01) + (w11 === 0 ? 0 : data[p11 + ck]! * w11);
  }
}
