/**
 * The latest processed frame of a camera, for the live page: what the pipeline saw (frame
 * number, capture time, size, detections with track ids, motion verdict) and, on demand, a
 * small JPEG of it.
 *
 * Cost invariant: nothing is encoded unless someone looks. The state keeps the raw frame only
 * while the camera was viewed within `watchMs` (its JPEG asked for, or the camera list read:
 * an open page watches every camera); a JPEG (at most `maxWidth` wide) is encoded when asked
 * for and cached for that frame number. Memory per camera is therefore one small JPEG plus,
 * for watched cameras only, a reference to the newest decoded frame.
 *
 * The state object lives in the pipeline's per-camera record; this module owns no map.
 *
 * @module
 */
import sharp from "sharp";
import type { Detection } from "../events.ts";
import type { RawFrame } from "../image/raw_frame.ts";

/** What the page shows of a camera's latest frame. */
export interface FrameView {
  readonly frame_number: number;
  readonly timestamp: string;
  readonly width: number;
  readonly height: number;
  readonly detections: readonly Detection[];
  readonly motion: { readonly detected: boolean; readonly score: number } | null;
  readonly detection_ran: boolean;
}

/** Per-camera preview state, held by the pipeline's camera record. */
export interface PreviewState {
  view: FrameView | null;
  frame: RawFrame | null;
  jpeg: { readonly frameNumber: number; readonly bytes: Uint8Array } | null;
  watchedAt: number;
}

/** Builds the preview of frames and encodes JPEGs on demand. */
export interface FramePreviewer {
  /** A fresh state for a new camera. */
  createState(): PreviewState;
  /** Marks every camera as watched now (the camera list was read). */
  watchAll(): void;
  /** Records a processed frame (cheap: no pixel work). */
  update(state: PreviewState, frame: RawFrame, view: FrameView): void;
  /**
   * The JPEG of the latest frame, encoding it if needed; null when the camera was not watched
   * when its latest frame arrived (the next frame will be kept, so a polling page gets one).
   */
  jpeg(state: PreviewState): Promise<Uint8Array | null>;
}

/** Options of {@link createFramePreviewer}. */
export interface FramePreviewerOptions {
  /** Widest JPEG served. Default 640. */
  readonly maxWidth?: number;
  /** JPEG quality 1-100. Default 75. */
  readonly quality?: number;
  /** A camera counts as watched this long after its last JPEG request. Default 30 s. */
  readonly watchMs?: number;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

// sharp's raw input is RGB(A) or grey; BGR frames are recombined to RGB inside libvips.
type Row = [number, number, number];
const BGR_TO_RGB: [Row, Row, Row] = [[0, 0, 1], [0, 1, 0], [1, 0, 0]];

/** Creates a previewer. */
export function createFramePreviewer(options: FramePreviewerOptions = {}): FramePreviewer {
  const maxWidth = options.maxWidth ?? 640;
  const quality = options.quality ?? 75;
  const watchMs = options.watchMs ?? 30_000;
  const now = options.now ?? (() => Date.now());
  let allWatchedAt = -Infinity;

  const encode = async (frame: RawFrame): Promise<Uint8Array> => {
    let image = sharp(frame.data, {
      raw: { width: frame.width, height: frame.height, channels: frame.channels },
    });
    if (frame.layout === "bgr") {
      image = image.recomb(BGR_TO_RGB);
    }
    if (frame.width > maxWidth) image = image.resize({ width: maxWidth });
    const out = await image.jpeg({ quality }).toBuffer();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };

  return {
    createState: () => ({ view: null, frame: null, jpeg: null, watchedAt: -Infinity }),
    watchAll() {
      allWatchedAt = now();
    },
    update(state, frame, view) {
      state.view = view;
      state.frame = now() - Math.max(state.watchedAt, allWatchedAt) <= watchMs ? frame : null;
    },
    async jpeg(state) {
      state.watchedAt = now();
      const view = state.view;
      if (view === null) return null;
      if (state.jpeg?.frameNumber === view.frame_number) return state.jpeg.bytes;
      const frame = state.frame;
      if (frame === null) return state.jpeg?.bytes ?? null;
      const bytes = await encode(frame);
      // A newer frame may have arrived while encoding; the cached JPEG names the one it shows.
      state.jpeg = { frameNumber: view.frame_number, bytes };
      if (state.frame === frame) state.frame = null;
      return bytes;
    },
  };
}
