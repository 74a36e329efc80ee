/**
 * RTMDet preprocessing as mmdeploy runs it: keep the aspect ratio, resize with OpenCV's bilinear
 * rule (`cv2.resize` INTER_LINEAR: half-pixel centres, edge clamp, no antialias), pad the
 * bottom/right with 114, reorder to the model's channel order, `(v - mean) / std`, CHW float32.
 * All of that is ONE pass from the decoded HWC frame straight into a caller-owned tensor buffer:
 * no intermediate resized image, no per-frame allocation, pad value normalised once.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";

/** How a frame maps onto the model input (for mapping boxes back). */
export interface LetterboxGeometry {
  /** Source frame size. */
  readonly srcWidth: number;
  readonly srcHeight: number;
  /** Model input size. */
  readonly dstWidth: number;
  readonly dstHeight: number;
  /** Size of the resized image inside the input (the rest is padding). */
  readonly resizedWidth: number;
  readonly resizedHeight: number;
  /** Actual per-axis scale (resized / source), what mmdet divides boxes by. */
  readonly scaleX: number;
  readonly scaleY: number;
}

/**
 * mmcv `imrescale` geometry: one scale factor `min(dstW/w, dstH/h)`, sizes rounded half-up, then
 * per-axis factors recomputed from the rounded sizes (mmdet's `scale_factor`).
 */
export function computeLetterbox(
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
): LetterboxGeometry {
  const scale = Math.min(dstWidth / srcWidth, dstHeight / srcHeight);
  const resizedWidth = Math.min(dstWidth, Math.max(1, Math.floor(srcWidth * scale + 0.5)));
  const resizedHeight = Math.min(dstHeight, Math.max(1, Math.floor(srcHeight * scale + 0.5)));
  return {
    srcWidth,
    srcHeight,
    dstWidth,
    dstHeight,
    resizedWidth,
    resizedHeight,
    scaleX: resizedWidth / srcWidth,
    scaleY: resizedHeight / srcHeight,
  };
}

/** Normalisation of one model: target channel order and per-channel mean/std in that order. */
export interface Normalization {
  /** Channel order of the tensor. */
  readonly channelOrder: "bgr" | "rgb";
  /** Mean per tensor channel. */
  readonly mean: readonly [number, number, number];
  /** Std per tensor channel. */
  readonly std: readonly [number, number, number];
  /** Pad value before normalisation (114 for RTMDet). */
  readonly padValue: number;
}

/** Which source byte feeds each tensor channel, for a frame layout and target order. */
export function channelSources(
  layout: RawFrame["layout"],
  order: Normalization["channelOrder"],
): [number, number, number] {
  if (layout === "gray") return [0, 0, 0];
  const srcIsBgr = layout === "bgr";
  const wantBgr = order === "bgr";
  return srcIsBgr === wantBgr ? [0, 1, 2] : [2, 1, 0];
}

/** Size of the original frame when `frame` was already scaled down (e.g. by the JPEG decoder). */
export interface SourceSize {
  readonly width: number;
  readonly height: number;
}

/**
 * Writes `frame` letterboxed and normalised into `out` (CHW, `3 * dstH * dstW` floats starting at
 * `offset`). Returns the geometry used. When `source` is given, `frame` is a pre-scaled copy of
 * a `source`-sized frame: geometry (and so box mapping) follows `source`, and `frame` is resized
 * to the letterbox size (a no-op copy when it already has that size).
 */
export function letterboxInto(
  frame: RawFrame,
  dstWidth: number,
  dstHeight: number,
  norm: Normalization,
  out: Float32Array,
  offset = 0,
  source?: SourceSize,
): LetterboxGeometry {
  const g = computeLetterbox(
    source?.width ?? frame.width,
    source?.height ?? frame.height,
    dstWidth,
    dstHeight,
  );
  const { resizedWidth: rw, resizedHeight: rh } = g;
  const plane = dstWidth * dstHeight;
  const src = frame.data;
  const ch = frame.channels;
  const rowStride = frame.width * ch;
  const [s0, s1, s2] = channelSources(frame.layout, norm.channelOrder);
  const mul0 = 1 / norm.std[0], mul1 = 1 / norm.std[1], mul2 = 1 / norm.std[2];
  const add0 = -norm.mean[0] * mul0, add1 = -norm.mean[1] * mul1, add2 = -norm.mean[2] * mul2;
  const o0 = offset, o1 = offset + plane, o2 = offset + 2 * plane;

  // Taps once per column and per row (OpenCV's bilinear rule), then scaled to byte offsets.
  const xs = bilinearTaps(rw, frame.width);
  const ys = bilinearTaps(rh, frame.height);
  const xa = new Int32Array(rw);
  const xb = new Int32Array(rw);
  for (let x = 0; x < rw; x++) {
    xa[x] = xs.lo[x]! * ch;
    xb[x] = xs.hi[x]! * ch;
  }
  const xw = xs.weight;
  for (let y = 0; y < rh; y++) {
    const rowA = ys.lo[y]! * rowStride;
    const rowB = ys.hi[y]! * rowStride;
    const wy = ys.weight[y]!;
    const dstRow = y * dstWidth;
    for (let x = 0; x < rw; x++) {
      const a = rowA + xa[x]!, b = rowA + xb[x]!, c = rowB + xa[x]!, d = rowB + xb[x]!;
      const wx = xw[x]!;
      const i = dstRow + x;
      // cv2 produces a uint8 image before normalisation: round to match it.
      let top = src[a + s0]! + (src[b + s0]! - src[a + s0]!) * wx;
      let bot = src[c + s0]! + (src[d + s0]! - src[c + s0]!) * wx;
      out[o0 + i] = Math.round(top + (bot - top) * wy) * mul0 + add0;
      top = src[a + s1]! + (src[b + s1]! - src[a + s1]!) * wx;
      bot = src[c + s1]! + (src[d + s1]! - src[c + s1]!) * wx;
      out[o1 + i] = Math.round(top + (bot - top) * wy) * mul1 + add1;
      top = src[a + s2]! + (src[b + s2]! - src[a + s2]!) * wx;
      bot = src[c + s2]! + (src[d + s2]! - src[c + s2]!) * wx;
      out[o2 + i] = Math.round(top + (bot - top) * wy) * mul2 + add2;
    }
    if (rw < dstWidth) {
      out.fill(norm.padValue * mul0 + add0, o0 + dstRow + rw, o0 + dstRow + dstWidth);
      out.fill(norm.padValue * mul1 + add1, o1 + dstRow + rw, o1 + dstRow + dstWidth);
      out.fill(norm.padValue * mul2 + add2, o2 + dstRow + rw, o2 + dstRow + dstWidth);
    }
  }
  if (rh < dstHeight) {
    const start = rh * dstWidth;
    out.fill(norm.padValue * mul0 + add0, o0 + start, o0 + plane);
    out.fill(norm.padValue * mul1 + add1, o1 + start, o1 + plane);
    out.fill(norm.padValue * mul2 + add2, o2 + start, o2 + plane);
  }
  return g;
}

/**
 * Source neighbours and weights of each destination index when `srcSize` samples are resized
 * to `dstSize` (pixel-centre mapping, clamped at the edges like cv2.resize INTER_LINEAR).
 */
function bilinearTaps(
  dstSize: number,
  srcSize: number,
): { lo: Int32Array; hi: Int32Array; weight: Float64Array } {
  const lo = new Int32Array(dstSize);
  const hi = new Int32Array(dstSize);
  const weight = new Float64Array(dstSize);
  const scale = srcSize / dstSize;
  for (let i = 0; i < dstSize; i++) {
    let f = (i + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= srcSize - 1) {
      s = srcSize - 1;
      f = 0;
    }
    lo[i] = s;
    hi[i] = Math.min(s + 1, srcSize - 1);
    weight[i] = f;
  }
  return { lo, hi, weight };
}

/** Fills one CHW image slot entirely with the normalised pad value (warm-up input). */
export function fillPad(
  out: Float32Array,
  dstWidth: number,
  dstHeight: number,
  norm: Normalization,
  offset = 0,
): void {
  const plane = dstWidth * dstHeight;
  for (let c = 0; c < 3; c++) {
    out.fill(
      (norm.padValue - norm.mean[c]!) / norm.std[c]!,
      offset + c * plane,
      offset + (c + 1) * plane,
    );
  }
}
