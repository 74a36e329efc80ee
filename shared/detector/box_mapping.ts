/**
 * Mapping boxes from model-input pixels back to frame pixels (divide by the letterbox scale,
 * then clip to the frame), shared by both output decoders.
 *
 * @module
 */
import type { BoundingBox as Box } from "../events.ts";
import type { LetterboxGeometry } from "./letterbox.ts";

/** Maps an input-space box to a clipped frame-space box; `null` when nothing is left of it. */
export function mapBoxToFrame(
  g: LetterboxGeometry,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
): Box | null {
  const bx1 = clamp(x1 / g.scaleX, g.srcWidth);
  const by1 = clamp(y1 / g.scaleY, g.srcHeight);
  const bx2 = clamp(x2 / g.scaleX, g.srcWidth);
  const by2 = clamp(y2 / g.scaleY, g.srcHeight);
  if (!(bx2 > bx1 && by2 > by1)) return null;
  return { x1: round2(bx1), y1: round2(by1), x2: round2(bx2), y2: round2(by2) };
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

/** Two decimals are far below a pixel and keep JSON short. */
function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
