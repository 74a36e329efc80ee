/**
 * Face alignment: the 5 detected landmarks are mapped onto the standard ArcFace 112x112
 * template by a similarity transform (rotation, uniform scale, translation) fitted by least
 * squares — Umeyama's closed form, which in 2-D without reflection reduces to two sums — and the
 * face is resampled into an upright 112x112 RGB crop by the OpenCV-exact `warpAffine` port, as
 * insightface's `norm_crop` makes it. Embedding models are trained on crops made exactly this
 * way; unaligned crops cost a lot of accuracy.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";
import { warpAffineLinear } from "../image/warp_affine_linear.ts";
import type { Point } from "./face_types.ts";
import { rgbOffsets } from "./pixels.ts";

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
 * crop aligned to the ArcFace template (scaled for sizes other than 112): `cv2.warpAffine` with
 * the fitted transform, black outside the frame.
 */
export function alignFace(frame: RawFrame, landmarks: readonly Point[], size = 112): RawFrame {
  if (landmarks.length !== 5) throw new RangeError(`need 5 landmarks, got ${landmarks.length}`);
  const k = size / 112;
  const template = ARCFACE_TEMPLATE_112.map((p) => ({ x: p.x * k, y: p.y * k }));
  const t = estimateSimilarity(landmarks, template);
  const warped = warpAffineLinear(frame, [t.a, -t.b, t.tx, t.b, t.a, t.ty], size, size);
  return warped.layout === "rgb" ? warped : toRgb(warped);
}

/** The same pixels as RGB (channels reordered, grey expanded, alpha dropped). */
function toRgb(frame: RawFrame): RawFrame {
  const [r, g, b] = rgbOffsets(frame);
  const n = frame.width * frame.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0, p = 0, o = 0; i < n; i++, p += frame.channels, o += 3) {
    out[o] = frame.data[p + r]!;
    out[o + 1] = frame.data[p + g]!;
    out[o + 2] = frame.data[p + b]!;
  }
  return { data: out, width: frame.width, height: frame.height, channels: 3, layout: "rgb" };
}
