/**
 * Uncompressed frames: the one pixel type passed between decoding, detection and the hooks the
 * lead's pipeline adds (motion gating, face recognition). Wrapping client-supplied raw bytes
 * checks the size up front, so a wrong width/height is a 400, never an out-of-bounds read.
 *
 * @module
 */
import { z } from "zod";
import { BadRequestError } from "../errors.ts";

/** Channel order of a {@link RawFrame}. */
export type ChannelLayout = "rgb" | "bgr" | "rgba" | "gray";

/** An uncompressed 8-bit frame, interleaved (HWC), rows packed without padding. */
export interface RawFrame {
  /** Pixels, `width * height * channels` bytes. */
  readonly data: Uint8Array;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Bytes per pixel: 1 (gray), 3 (rgb/bgr) or 4 (rgba). */
  readonly channels: 1 | 3 | 4;
  /** Channel order. */
  readonly layout: ChannelLayout;
}

/** Pixel formats accepted for raw uploads (ffmpeg `-pix_fmt` names). */
export const PixelFormatSchema = z.enum(["rgb24", "bgr24", "rgba", "gray8"]);
/** A raw upload pixel format. */
export type PixelFormat = z.infer<typeof PixelFormatSchema>;

/** Layout and bytes per pixel of each {@link PixelFormat}. */
export const PIXEL_FORMATS: Readonly<
  Record<PixelFormat, { readonly layout: ChannelLayout; readonly channels: 1 | 3 | 4 }>
> = {
  rgb24: { layout: "rgb", channels: 3 },
  bgr24: { layout: "bgr", channels: 3 },
  rgba: { layout: "rgba", channels: 4 },
  gray8: { layout: "gray", channels: 1 },
};

/** Largest side accepted for any frame, decoded or raw. */
export const MAX_FRAME_SIDE = 16384;
/** Default pixel budget (about 8K UHD) protecting memory from a hostile header. */
export const DEFAULT_MAX_PIXELS = 7680 * 4320;

/** Options of {@link wrapRawFrame}. */
export interface WrapRawFrameOptions {
  /** The bytes as received. */
  readonly data: Uint8Array;
  /** Declared width. */
  readonly width: number;
  /** Declared height. */
  readonly height: number;
  /** Declared pixel format. */
  readonly format: PixelFormat;
  /** Largest width*height accepted (default {@link DEFAULT_MAX_PIXELS}). */
  readonly maxPixels?: number;
}

/** Checks frame dimensions, throwing a 400 naming the bad value. */
export function checkDimensions(
  width: number,
  height: number,
  maxPixels = DEFAULT_MAX_PIXELS,
): void {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_FRAME_SIDE) {
      throw new BadRequestError(
        `frame ${name} must be an integer in 1..${MAX_FRAME_SIDE}, got ${v}`,
      );
    }
  }
  if (width * height > maxPixels) {
    throw new BadRequestError(
      `frame of ${width}x${height} exceeds the limit of ${maxPixels} pixels`,
    );
  }
}

/** Wraps raw bytes as a {@link RawFrame} without copying, after checking the byte count. */
export function wrapRawFrame(options: WrapRawFrameOptions): RawFrame {
  const { data, width, height, format } = options;
  checkDimensions(width, height, options.maxPixels);
  const { layout, channels } = PIXEL_FORMATS[format];
  const expected = width * height * channels;
  if (data.byteLength !== expected) {
    throw new BadRequestError(
      `raw ${format} frame of ${width}x${height} needs ${expected} bytes, got ${data.byteLength}`,
      { detail: { expected_bytes: expected, got_bytes: data.byteLength } },
    );
  }
  return { data, width, height, channels, layout };
}
