/**
 * RTMDet preprocessing as mmdeploy runs it, bit for bit: mmcv `imrescale` geometry (one scale
 * `min(W/w, H/h)`, sizes `int(x * s + 0.5)`), `cv2.resize(img, (nw, nh), INTER_LINEAR)` through
 * the OpenCV port in `image/resize_linear.ts` (8-bit fixed point, so the resized uint8 image is
 * identical to OpenCV's), pad bottom/right with 114, the model's channel order, then
 * `(v - mean) / std` in float32 — looked up per byte value from a 256-entry table computed with
 * float32 rounding, so the tensor equals numpy's `(img.astype(float32) - mean) / std`.
 *
 * Each resized row goes straight from the resizer into the caller-owned CHW tensor: no
 * intermediate image, no per-frame allocation once a {@link Letterboxer}'s scratch has grown.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";
import {
  createResizeScratch,
  resizeLinearRows,
  resizePlan,
  type ResizeScratch,
} from "../image/resize_linear.ts";

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

/** Float32 `(v - mean) / std` for every byte value `v`, one table per tensor channel. */
function normalizationTables(norm: Normalization): [Float32Array, Float32Array, Float32Array] {
  const tables: Float32Array[] = [];
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(norm.mean[c]!), std = Math.fround(norm.std[c]!);
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(v - mean) / std);
    tables.push(t);
  }
  return tables as [Float32Array, Float32Array, Float32Array];
}

/** Letterboxes frames for one model normalisation, reusing its tables and row buffers. */
export interface Letterboxer {
  /**
   * Writes `frame` letterboxed and normalised into `out` (CHW, `3 * dstH * dstW` floats starting
   * at `offset`). Returns the geometry used (for mapping boxes back).
   */
  letterboxInto(
    frame: RawFrame,
    dstWidth: number,
    dstHeight: number,
    out: Float32Array,
    offset?: number,
  ): LetterboxGeometry;
}

/** Creates a {@link Letterboxer} for `norm`. */
export function createLetterboxer(norm: Normalization): Letterboxer {
  const [t0, t1, t2] = normalizationTables(norm);
  const pad = Math.min(255, Math.max(0, Math.round(norm.padValue)));
  const scratch: ResizeScratch = createResizeScratch();
  return {
    letterboxInto(frame, dstWidth, dstHeight, out, offset = 0) {
      const g = computeLetterbox(frame.width, frame.height, dstWidth, dstHeight);
      const { resizedWidth: rw, resizedHeight: rh } = g;
      const plane = dstWidth * dstHeight;
      const o0 = offset, o1 = offset + plane, o2 = offset + 2 * plane;
      const [s0, s1, s2] = channelSources(frame.layout, norm.channelOrder);
      const cn = frame.channels;
      const plan = resizePlan(frame.width, frame.height, rw, rh);
      resizeLinearRows(frame, plan, (y, row) => {
        const base = y * dstWidth;
        for (let x = 0, p = 0; x < rw; x++, p += cn) {
          out[o0 + base + x] = t0[row[p + s0]!]!;
          out[o1 + base + x] = t1[row[p + s1]!]!;
          out[o2 + base + x] = t2[row[p + s2]!]!;
        }
        if (rw < dstWidth) {
          out.fill(t0[pad]!, o0 + base + rw, o0 + base + dstWidth);
          out.fill(t1[pad]!, o1 + base + rw, o1 + base + dstWidth);
          out.fill(t2[pad]!, o2 + base + rw, o2 + base + dstWidth);
        }
      }, scratch);
      if (rh < dstHeight) {
        const start = rh * dstWidth;
        out.fill(t0[pad]!, o0 + start, o0 + plane);
        out.fill(t1[pad]!, o1 + start, o1 + plane);
        out.fill(t2[pad]!, o2 + start, o2 + plane);
      }
      return g;
    },
  };
}

/**
 * One-off {@link Letterboxer.letterboxInto} (builds the tables each call; hot paths keep a
 * {@link createLetterboxer} instead).
 */
export function letterboxInto(
  frame: RawFrame,
  dstWidth: number,
  dstHeight: number,
  norm: Normalization,
  out: Float32Array,
  offset = 0,
): LetterboxGeometry {
  return createLetterboxer(norm).letterboxInto(frame, dstWidth, dstHeight, out, offset);
}

/**
 * The letterboxed uint8 image before normalisation (HWC, the model's channel order, padded with
 * `padValue`): what `cv2.resize` + pad produce, for fidelity checks and debugging.
 */
export function letterboxImage(
  frame: RawFrame,
  dstWidth: number,
  dstHeight: number,
  channelOrder: Normalization["channelOrder"],
  padValue: number,
): { image: Uint8Array; geometry: LetterboxGeometry } {
  const g = computeLetterbox(frame.width, frame.height, dstWidth, dstHeight);
  const image = new Uint8Array(dstWidth * dstHeight * 3).fill(padValue);
  const [s0, s1, s2] = channelSources(frame.layout, channelOrder);
  const cn = frame.channels;
  const plan = resizePlan(frame.width, frame.height, g.resizedWidth, g.resizedHeight);
  resizeLinearRows(frame, plan, (y, row) => {
    for (let x = 0, p = 0, o = y * dstWidth * 3; x < g.resizedWidth; x++, p += cn, o += 3) {
      image[o] = row[p + s0]!;
      image[o + 1] = row[p + s1]!;
      image[o + 2] = row[p + s2]!;
    }
  });
  return { image, geometry: g };
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
      Math.fround(
        Math.fround(norm.padValue - Math.fround(norm.mean[c]!)) / Math.fround(norm.std[c]!),
      ),
      offset + c * plane,
      offset + (c + 1) * plane,
    );
  }
}
