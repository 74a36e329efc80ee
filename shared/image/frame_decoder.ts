/**
 * Decode admission: the one door a frame body goes through to become a {@link RawFrame}.
 *
 * Invariants:
 * - a frame larger than `maxFramePixels` is refused from its declared size (raw headers, or the
 *   JPEG SOF / PNG IHDR) before a byte of pixels is allocated: 413 with the dimensions;
 * - at most `maxConcurrentDecodes` decodes run at once; up to `maxQueuedDecodes` more wait in
 *   arrival order; past that the frame is refused at once with 429 and `Retry-After`, so a flood
 *   of large images costs a bounded amount of memory instead of one full frame per request;
 * - raw packed frames are wrapped without copying and skip the decode slots (nothing to decode);
 *   4:2:0 frames take a slot (their BGR conversion allocates a full frame).
 *
 * @module
 */
import { TooManyRequestsError } from "../errors.ts";
import { checkDeclaredSize, decodeImage, type ImageFormat } from "./decode.ts";
import { checkDimensions, type PixelFormat, type RawFrame, wrapRawFrame } from "./raw_frame.ts";

/** Declared size and format of a raw upload. */
export interface RawFrameSpec {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
}

/** Options of {@link createFrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest width*height accepted (`server.max_frame_pixels`). */
  readonly maxFramePixels: number;
  /** Decodes running at once (`server.max_concurrent_decodes`). */
  readonly maxConcurrentDecodes: number;
  /** Decodes waiting for a slot before new ones are refused (`server.max_queued_decodes`). */
  readonly maxQueuedDecodes: number;
  /** `Retry-After` seconds sent with a refusal (default 1). */
  readonly retryAfterSeconds?: number;
}

/** Turns request bodies into frames under the admission rules in the module doc. */
export interface FrameDecoder {
  /**
   * Decodes `body`: raw pixels of `raw`'s size and format, else a JPEG/PNG (`expect`, when
   * given, is the format the content type names; a mismatch is a 400).
   */
  decode(body: Uint8Array, expect: ImageFormat | null, raw: RawFrameSpec | null): Promise<RawFrame>;
  /** Decodes running now. */
  readonly active: number;
  /** Decodes waiting for a slot. */
  readonly queued: number;
}

/** 429 with `Retry-After`: every decode slot and queue place is taken. */
export class DecodeQueueFullError extends TooManyRequestsError {
  constructor(active: number, queued: number, retryAfterSeconds: number) {
    super(
      `too many frames are being decoded (${active} running, ${queued} waiting); retry later`,
      { detail: { active, queued }, retryAfterSeconds },
    );
  }
}

/** Creates a {@link FrameDecoder}. */
export function createFrameDecoder(options: FrameDecoderOptions): FrameDecoder {
  const limit = Math.max(1, options.maxConcurrentDecodes);
  const queueLimit = Math.max(0, options.maxQueuedDecodes);
  const retryAfter = options.retryAfterSeconds ?? 1;
  const maxPixels = options.maxFramePixels;
  let active = 0;
  const waiting: (() => void)[] = [];

  const acquire = (): Promise<void> | void => {
    if (active < limit) {
      active++;
      return;
    }
    if (waiting.length >= queueLimit) {
      throw new DecodeQueueFullError(active, waiting.length, retryAfter);
    }
    // The slot is handed over by release(), so `active` stays counted for the waiter.
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  const withSlot = async <T>(fn: () => Promise<T> | T): Promise<T> => {
    await acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };

  return {
    decode(body, expect, raw) {
      // Size first: an oversized frame is a 413 even when every slot is busy.
      if (raw) {
        checkDimensions(raw.width, raw.height, maxPixels);
        const wrap = () => wrapRawFrame({ data: body, ...raw, maxPixels });
        if (raw.format === "yuv420p" || raw.format === "nv12") return withSlot(wrap);
        return Promise.resolve().then(wrap);
      }
      checkDeclaredSize(body, maxPixels);
      return withSlot(() => decodeImage(body, { maxPixels, expect: expect ?? undefined }));
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
  };
}
