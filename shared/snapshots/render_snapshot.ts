/**
 * An alert's snapshot: a copy of the frame with the object's box drawn, encoded as JPEG with
 * sharp. The frame itself is never written to (other stages still read it); the copy is made
 * in one pass that also puts BGR into RGB order, then the box's four edges are painted.
 * Boxes are in source-frame pixels; a pre-scaled frame (`source`) has them scaled down.
 *
 * @module
 */
import sharp from "sharp";
import type { BoundingBox } from "../events.ts";
import type { RawFrame } from "../image/raw_frame.ts";

/** Options of {@link renderSnapshot}. */
export interface RenderSnapshotOptions {
  /** JPEG quality, 1-100. */
  readonly quality: number;
  /** Box colour as RGB (default red). */
  readonly color?: readonly [number, number, number];
}

/** A frame as the pipeline holds it (optionally a scaled copy of a larger source). */
export type SnapshotFrame = RawFrame & {
  readonly source?: { readonly width: number; readonly height: number };
};

/** Copies `frame` into RGB(A)/grey order for sharp (BGR swapped in the same pass). */
function copyForEncoder(frame: RawFrame): Uint8Array {
  const { data, layout } = frame;
  if (layout !== "bgr") return data.slice();
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    out[i] = data[i + 2]!;
    out[i + 1] = data[i + 1]!;
    out[i + 2] = data[i]!;
  }
  return out;
}

/** Paints the filled rectangle [x1, x2) x [y1, y2) of `px` (channels per pixel `ch`). */
function fillRect(
  px: Uint8Array,
  width: number,
  ch: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  color: readonly number[],
): void {
  for (let y = y1; y < y2; y++) {
    let p = (y * width + x1) * ch;
    for (let x = x1; x < x2; x++, p += ch) {
      if (ch === 1) px[p] = color[0]!;
      else {
        px[p] = color[0]!;
        px[p + 1] = color[1]!;
        px[p + 2] = color[2]!;
      }
    }
  }
}

/** Draws `bbox` into a copy of `frame` and encodes it as JPEG. */
export async function renderSnapshot(
  frame: SnapshotFrame,
  bbox: BoundingBox,
  options: RenderSnapshotOptions,
): Promise<Uint8Array> {
  const { width, height, channels } = frame;
  const px = copyForEncoder(frame);
  const sx = frame.source ? width / frame.source.width : 1;
  const sy = frame.source ? height / frame.source.height : 1;
  const clampX = (v: number) => Math.min(width, Math.max(0, Math.round(v * sx)));
  const clampY = (v: number) => Math.min(height, Math.max(0, Math.round(v * sy)));
  const x1 = clampX(bbox.x1);
  const x2 = clampX(bbox.x2);
  const y1 = clampY(bbox.y1);
  const y2 = clampY(bbox.y2);
  const t = Math.max(3, Math.round(Math.min(width, height) / 200));
  const rgb = options.color ?? [255, 0, 0];
  const color = channels === 1
    ? [Math.round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])]
    : rgb;
  if (x2 > x1 && y2 > y1) {
    fillRect(px, width, channels, x1, y1, x2, Math.min(y2, y1 + t), color); // top
    fillRect(px, width, channels, x1, Math.max(y1, y2 - t), x2, y2, color); // bottom
    fillRect(px, width, channels, x1, y1, Math.min(x2, x1 + t), y2, color); // left
    fillRect(px, width, channels, Math.max(x1, x2 - t), y1, x2, y2, color); // right
  }
  const jpeg = await sharp(px, { raw: { width, height, channels } })
    .jpeg({ quality: options.quality, chromaSubsampling: "4:4:4" }) // keeps thin box lines red
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}
