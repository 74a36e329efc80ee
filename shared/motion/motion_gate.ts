/**
 * Motion gate: the detector runs only on frames that differ enough from the camera's previous
 * frame. Frames are compared as small grey thumbnails (`analysisWidth` wide, sampled straight
 * from the decoded pixels: one pass over a few thousand samples, no full-frame copy), counting
 * samples whose grey level changed by more than `pixelThreshold`. The first frame of a camera,
 * and a frame whose size changed, always count as motion.
 *
 * A camera's motion mask (its `masks` polygons rasterised on the thumbnail grid) takes samples
 * out of the comparison: the score is the changed share of the unmasked samples (0 when every
 * sample is masked). The gate only reads the mask.
 *
 * The gate keeps no state of its own: {@link checkMotion} is a function of the camera's
 * {@link MotionReference} (kept in the pipeline's per-camera record) and the new frame.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";

/** Settings of the gate. */
export interface MotionOptions {
  /** Grey-level difference (0-255) that marks a sample as changed. */
  readonly pixelThreshold: number;
  /** Share of changed samples (0-1) that counts as motion. */
  readonly minAreaFraction: number;
  /** Width of the comparison thumbnail. */
  readonly analysisWidth: number;
}

/** The gate's verdict on one frame. */
export interface MotionResult {
  /** Whether the frame counts as motion. */
  readonly motion: boolean;
  /** Share of changed samples, 0-1 (1 for a camera's first frame). */
  readonly score: number;
}

/**
 * A camera's previous frame as the gate remembers it: its thumbnail and a spare buffer of the
 * same size, swapped each frame so a camera allocates nothing after its first frame.
 */
export interface MotionReference {
  thumb: Uint8Array;
  spare: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Samples `frame` into a grey thumbnail `tw` x `th` (nearest sample, BT.601 luma). */
export function greyThumbnail(
  frame: RawFrame,
  tw: number,
  th: number,
  out: Uint8Array = new Uint8Array(tw * th),
): Uint8Array {
  const { data, width, height, channels, layout } = frame;
  // Weights in 1/256 units; the red/blue positions depend on the layout.
  const rIdx = layout === "bgr" ? 2 : 0;
  const bIdx = layout === "bgr" ? 0 : 2;
  for (let y = 0; y < th; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / th));
    const row = sy * width;
    for (let x = 0; x < tw; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / tw));
      const p = (row + sx) * channels;
      out[y * tw + x] = channels === 1
        ? data[p]!
        : (77 * data[p + rIdx]! + 150 * data[p + 1]! + 29 * data[p + bIdx]!) >> 8;
    }
  }
  return out;
}

/** Where the gate gets a camera's mask: a `w * h` array (1 = ignore) per thumbnail size. */
export interface MotionMaskSource {
  /** The mask of a `width` x `height` thumbnail, or null when nothing is masked. */
  forSize(width: number, height: number): Uint8Array | null;
}

/**
 * Compares `frame` with `reference` (the camera's previous frame, null for its first) and
 * returns the verdict and the reference for the next frame: `reference` itself, updated in
 * place, or a new one when there was none or the frame size changed.
 */
export function checkMotion(
  reference: MotionReference | null,
  frame: RawFrame,
  options: MotionOptions,
  mask: MotionMaskSource | null = null,
): { result: MotionResult; reference: MotionReference } {
  const tw = Math.max(1, Math.min(options.analysisWidth, frame.width));
  const th = Math.max(1, Math.round((frame.height * tw) / frame.width));
  if (
    !reference || reference.width !== frame.width || reference.height !== frame.height ||
    reference.thumb.length !== tw * th
  ) {
    return {
      result: { motion: true, score: 1 },
      reference: {
        thumb: greyThumbnail(frame, tw, th),
        spare: new Uint8Array(tw * th),
        width: frame.width,
        height: frame.height,
      },
    };
  }
  const next = greyThumbnail(frame, tw, th, reference.spare);
  const old = reference.thumb;
  const t = options.pixelThreshold;
  const masked = mask?.forSize(tw, th) ?? null;
  let changed = 0;
  let counted = next.length;
  if (masked === null) {
    for (let i = 0; i < next.length; i++) {
      if (Math.abs(next[i]! - old[i]!) > t) changed++;
    }
  } else {
    counted = 0;
    for (let i = 0; i < next.length; i++) {
      if (masked[i] === 1) continue;
      counted++;
      if (Math.abs(next[i]! - old[i]!) > t) changed++;
    }
  }
  reference.spare = old;
  reference.thumb = next;
  const score = counted === 0 ? 0 : changed / counted;
  const motion = counted > 0 && score >= options.minAreaFraction;
  return { result: { motion, score }, reference };
}
