/**
 * Face alignment: the 5 detected landmarks are mapped onto the standard ArcFace 112x112
 * template by a similarity transform (rotation, uniform scale, translation) fitted by least
 * squares — Umeyama's closed form, which in 2-D without reflection reduces to two sums — and the
 * face is resampled bilinearly into an upright 112x112 RGB crop. Embedding models are trained on
 * crops made exactly this way; unaligned crops cost a lot of accuracy.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";
import type { Point } from "./face_types.ts";
import { rgbOffsets, sampleBilinear3 } from "./pixels.ts";

/** ArcFace reference landmarks for a 112x112 crop (eyes, nose, mouth corners). */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

/** `dst = [a -b; b a] * src + [tx; ty]`. */
export interface SimilarityTransform {
  readonly a: number;
  readonly b: number;
  readonly tx: number;
  readonly ty: number;
}

/** Least-squares similarity transform taking `src` points onto `dst` points (same length >= 2). */
export function estimateSimilarity(
  src: readonly Point[],
  dst: readonly Point[],
): SimilarityTransform {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new RangeError("need >= 2 matching point pairs");
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i]!.x;
    msy += src[i]!.y;
    mdx += dst[i]!.x;
    mdy += dst[i]!.y;
  }
  msx /= n, msy /= n, mdx /= n, mdy /= n;
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]!.x - msx, sy = src[i]!.y - msy;
    const dx = dst[i]!.x - mdx, dy = dst[i]!.y - mdy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
    norm += sx * sx + sy * sy;
  }
  if (!(norm > 0)) throw new RangeError("source points are all identical");
  const a = dot / norm, b = cross / norm;
  return { a, b, tx: mdx - (a * msx - b * msy), ty: mdy - (b * msx + a * msy) };
}

/** Applies a transform to a point. */
export function applySimilarity(t: SimilarityTransform, p: Point): Point {
  return { x: t.a * p.x - t.b * p.y + t.tx, y: t.b * p.x + t.a * p.y + t.ty };
}

/**
 * Warps the face with these `landmarks` (frame pixels, detector order) to a `size`x`size` RGB
 * crop aligned to the ArcFace template (scaled for sizes other than 112).
 */
export function alignFace(frame: RawFrame, landmarks: readonly Point[], size = 112): RawFrame {
  if (landmarks.length !== 5) throw new RangeError(`need 5 landmarks, got ${landmarks.length}`);
  const k = size / 112;
  const template = ARCFACE_TEMPLATE_112.map((p) => ({ x: p.x * k, y: p.y * k }));
  const t = estimateSimilarity(landmarks, template);
  // Invert dst = R src + t: src = R^-1 (dst - t), R^-1 = [a b; -b a] / (a^2 + b^2).
  const det = t.a * t.a + t.b * t.b;
  const ia = t.a / det, ib = t.b / det;
  const rgb = rgbOffsets(frame);
  const px = new Float64Array(3);
  const out = new Uint8Array(size * size * 3);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const du = u - t.tx, dv = v - t.ty;
      const x = ia * du + ib * dv;
      const y = -ib * du + ia * dv;
      const o = (v * size + u) * 3;
      sampleBilinear3(frame, x, y, rgb, px);
      out[o] = Math.round(px[0]!);
      out[o + 1] = Math.round(px[1]!);
      out[o + 2] = Math.round(px[2]!);
    }
  }
  return { data: out, width: size, height: size, channels: 3, layout: "rgb" };
}
