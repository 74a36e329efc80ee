/**
 * A port of OpenCV's `cv::resize(..., INTER_LINEAR)` for 8-bit images (imgproc/src/resize.cpp),
 * reproducing its output byte for byte, because the detector was trained on images resized by
 * exactly that function (mmdeploy / mmcv `imrescale` with the cv2 backend).
 *
 * What "exactly" means, following OpenCV 4.x:
 * - scale: `inv = dstW / srcW` and `scale = 1 / inv` in double precision;
 * - source coordinate `f = (float)((d + 0.5) * scale - 0.5)` (single precision), `s = floor(f)`,
 *   `f -= s`; horizontally a coordinate left of the image clamps to (0, 0), one at or right of
 *   the last column clamps to (last, 0); vertically the fraction is kept and the two source rows
 *   are clipped into the image instead;
 * - weights `saturate_cast<short>((1.f - f) * 2048)` and `saturate_cast<short>(f * 2048)`
 *   (INTER_RESIZE_COEF_BITS = 11, round half to even as `cvRound` does);
 * - row pass `S[x] * a0 + S[x + cn] * a1` in 32-bit integers;
 * - column pass as OpenCV's 8-bit specialisation of `VResizeLinear` (SIMD and scalar tail alike):
 *   `(((b0 * (R0 >> 4)) >> 16) + ((b1 * (R1 >> 4)) >> 16) + 2) >> 2`. This is NOT the generic
 *   `(R0 * b0 + R1 * b1 + (1 << 21)) >> 22` of `FixedPtCast`, and the two differ by one grey
 *   level on some pixels;
 * - an exact 2x reduction on both axes goes through OpenCV's `INTER_AREA` fast path, whose
 *   `(a + b + c + d + 2) >> 2` equals the formula above for weights (1024, 1024), so it needs no
 *   separate code; an unchanged size is a copy, which the formula also reproduces.
 *
 * Tap tables depend only on the (source, destination) sizes and are cached; resizing allocates
 * nothing per pixel and computes each source row's horizontal pass once.
 *
 * @module
 */

/** OpenCV's INTER_RESIZE_COEF_BITS. */
const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Precomputed taps for one (source size, destination size) pair. */
export interface ResizePlan {
  readonly srcWidth: number;
  readonly srcHeight: number;
  readonly dstWidth: number;
  readonly dstHeight: number;
  /** Per destination column: source column of the left and right taps. */
  readonly x0: Int32Array;
  readonly x1: Int32Array;
  /** Per destination column: fixed-point weights of the left and right taps. */
  readonly a0: Int32Array;
  readonly a1: Int32Array;
  /** Per destination row: the two source rows (already clipped into the image). */
  readonly y0: Int32Array;
  readonly y1: Int32Array;
  /** Per destination row: fixed-point weights of the two rows. */
  readonly b0: Int32Array;
  readonly b1: Int32Array;
}

/** `cvRound` of a float: round half to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) === 1 ? r - 1 : r;
}

/** `saturate_cast<short>(x * INTER_RESIZE_COEF_SCALE)` of a float weight. */
function fixedWeight(w: number): number {
  const v = roundHalfEven(Math.fround(w * COEF_SCALE));
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Builds the tap tables for resizing `srcW`x`srcH` to `dstW`x`dstH`. */
export function createResizePlan(
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
): ResizePlan {
  for (const v of [srcWidth, srcHeight, dstWidth, dstHeight]) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`resize sizes must be >= 1, got ${v}`);
  }
  const x0 = new Int32Array(dstWidth), x1 = new Int32Array(dstWidth);
  const a0 = new Int32Array(dstWidth), a1 = new Int32Array(dstWidth);
  const scaleX = 1 / (dstWidth / srcWidth);
  for (let dx = 0; dx < dstWidth; dx++) {
    let f = Math.fround((dx + 0.5) * scaleX - 0.5);
    let sx = Math.floor(f);
    f = Math.fround(f - sx);
    if (sx < 0) sx = 0, f = 0;
    if (sx >= srcWidth - 1) sx = srcWidth - 1, f = 0;
    x0[dx] = sx;
    // At the right edge OpenCV multiplies the single tap by 2048; a zero-weight second tap on
    // the same pixel gives the same sum without reading outside the row.
    x1[dx] = sx + 1 < srcWidth ? sx + 1 : sx;
    a0[dx] = fixedWeight(Math.fround(1 - f));
    a1[dx] = fixedWeight(f);
  }
  const y0 = new Int32Array(dstHeight), y1 = new Int32Array(dstHeight);
  const b0 = new Int32Array(dstHeight), b1 = new Int32Array(dstHeight);
  const scaleY = 1 / (dstHeight / srcHeight);
  for (let dy = 0; dy < dstHeight; dy++) {
    let f = Math.fround((dy + 0.5) * scaleY - 0.5);
    const sy = Math.floor(f);
    f = Math.fround(f - sy);
    y0[dy] = clipRow(sy, srcHeight);
    y1[dy] = clipRow(sy + 1, srcHeight);
    b0[dy] = fixedWeight(Math.fround(1 - f));
    b1[dy] = fixedWeight(f);
  }
  return { srcWidth, srcHeight, dstWidth, dstHeight, x0, x1, a0, a1, y0, y1, b0, b1 };
}

function clipRow(y: number, height: number): number {
  return y >= 0 ? (y < height ? y : height - 1) : 0;
}

const PLAN_CACHE_SIZE = 32;
const planCache = new Map<string, ResizePlan>();

/**
 * The cached {@link ResizePlan} for these sizes (a small LRU: cameras keep their frame size, so
 * a handful of plans serve every frame).
 */
export function resizePlan(
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
): ResizePlan {
  const key = `${srcWidth}x${srcHeight}>${dstWidth}x${dstHeight}`;
  const hit = planCache.get(key);
  if (hit) {
    planCache.delete(key);
    planCache.set(key, hit);
    return hit;
  }
  const plan = createResizePlan(srcWidth, srcHeight, dstWidth, dstHeight);
  if (planCache.size >= PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value!);
  planCache.set(key, plan);
  return plan;
}

/** Interleaved 8-bit pixels to resize: a whole frame, or a rectangle of one (`rowStride`). */
export interface PixelRows {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Interleaved channels per pixel (1 to 4). */
  readonly channels: number;
  /** Bytes from one row to the next (default `width * channels`). */
  readonly rowStride?: number;
  /** Byte index of the first pixel (default 0). */
  readonly byteOffset?: number;
}

/** Receives each resized row in order; `row` is reused for the next row. */
export type ResizedRowSink = (y: number, row: Uint8Array) => void;

/** Reusable buffers of {@link resizeLinearRows}, so steady-state resizing allocates nothing. */
export interface ResizeScratch {
  rowA: Int32Array;
  rowB: Int32Array;
  out: Uint8Array;
}

/** Scratch buffers sized for rows of `width * channels` values. */
export function createResizeScratch(width = 0, channels = 3): ResizeScratch {
  const n = width * channels;
  return { rowA: new Int32Array(n), rowB: new Int32Array(n), out: new Uint8Array(n) };
}

/**
 * Resizes `src` by `plan` (OpenCV INTER_LINEAR, see the module doc), handing each destination
 * row, in order, to `sink`. Each source row's horizontal pass is computed once and reused while
 * consecutive destination rows need it.
 */
export function resizeLinearRows(
  src: PixelRows,
  plan: ResizePlan,
  sink: ResizedRowSink,
  scratch: ResizeScratch = createResizeScratch(),
): void {
  if (src.width !== plan.srcWidth || src.height !== plan.srcHeight) {
    throw new RangeError(
      `plan is for ${plan.srcWidth}x${plan.srcHeight}, frame is ${src.width}x${src.height}`,
    );
  }
  const cn = src.channels;
  const n = plan.dstWidth * cn;
  if (scratch.rowA.length < n) {
    scratch.rowA = new Int32Array(n);
    scratch.rowB = new Int32Array(n);
    scratch.out = new Uint8Array(n);
  }
  const out = scratch.out.length === n ? scratch.out : scratch.out.subarray(0, n);
  // Two row slots, tagged with the source row they hold (-1: none).
  let slotA = scratch.rowA, slotB = scratch.rowB;
  let rowInA = -1, rowInB = -1;
  const { y0, y1, b0, b1 } = plan;
  for (let dy = 0; dy < plan.dstHeight; dy++) {
    const r0 = y0[dy]!, r1 = y1[dy]!;
    // Keep a row that is still needed; compute only the missing ones.
    if (rowInA !== r0) {
      if (rowInB === r0) {
        const t = slotA;
        slotA = slotB;
        slotB = t;
        rowInB = rowInA;
        rowInA = r0;
      } else {
        horizontalPass(src, plan, r0, slotA);
        rowInA = r0;
      }
    }
    let h1 = slotA;
    if (r1 !== r0) {
      if (rowInB !== r1) {
        horizontalPass(src, plan, r1, slotB);
        rowInB = r1;
      }
      h1 = slotB;
    }
    verticalPass(slotA, h1, b0[dy]!, b1[dy]!, out, n);
    sink(dy, out);
  }
}

/** One source row through the horizontal taps into `dst` (`dstWidth * channels` values). */
function horizontalPass(src: PixelRows, plan: ResizePlan, sy: number, dst: Int32Array): void {
  const { data } = src;
  const cn = src.channels;
  const rowStart = (src.byteOffset ?? 0) + sy * (src.rowStride ?? src.width * cn);
  const { x0, x1, a0, a1 } = plan;
  const w = plan.dstWidth;
  if (cn === 3) {
    for (let dx = 0, o = 0; dx < w; dx++, o += 3) {
      const p = rowStart + x0[dx]! * 3, q = rowStart + x1[dx]! * 3;
      const w0 = a0[dx]!, w1 = a1[dx]!;
      dst[o] = data[p]! * w0 + data[q]! * w1;
      dst[o + 1] = data[p + 1]! * w0 + data[q + 1]! * w1;
      dst[o + 2] = data[p + 2]! * w0 + data[q + 2]! * w1;
    }
  } else if (cn === 1) {
    for (let dx = 0; dx < w; dx++) {
      dst[dx] = data[rowStart + x0[dx]!]! * a0[dx]! + data[rowStart + x1[dx]!]! * a1[dx]!;
    }
  } else {
    for (let dx = 0, o = 0; dx < w; dx++, o += cn) {
      const p = rowStart + x0[dx]! * cn, q = rowStart + x1[dx]! * cn;
      const w0 = a0[dx]!, w1 = a1[dx]!;
      for (let c = 0; c < cn; c++) dst[o + c] = data[p + c]! * w0 + data[q + c]! * w1;
    }
  }
}

/** OpenCV's 8-bit `VResizeLinear`: the SIMD-compatible fixed-point blend of two rows. */
function verticalPass(
  r0: Int32Array,
  r1: Int32Array,
  w0: number,
  w1: number,
  out: Uint8Array,
  n: number,
): void {
  for (let x = 0; x < n; x++) {
    out[x] = (((w0 * (r0[x]! >> 4)) >> 16) + ((w1 * (r1[x]! >> 4)) >> 16) + 2) >> 2;
  }
}

/**
 * Resizes a whole interleaved image (OpenCV INTER_LINEAR) into `out` (allocated when absent):
 * `dstWidth * dstHeight * channels` bytes.
 */
export function resizeLinear(
  src: PixelRows,
  dstWidth: number,
  dstHeight: number,
  out?: Uint8Array,
): Uint8Array {
  const plan = resizePlan(src.width, src.height, dstWidth, dstHeight);
  const rowBytes = dstWidth * src.channels;
  const dst = out ?? new Uint8Array(rowBytes * dstHeight);
  if (dst.length < rowBytes * dstHeight) throw new RangeError("resize output buffer too small");
  resizeLinearRows(src, plan, (y, row) => dst.set(row, y * rowBytes));
  return dst;
}
