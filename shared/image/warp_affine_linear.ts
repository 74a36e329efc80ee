/**
 * A port of OpenCV's `cv::warpAffine(..., INTER_LINEAR, BORDER_CONSTANT, 0)` for 8-bit images
 * (imgproc/src/imgwarp.cpp: `warpAffine`, `WarpAffineInvoker`, `remapBilinear`), reproducing its
 * output byte for byte, because face embedders are trained on crops made by exactly that call
 * (ArcFace / insightface `norm_crop`).
 *
 * What "exactly" means, following OpenCV 4.x:
 * - the matrix maps source to destination and is inverted in double precision as OpenCV does
 *   (`D = 1 / (m00 m11 - m01 m10)`, then the translation `-A t`);
 * - destination pixel (x, y) maps to the fixed-point source coordinate
 *   `X = (round(( i01 y + i02) * 1024) + 16 + round(i00 x * 1024)) >> 5` (and likewise `Y`),
 *   `round` being `cvRound` (half to even): 5 fractional bits (INTER_BITS), so the fraction is
 *   one of 32 steps per axis;
 * - the four taps are weighted from OpenCV's bilinear table: `short` products
 *   `(1 - fy)(1 - fx) * 32768` etc. (INTER_REMAP_COEF_BITS = 15), where the integer position
 *   saturates its 32768 to 32767 and OpenCV's sum correction gives the 1 to the last tap;
 * - `(v00 w00 + v01 w01 + v10 w10 + v11 w11 + 16384) >> 15`, saturated to 0..255, with taps
 *   outside the source reading the border value 0.
 *
 * @module
 */
import type { RawFrame } from "./raw_frame.ts";

/**
 * A 2x3 affine matrix `[m00, m01, m02, m10, m11, m12]` taking source pixels to destination
 * pixels, as passed to `cv2.warpAffine` without `WARP_INVERSE_MAP`.
 */
export type AffineMatrix = readonly [number, number, number, number, number, number];

/** INTER_BITS: fractional bits of a source coordinate. */
const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
/** AB_BITS: fractional bits of the per-row and per-column coordinate terms. */
const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const ROUND_DELTA = AB_SCALE / INTER_TAB_SIZE / 2;
const COEF_BITS = 15;
const COEF_SCALE = 1 << COEF_BITS;

/** `cvRound` of a double: round half to even. */
function cvRound(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `saturate_cast<int>` of a double. */
function toInt(v: number): number {
  const r = cvRound(v);
  return r > 2147483647 ? 2147483647 : r < -2147483648 ? -2147483648 : r;
}

/** `saturate_cast<short>` of an int. */
function toShort(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

let bilinearTable: Int32Array | null = null;

/** OpenCV's `BilinearTab_i`: 4 weights per (fy, fx) step, built once on first use. */
function weights(): Int32Array {
  if (bilinearTable) return bilinearTable;
  const table = new Int32Array(INTER_TAB_SIZE * INTER_TAB_SIZE * 4);
  const tab1 = (i: number): [number, number] => {
    const x = Math.fround(i / INTER_TAB_SIZE);
    return [Math.fround(1 - x), x];
  };
  for (let i = 0; i < INTER_TAB_SIZE; i++) {
    const ty = tab1(i);
    for (let j = 0; j < INTER_TAB_SIZE; j++) {
      const tx = tab1(j);
      const o = (i * INTER_TAB_SIZE + j) * 4;
      let sum = 0;
      for (let k1 = 0; k1 < 2; k1++) {
        for (let k2 = 0; k2 < 2; k2++) {
          const v = Math.fround(ty[k1]! * tx[k2]!);
          const w = toShort(cvRound(Math.fround(v * COEF_SCALE)));
          table[o + k1 * 2 + k2] = w;
          sum += w;
        }
      }
      // Products of 32nds are exact, so only the integer position is off (32768 saturates to
      // 32767); OpenCV's sum correction, whose search window starts at the last tap for a
      // 2-tap kernel, gives it the missing 1.
      if (sum !== COEF_SCALE) table[o + 3] = table[o + 3]! - (sum - COEF_SCALE);
    }
  }
  return bilinearTable = table;
}

/**
 * Warps `src` by `matrix` into a `width`x`height` frame of the same layout; every channel
 * equals OpenCV's `warpAffine` of that channel.
 */
export function warpAffineLinear(
  src: RawFrame,
  matrix: AffineMatrix,
  width: number,
  height: number,
): RawFrame {
  for (const v of [width, height]) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`warp sizes must be >= 1, got ${v}`);
  }
  const [m00, m01, m02, m10, m11, m12] = matrix;
  let d = m00 * m11 - m01 * m10;
  d = d !== 0 ? 1 / d : 0;
  const i00 = m11 * d, i01 = m01 * -d, i10 = m10 * -d, i11 = m00 * d;
  const i02 = -i00 * m02 - i01 * m12;
  const i12 = -i10 * m02 - i11 * m12;

  const adelta = new Int32Array(width), bdelta = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    adelta[x] = toInt(i00 * x * AB_SCALE);
    bdelta[x] = toInt(i10 * x * AB_SCALE);
  }
  const table = weights();
  const { data, width: sw, height: sh, channels: cn } = src;
  const stride = sw * cn;
  const out = new Uint8Array(width * height * cn);
  for (let y = 0, o = 0; y < height; y++) {
    const x0 = toInt((i01 * y + i02) * AB_SCALE) + ROUND_DELTA;
    const y0 = toInt((i11 * y + i12) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < width; x++, o += cn) {
      const X = (x0 + adelta[x]!) >> (AB_BITS - INTER_BITS);
      const Y = (y0 + bdelta[x]!) >> (AB_BITS - INTER_BITS);
      const sx = toShort(X >> INTER_BITS), sy = toShort(Y >> INTER_BITS);
      if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0) continue; // all taps outside: 0
      const w = ((Y & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE + (X & (INTER_TAB_SIZE - 1))) * 4;
      const w00 = table[w]!, w01 = table[w + 1]!, w10 = table[w + 2]!, w11 = table[w + 3]!;
      const inX0 = sx >= 0, inX1 = sx + 1 < sw, inY0 = sy >= 0, inY1 = sy + 1 < sh;
      const p00 = sy * stride + sx * cn;
      for (let c = 0; c < cn; c++) {
        const v00 = inX0 && inY0 ? data[p00 + c]! : 0;
        const v01 = inX1 && inY0 ? data[p00 + cn + c]! : 0;
        const v10 = inX0 && inY1 ? data[p00 + stride + c]! : 0;
        const v11 = inX1 && inY1 ? data[p00 + stride + cn + c]! : 0;
        const v = (v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11 + (1 << (COEF_BITS - 1))) >>
          COEF_BITS;
        out[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return { data: out, width, height, channels: cn, layout: src.layout };
}
