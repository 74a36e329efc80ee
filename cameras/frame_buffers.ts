/**
 * Frame buffers of one camera, recycled. A camera holds at most three frames at any time: one
 * being filled from ffmpeg, one pending upload and one in flight; a replaced or finished
 * frame's buffer goes back to the pool. So memory per camera is bounded by three frames
 * whatever the server's speed, and {@link FrameBuffers.allocated} proves it in tests.
 *
 * @module
 */

/** A pool of equal-sized frame buffers. */
export interface FrameBuffers {
  /** Bytes per buffer. */
  readonly size: number;
  /** Buffers created so far (live ones, free or in use). */
  readonly allocated: number;
  /** A free buffer, or a new one. */
  acquire(): Uint8Array<ArrayBuffer>;
  /** Returns a buffer (one {@link acquire} gave) for reuse. */
  release(buffer: Uint8Array<ArrayBuffer>): void;
}

/** Creates a pool of `size`-byte buffers. */
export function createFrameBuffers(size: number): FrameBuffers {
  const free: Uint8Array<ArrayBuffer>[] = [];
  let allocated = 0;
  return {
    size,
    get allocated() {
      return allocated;
    },
    acquire() {
      const buffer = free.pop();
      if (buffer) return buffer;
      allocated++;
      return new Uint8Array(size);
    },
    release(buffer) {
      free.push(buffer);
    },
  };
}
