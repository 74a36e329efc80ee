/**
 * Decoding JPEG/PNG uploads into {@link RawFrame}s with sharp. Input is sniffed by magic bytes
 * first so non-images get a precise 400, and sharp runs with `failOn: "truncated"` because by
 * default libjpeg happily returns a partially grey frame for a cut-off JPEG — a detector would
 * then silently see half a picture.
 *
 * @module
 */
import sharp from "sharp";
import { BadRequestError } from "../errors.ts";
import { checkDimensions, DEFAULT_MAX_PIXELS, type RawFrame } from "./raw_frame.ts";

/** Encoded image formats accepted. */
export type ImageFormat = "jpeg" | "png";

/** Identifies JPEG/PNG by magic bytes; `null` for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  if (
    bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47 && bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a &&
    bytes[7] === 0x0a
  ) return "png";
  return null;
}

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions {
  /** Largest width*height accepted (default {@link DEFAULT_MAX_PIXELS}). */
  readonly maxPixels?: number;
  /** Format the caller expects (from Content-Type); a mismatch is a 400. */
  readonly expect?: ImageFormat;
  /**
   * Decode straight to this size (keeping the aspect ratio, fitting inside), letting libjpeg
   * scale while decoding — several times cheaper than a full decode when only a detector input
   * is needed. The result's `source` holds the original size.
   */
  readonly fitWithin?: number;
}

/** A decoded frame; `source` is the original size when it was decoded scaled down. */
export type DecodedFrame = RawFrame & {
  readonly source?: { readonly width: number; readonly height: number };
};

/**
 * Decodes a JPEG or PNG into an RGB {@link RawFrame} (alpha dropped, grey expanded), throwing
 * {@link BadRequestError} with a reason for non-images, truncated or corrupt data and oversize
 * images.
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<DecodedFrame> {
  if (bytes.byteLength === 0) throw new BadRequestError("image body is empty");
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw new BadRequestError("body is not a JPEG or PNG image (unrecognised magic bytes)");
  }
  if (options.expect && options.expect !== format) {
    throw new BadRequestError(
      `body is a ${format} image but the content type says ${options.expect}`,
    );
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    let image = sharp(bytes, { failOn: "truncated", limitInputPixels: maxPixels });
    let source: { width: number; height: number } | undefined;
    if (options.fitWithin) {
      const meta = await image.metadata();
      checkDimensions(meta.width, meta.height, maxPixels);
      source = { width: meta.width, height: meta.height };
      // mmcv's rounding, so the result is exactly the letterbox's resized size.
      const scale = Math.min(options.fitWithin / meta.width, options.fitWithin / meta.height);
      const w = Math.max(1, Math.floor(meta.width * scale + 0.5));
      const h = Math.max(1, Math.floor(meta.height * scale + 0.5));
      if (w !== meta.width || h !== meta.height) image = image.resize(w, h, { fit: "fill" });
      else source = undefined;
    }
    // Plain raw output: colourspace/alpha conversions in libvips cost a whole extra pass even for
    // ordinary 3-channel JPEGs, so the rare grey/alpha images are expanded here instead.
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    if (!options.fitWithin) checkDimensions(info.width, info.height, maxPixels);
    const bytes8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const frame: RawFrame = {
      data: toRgb(bytes8, info.width * info.height, info.channels, format),
      width: info.width,
      height: info.height,
      channels: 3,
      layout: "rgb",
    };
    return source ? { ...frame, source } : frame;
  } catch (err) {
    if (err instanceof BadRequestError) throw err;
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new BadRequestError(`cannot decode ${format} image: ${reason}`, { cause: err });
  }
}

/** Expands grey, grey+alpha and RGBA pixels to RGB (alpha dropped, as libvips' removeAlpha). */
function toRgb(src: Uint8Array, pixels: number, channels: number, format: ImageFormat): Uint8Array {
  if (channels === 3) return src;
  if (channels < 1 || channels > 4) {
    throw new BadRequestError(`decoded ${format} has ${channels} channels; expected 1 to 4`);
  }
  const out = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0, o = 0; i < pixels; i++, j += channels, o += 3) {
    if (channels <= 2) {
      const v = src[j]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    } else {
      out[o] = src[j]!;
      out[o + 1] = src[j + 1]!;
      out[o + 2] = src[j + 2]!;
    }
  }
  return out;
}
