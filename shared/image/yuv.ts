/**
 * YUV 4:2:0 frames (ffmpeg `yuv420p` = I420 planar, `nv12` = Y plane + interleaved UV) to BGR,
 * exactly as OpenCV's `cvtColor(COLOR_YUV2BGR_I420 / COLOR_YUV2BGR_NV12)` (imgproc
 * color_yuv.simd.hpp): BT.601 video range in 20-bit fixed point,
 *
 *   y' = max(0, Y - 16) * 1220542
 *   R = (y' + 1673527 (V-128) + 2^19) >> 20
 *   G = (y' - 852492 (V-128) - 409993 (U-128) + 2^19) >> 20
 *   B = (y' + 2116026 (U-128) + 2^19) >> 20
 *
 * each saturated to 0..255; every 2x2 block of luma shares one chroma sample (no chroma
 * interpolation). The SIMD and scalar paths of OpenCV compute the same integers, so this is byte
 * exact. Width and height must be even (4:2:0 has one chroma sample per 2x2 block).
 *
 * @module
 */

const CY = 1220542;
const CUB = 2116026;
const CUG = -409993;
const CVG = -852492;
const CVR = 1673527;
const SHIFT = 20;
const HALF = 1 << (SHIFT - 1);

/** The two 4:2:0 layouts accepted. */
export type Yuv420Layout = "i420" | "nv12";

/** Bytes of a 4:2:0 frame of this size: a full-size luma plane plus quarter-size U and V. */
export function yuv420ByteLength(width: number, height: number): number {
  return width * height + 2 * (width >> 1) * (height >> 1);
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Converts a 4:2:0 frame (`width`, `height` even, planes packed without padding) to interleaved
 * BGR in `out` (allocated when absent, `width * height * 3` bytes). One pass over the output,
 * two rows at a time (the rows sharing a chroma row).
 */
export function yuv420ToBgr(
  src: Uint8Array,
  width: number,
  height: number,
  layout: Yuv420Layout,
  out: Uint8Array = new Uint8Array(width * height * 3),
): Uint8Array {
  if (width % 2 !== 0 || height % 2 !== 0) {
    throw new RangeError(`4:2:0 frames need an even width and height, got ${width}x${height}`);
  }
  if (src.length < yuv420ByteLength(width, height)) {
    throw new RangeError("4:2:0 source buffer too small");
  }
  const cw = width >> 1;
  const ySize = width * height;
  const uBase = ySize;
  const vBase = ySize + cw * (height >> 1);
  const rowBytes = width * 3;
  for (let j = 0; j < height; j += 2) {
    const cRow = j >> 1;
    const y1 = j * width, y2 = y1 + width;
    const o1 = j * rowBytes, o2 = o1 + rowBytes;
    for (let i = 0; i < cw; i++) {
      let u: number, v: number;
      if (layout === "nv12") {
        const c = ySize + cRow * width + 2 * i;
        u = src[c]! - 128;
        v = src[c + 1]! - 128;
      } else {
        u = src[uBase + cRow * cw + i]! - 128;
        v = src[vBase + cRow * cw + i]! - 128;
      }
      const ruv = HALF + CVR * v;
      const guv = HALF + CVG * v + CUG * u;
      const buv = HALF + CUB * u;
      const x = 2 * i;
      writeBgr(src[y1 + x]!, ruv, guv, buv, out, o1 + 3 * x);
      writeBgr(src[y1 + x + 1]!, ruv, guv, buv, out, o1 + 3 * x + 3);
      writeBgr(src[y2 + x]!, ruv, guv, buv, out, o2 + 3 * x);
      writeBgr(src[y2 + x + 1]!, ruv, guv, buv, out, o2 + 3 * x + 3);
    }
  }
  return out;
}

function writeBgr(
  luma: number,
  ruv: number,
  guv: number,
  buv: number,
  out: Uint8Array,
  o: number,
): void {
  const y = (luma > 16 ? luma - 16 : 0) * CY;
  out[o] = clamp255((y + buv) >> SHIFT);
  out[o + 1] = clamp255((y + guv) >> SHIFT);
  out[o + 2] = clamp255((y + ruv) >> SHIFT);
}
