/**
 * Uncompressed frames: the one pixel type passed between decoding, detection and the hooks the
 * lead's pipeline adds (motion gating, face recognition). Wrapping client-supplied raw bytes
 * checks the size up front, so a wrong width/height is a 400, never an out-of-bounds read.
 *
 * @module
 */
import { z } from "zod";
import { BadRequestError, FessError } from "../errors.ts";
import { yuv420ByteLength, yuv420ToBgr } from "./yuv.ts";

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

/**
 * Pixel formats accepted for raw uploads (ffmpeg `-pix_fmt` names). `yuv420p` (I420 planar) and
 * `nv12` (Y plane + interleaved UV) are converted to BGR on arrival exactly as OpenCV's
 * `cvtColor` does; they need an even width and height.
 */
export const PixelFormatSchema = z.enum(["rgb24", "bgr24", "rgba", "gray8", "yuv420p", "nv12"]);
/** A raw upload pixel format. */
export type PixelFormat = z.infer<typeof PixelFormatSchema>;

/** Layout and channels of the {@link RawFrame} each {@link PixelFormat} becomes. */
export const PIXEL_FORMATS: Readonly<
  Record<PixelFormat, { readonly layout: ChannelLayout; readonly channels: 1 | 3 | 4 }>
> = {
  rgb24: { layout: "rgb", channels: 3 },
  bgr24: { layout: "bgr", channels: 3 },
  rgba: { layout: "rgba", channels: 4 },
  gray8: { layout: "gray", channels: 1 },
  yuv420p: { layout: "bgr", channels: 3 },
  nv12: { layout: "bgr", channels: 3 },
};

/** Bytes a raw upload of this format and size must have. */
export function rawFrameByteLength(format: PixelFormat, width: number, height: number): number {
  if (format === "yuv420p" || format === "nv12") return yuv420ByteLength(width, height);
  return width * height * PIXEL_FORMATS[format].channels;
}

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

/** 413: a frame (declared or read from its image header) has more pixels than allowed. */
export class FrameTooLargeError extends FessError {
  constructor(width: number, height: number, maxPixels: number) {
    super(
      413,
      "frame_too_large",
      `frame of ${width}x${height} (${
        width * height
      } pixels) exceeds the limit of ${maxPixels} pixels`,
      { detail: { width, height, pixels: width * height, max_pixels: maxPixels } },
    );
  }
}

/**
 * Checks frame dimensions: a 400 naming a bad value, a {@link FrameTooLargeError} (413) past the
 * pixel budget.
 */
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
  if (width * height > maxPixels) throw new FrameTooLargeError(width, height, maxPixels);
}

/**
 * Wraps raw bytes as a {@link RawFrame} after checking the byte count: packed formats without
 * copying, 4:2:0 formats converted to BGR (one pass).
 */
export function wrapRawFrame(options: WrapRawFrameOptions): RawFrame {
  const { data, width, height, format } = options;
  checkDimensions(width, height, options.maxPixels);
  const yuv = format === "yuv420p" || format === "nv12";
  if (yuv && (width % 2 !== 0 || height % 2 !== 0)) {
    throw new BadRequestError(
      `raw ${format} frames need an even width and height (4:2:0 chroma), got ${width}x${height}`,
    );
  }
  const { layout, channels } = PIXEL_FORMATS[format];
  const expected = rawFrameByteLength(format, width, height);
  if (data.byteLength !== expected) {
    throw new BadRequestError(
      `raw ${format} frame of ${width}x${height} needs ${expected} bytes, got ${data.byteLength}`,
      { detail: { expected_bytes: expected, got_bytes: data.byteLength } },
    );
  }
  const pixels = yuv ? yuv420ToBgr(data, width, height, format === "nv12" ? "nv12" : "i420") : data;
  return { data: pixels, width, height, channels, layout };
}
