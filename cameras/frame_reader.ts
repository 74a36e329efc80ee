/**
 * Cuts ffmpeg's raw video stdout into frames of exactly `frameSize` bytes. Pipe reads arrive
 * in arbitrary chunk sizes; each chunk is copied once into the pooled buffer being filled, and
 * a buffer is handed on only when complete. A partial frame at the end of the stream (ffmpeg
 * killed mid-write) is discarded.
 *
 * @module
 */
import type { FrameBuffers } from "./frame_buffers.ts";

/** How a stream ended. */
export interface ReadFramesResult {
  /** Complete frames handed on. */
  readonly frames: number;
  /** Bytes of an incomplete last frame that were discarded. */
  readonly partialBytes: number;
}

/**
 * Reads `stream` to its end, calling `onFrame` with each complete frame's buffer (taken from
 * `buffers`; the callee owns it and must release it).
 */
export async function readFrames(
  stream: ReadableStream<Uint8Array>,
  buffers: FrameBuffers,
  onFrame: (data: Uint8Array<ArrayBuffer>) => void,
): Promise<ReadFramesResult> {
  const size = buffers.size;
  let frames = 0;
  let current = buffers.acquire();
  let filled = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.length) {
        const n = Math.min(size - filled, value.length - offset);
        current.set(value.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === size) {
          frames++;
          onFrame(current);
          current = buffers.acquire();
          filled = 0;
        }
      }
    }
  } finally {
    reader.releaseLock();
    buffers.release(current);
  }
  return { frames, partialBytes: filled };
}
