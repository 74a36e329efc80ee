/**
 * Motion masks: a camera's mask polygons rasterised onto the motion gate's thumbnail grid.
 * Thumbnail pixel `(x, y)` of a `w` x `h` thumbnail stands for the normalised point
 * `((x + 0.5) / w, (y + 0.5) / h)` — the same sample centre the gate reads — and is masked
 * (value 1) when that point lies inside any mask polygon (even-odd per polygon, union across
 * polygons).
 *
 * Interface for the motion gate: `mask.forSize(w, h)` returns `null` (nothing masked) or a
 * `w * h` byte array, row-major; the gate skips samples whose byte is 1 and divides the
 * changed count by the unmasked count. The array is computed once per size and reused: the
 * gate must not write to it.
 *
 * Rasterisation is by scanlines: per thumbnail row, the crossings of every polygon edge with
 * the row's centre line, sorted, fill the spans between pairs; no per-pixel point tests.
 *
 * @module
 */
import type { Polygon } from "../camera_settings.ts";
import { type FlatPolygon, flattenPolygon } from "./polygon.ts";

/** A camera's motion mask, rasterised lazily per thumbnail size. */
export interface MotionMask {
  /** The mask for a `width` x `height` thumbnail (1 = ignore), or null when nothing is masked. */
  forSize(width: number, height: number): Uint8Array | null;
}

/** Rasterises `polygons` onto a `width` x `height` grid (1 inside any polygon, else 0). */
export function rasterizePolygons(
  polygons: readonly FlatPolygon[],
  width: number,
  height: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  let maxPoints = 0;
  for (const p of polygons) maxPoints = Math.max(maxPoints, p.length / 2);
  const crossings = new Float64Array(maxPoints);
  for (let y = 0; y < height; y++) {
    const v = (y + 0.5) / height;
    const row = y * width;
    for (const poly of polygons) {
      const n = poly.length / 2;
      let count = 0;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const yi = poly[2 * i + 1]!;
        const yj = poly[2 * j + 1]!;
        if ((yi > v) === (yj > v)) continue;
        const xi = poly[2 * i]!;
        const xj = poly[2 * j]!;
        crossings[count++] = xi + ((v - yi) * (xj - xi)) / (yj - yi);
      }
      const xs = crossings.subarray(0, count).sort();
      for (let k = 0; k + 1 < count; k += 2) {
        // Sample centres u = (x + 0.5) / width with xs[k] <= u < xs[k+1] (the ray-casting rule).
        const from = Math.max(0, Math.ceil(xs[k]! * width - 0.5));
        const to = Math.min(width, Math.ceil(xs[k + 1]! * width - 0.5));
        out.fill(1, row + from, row + Math.max(from, to));
      }
    }
  }
  return out;
}

/** Creates the motion mask of a camera from its `masks` polygons. */
export function createMotionMask(polygons: readonly Polygon[]): MotionMask {
  const flat = polygons.map(flattenPolygon);
  let cached: { width: number; height: number; mask: Uint8Array } | null = null;
  return {
    forSize(width, height) {
      if (flat.length === 0) return null;
      if (!cached || cached.width !== width || cached.height !== height) {
        cached = { width, height, mask: rasterizePolygons(flat, width, height) };
      }
      return cached.mask;
    },
  };
}
