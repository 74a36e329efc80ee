/**
 * Per-camera motion gate: the detector runs only on frames that differ enough from the
 * camera's previous frame. Frames are compared as small grey thumbnails (`analysisWidth`
 * wide, sampled straight from the decoded pixels: one pass over a few thousand samples, no
 * full-frame copy), counting samples whose grey level changed by more than `pixelThreshold`.
 * The first frame of a camera, and a frame whose size changed, always count as motion.
 *
 * @module
 */
import type { RawFrame } from "../image/raw_frame.ts";

/** Options of {@link createMotionGate}. */
export interface MotionGateOptions {
  /** Grey-level difference (0-255) that marks a sample as changed. */
  readonly pixelThreshold: number;
  /** Share of changed samples (0-1) that counts as motion. */
  readonly minAreaFraction: number;
  /** Width of the comparison thumbnail. */
  readonly analysisWidth: number;
  /** Cameras unseen for this long are forgotten (their thumbnail freed). */
  readonly idleSeconds: number;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

/** The gate's verdict on one frame. */
export interface MotionResult {
  /** Whether the frame counts as motion. */
  readonly motion: boolean;
  /** Share of changed samples, 0-1 (1 for a camera's first frame). */
  readonly score: number;
}

/** Decides per camera whether a frame moved. */
export interface MotionGate {
  /** Compares `frame` with the camera's previous frame and remembers it. */
  check(cameraId: string, frame: RawFrame): MotionResult;
  /** Number of cameras with state. */
  readonly cameras: number;
}

interface CameraState {
  thumb: Uint8Array;
  spare: Uint8Array;
  width: number;
  height: number;
  seen: number;
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

/** Creates a motion gate. */
export function createMotionGate(options: MotionGateOptions): MotionGate {
  const now = options.now ?? (() => Date.now());
  const states = new Map<string, CameraState>();
  const forget = (t: number) => {
    for (const [id, s] of states) if (t - s.seen > options.idleSeconds * 1000) states.delete(id);
  };
  return {
    get cameras() {
      return states.size;
    },
    check(cameraId, frame) {
      const t = now();
      const tw = Math.max(1, Math.min(options.analysisWidth, frame.width));
      const th = Math.max(1, Math.round((frame.height * tw) / frame.width));
      const prev = states.get(cameraId);
      if (
        !prev || prev.width !== frame.width || prev.height !== frame.height ||
        prev.thumb.length !== tw * th
      ) {
        forget(t);
        states.set(cameraId, {
          thumb: greyThumbnail(frame, tw, th),
          spare: new Uint8Array(tw * th),
          width: frame.width,
          height: frame.height,
          seen: t,
        });
        return { motion: true, score: 1 };
      }
      // Two buffers per camera, swapped each frame: no allocation after the first frame.
      const next = greyThumbnail(frame, tw, th, prev.spare);
      const old = prev.thumb;
      let changed = 0;
      for (let i = 0; i < next.length; i++) {
        if (Math.abs(next[i]! - old[i]!) > options.pixelThreshold) changed++;
      }
      prev.spare = old;
      prev.thumb = next;
      prev.seen = t;
      const score = changed / (tw * th);
      return { motion: score >= options.minAreaFraction, score };
    },
  };
}
