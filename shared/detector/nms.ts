/**
 * Greedy non-maximum suppression, class-aware like mmcv's `batched_nms`: boxes of different
 * classes never suppress each other.
 *
 * @module
 */

/** Intersection over union of two boxes given as [x1, y1, x2, y2] at `a` and `b` in `boxes`. */
export function iouAt(boxes: ArrayLike<number>, a: number, b: number): number {
  const ax1 = boxes[a * 4]!,
    ay1 = boxes[a * 4 + 1]!,
    ax2 = boxes[a * 4 + 2]!,
    ay2 = boxes[a * 4 + 3]!;
  const bx1 = boxes[b * 4]!,
    by1 = boxes[b * 4 + 1]!,
    bx2 = boxes[b * 4 + 2]!,
    by2 = boxes[b * 4 + 3]!;
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Options of {@link classAwareNms}. */
export interface NmsOptions {
  /** Suppress a box whose IoU with a kept box of the same class exceeds this. */
  readonly iouThreshold: number;
  /** Keep at most this many boxes overall (highest scores first). */
  readonly maxDetections: number;
}

/**
 * Returns the indices of kept candidates, highest score first. `boxes` holds 4 numbers per
 * candidate, `scores` and `classIds` one each.
 */
export function classAwareNms(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  classIds: ArrayLike<number>,
  options: NmsOptions,
): number[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const kept: number[] = [];
  const suppressed = new Uint8Array(n);
  for (let oi = 0; oi < n && kept.length < options.maxDetections; oi++) {
    const i = order[oi]!;
    if (suppressed[i]) continue;
    kept.push(i);
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj]!;
      if (suppressed[j] || classIds[j] !== classIds[i]) continue;
      if (iouAt(boxes, i, j) > options.iouThreshold) suppressed[j] = 1;
    }
  }
  return kept;
}
