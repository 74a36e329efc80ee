/**
 * A raw frame read from ffmpeg, on its way to the service. Its pixels live in a pooled buffer
 * (see `frame_buffers.ts`): whoever finishes with the frame (uploaded, replaced, discarded)
 * calls {@link CameraFrame.release} exactly once, and nobody touches `data` after that.
 *
 * @module
 */
import type { CameraPixelFormat } from "./pixel_format.ts";

/** One raw frame. */
export interface CameraFrame {
  /** Pixels in `format`, exactly one frame. */
  readonly data: Uint8Array<ArrayBuffer>;
  readonly width: number;
  readonly height: number;
  readonly format: CameraPixelFormat;
  /** Sequence number, increasing over the sidecar's run (across reconnects). */
  readonly number: number;
  /** Capture time: when the frame's last byte left ffmpeg, epoch ms. */
  readonly capturedAtMs: number;
  /** The same moment on the monotonic clock (`performance.now()`), for latency. */
  readonly capturedMono: number;
  /** Hands the buffer back to its pool. */
  readonly release: () => void;
}
