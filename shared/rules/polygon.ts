/**
 * Polygons in normalised frame coordinates, compiled once to flat arrays
 * (`[x0, y0, x1, y1, ...]`) so the per-frame tests walk numbers, not objects.
 * Point-in-polygon is the even-odd rule (ray casting), correct for concave polygons.
 *
 * @module
 */
import type { BoundingBox } from "../events.ts";
import type { Polygon } from "../camera_settings.ts";

/** A compiled polygon: `[x0, y0, x1, y1, ...]`, normalised. */
export type FlatPolygon = Float64Array;

/** Compiles a polygon from the settings. */
export function flattenPolygon(polygon: Polygon): FlatPolygon {
  const out = new Float64Array(polygon.length * 2);
  for (let i = 0; i < polygon.length; i++) {
    out[2 * i] = polygon[i]![0];
    out[2 * i + 1] = polygon[i]![1];
  }
  return out;
}

/** Whether `(x, y)` lies inside `poly` (even-odd rule). */
export function pointInPolygon(poly: FlatPolygon, x: number, y: number): boolean {
  let inside = false;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly[2 * i]!;
    const yi = poly[2 * i + 1]!;
    const xj = poly[2 * j]!;
    const yj = poly[2 * j + 1]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Boxes are clipped to the frame, so a bottom edge often lies exactly on y = 1, where a zone
// drawn to the frame's edge also ends; nudging the point inwards keeps it inside such a zone.
const EDGE = 1e-6;

/**
 * The point a zone tests, as Frigate does: the bottom-centre of the box (where the object
 * touches the ground), normalised by the frame size and kept just inside the frame.
 */
export function bottomCentre(
  bbox: BoundingBox,
  width: number,
  height: number,
): [number, number] {
  const x = (bbox.x1 + bbox.x2) / 2 / width;
  const y = bbox.y2 / height;
  return [Math.min(1 - EDGE, Math.max(EDGE, x)), Math.min(1 - EDGE, Math.max(EDGE, y))];
}
