/**
 * Decode admission: the one door a frame body goes through to become a {@link RawFrame}.
 *
 * Invariants:
 * - a frame larger than `maxFramePixels` is refused from its declared size (raw headers, or the
 *   JPEG SOF / PNG IHDR) before a byte of pixels is allocated: 413 with the dimensions;
 * - at most `maxConcurrentDecodes` decodes run at once, and together they decode at most
 *   `maxDecodePixels` (declared sizes; a frame larger than the budget runs alone): small frames
 *   decode in parallel, huge ones one after another. Up to `maxQueuedDecodes` more wait in
 *   arrival order; past that the frame is refused at once with 429 and `Retry-After`, so a flood
 *   of large images costs a bounded amount of memory instead of one full frame per request;
 * - raw packed frames are wrapped without copying and skip the decode slots (nothing to decode);
 *   4:2:0 frames take a slot (their BGR conversion allocates a full frame).
 *
 * @module
 */
import sharp from "sharp";
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
  /** Pixels (width*height, declared) decoded at once (`server.max_decode_pixels`). */
  readonly maxDecodePixels: number;
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
  // Frames are decoded once and never again: libvips' operation cache could only keep the
  // pixels of recent frames alive (tens of MB each at 4K/8K). A process-wide libvips setting.
  sharp.cache(false);
  const budget = Math.max(1, options.maxDecodePixels);
  let active = 0;
  let pixels = 0;
  const waiting: { weight: number; go: () => void }[] = [];

  const fits = (weight: number): boolean =>
    active < limit && (pixels + weight <= budget || active === 0);
  const acquire = (weight: number): Promise<void> | void => {
    if (waiting.length === 0 && fits(weight)) {
      active++;
      pixels += weight;
      return;
    }
    if (waiting.length >= queueLimit) {
      throw new DecodeQueueFullError(active, waiting.length, retryAfter);
    }
    return new Promise<void>((go) => waiting.push({ weight, go }));
  };
  const release = (weight: number): void => {
    active--;
    pixels -= weight;
    // Strict arrival order: the head waits until it fits, later ones wait behind it.
    while (waiting.length > 0 && fits(waiting[0]!.weight)) {
      const next = waiting.shift()!;
      active++;
      pixels += next.weight;
      next.go();
    }
  };
  const withSlot = async <T>(weight: number, fn: () => Promise<T> | T): Promise<T> => {
    const w = Math.min(weight, budget);
    await acquire(w);
    try {
      return await fn();
    } finally {
      release(w);
    }
  };

  return {
    // async: a refusal is a rejected promise, while the slot accounting still happens at call
    // time (the body runs synchronously up to its first await).
    async decode(body, expect, raw) {
      // Size first: an oversized frame is a 413 even when every slot is busy.
      if (raw) {
        checkDimensions(raw.width, raw.height, maxPixels);
        const wrap = () => wrapRawFrame({ data: body, ...raw, maxPixels });
        if (raw.format === "yuv420p" || raw.format === "nv12") {
          return await withSlot(raw.width * raw.height, wrap);
        }
        return wrap();
      }
      const declared = checkDeclaredSize(body, maxPixels);
      // An unreadable header counts as a full budget: the decoder will tell what it really is.
      const weight = declared ? declared.width * declared.height : budget;
      return await withSlot(
        weight,
        () => decodeImage(body, { maxPixels, expect: expect ?? undefined }),
      );
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
  };
}
