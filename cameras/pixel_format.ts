/**
 * Pixel formats the sidecar asks ffmpeg for and uploads as raw frames. Names are ffmpeg
 * `-pix_fmt` names, which are also the service's `X-Pixel-Format` values. Planar 4:2:0
 * formats carry half the bytes of packed 24-bit ones; chroma planes round odd sizes up,
 * as ffmpeg's rawvideo muxer does.
 *
 * @module
 */
import { z } from "zod";

/** Upload pixel formats. `yuv420p` by default: half the bytes of `bgr24`, decoded exactly. */
export const CameraPixelFormatSchema = z.enum(["bgr24", "rgb24", "yuv420p", "nv12"]);
/** An upload pixel format. */
export type CameraPixelFormat = z.infer<typeof CameraPixelFormatSchema>;

/** Bytes of one `width`x`height` frame in `format`. */
export function frameBytes(format: CameraPixelFormat, width: number, height: number): number {
  switch (format) {
    case "bgr24":
    case "rgb24":
      return width * height * 3;
    case "yuv420p":
    case "nv12":
      return width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
  }
}
