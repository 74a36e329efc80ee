/**
 * Decoding JPEG/PNG uploads into {@link RawFrame}s with sharp. Input is sniffed by magic bytes
 * first so non-images get a precise 400; the size in the image header is checked against the
 * pixel budget before any pixel is decoded (413); sharp runs with `failOn: "truncated"` because
 * by default libjpeg happily returns a partially grey frame for a cut-off JPEG — a detector would
 * then silently see half a picture.
 *
 * Frames are always decoded at full size and never resampled here: sharp's JPEG decode
 * (libjpeg-turbo, ISLOW IDCT, fancy upsampling) gives the same pixels as OpenCV's `imdecode`,
 * and all resizing is done afterwards by the OpenCV-exact `resize_linear.ts`. No sharp resize
 * or shrink-on-load may enter the detector's input path. The EXIF orientation is applied, as
 * `imdecode` does: a phone photo tagged "rotate 90°" reaches the detector upright, and its
 * flips and transpositions are lossless, so the pixels still equal OpenCV's.
 *
 * @module
 */
import sharp from "sharp";
import { BadRequestError, FessError } from "../errors.ts";
import { type ImageSize, readJpegSize, readPngSize } from "./image_header.ts";
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

/**
 * Checks the size a JPEG/PNG header declares against `maxPixels` without decoding (413 past
 * it) and returns it; `null` when the header cannot be read (the decoder then refuses the body
 * with a 400 if it is really broken).
 */
export function checkDeclaredSize(
  bytes: Uint8Array,
  maxPixels = DEFAULT_MAX_PIXELS,
): ImageSize | null {
  const format = sniffImageFormat(bytes);
  const declared = format === "jpeg"
    ? readJpegSize(bytes)
    : format === "png"
    ? readPngSize(bytes)
    : null;
  if (declared) checkDimensions(declared.width, declared.height, maxPixels);
  return declared;
}

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions {
  /** Largest width*height accepted (default {@link DEFAULT_MAX_PIXELS}). */
  readonly maxPixels?: number;
  /** Format the caller expects (from Content-Type); a mismatch is a 400. */
  readonly expect?: ImageFormat;
}

/**
 * Decodes a JPEG or PNG into an RGB {@link RawFrame} (alpha dropped, grey expanded), throwing
 * {@link BadRequestError} with a reason for non-images, truncated or corrupt data and oversize
 * images (413, from the header, before decoding).
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<RawFrame> {
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
  checkDeclaredSize(bytes, maxPixels);
  try {
    const image = sharp(bytes, { failOn: "truncated", limitInputPixels: maxPixels })
      .autoOrient();
    // Plain raw output: colourspace/alpha conversions in libvips cost a whole extra pass even for
    // ordinary 3-channel JPEGs, so the rare grey/alpha images are expanded here instead.
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    checkDimensions(info.width, info.height, maxPixels);
    const bytes8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      data: toRgb(bytes8, info.width * info.height, info.channels, format),
      width: info.width,
      height: info.height,
      channels: 3,
      layout: "rgb",
    };
  } catch (err) {
    if (err instanceof FessError) throw err;
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
