/**
 * The ffmpeg command line for one camera: open the input the way its kind needs, decode once,
 * optionally scale, cap the frame rate, and write raw frames of one pixel format to stdout.
 *
 * The rate cap is `-r N -fps_mode vfr`: frames are dropped to stay under N per second and
 * never duplicated, so a camera slower than its cap is not padded with copies.
 * ffmpeg logs at `info` without progress lines: the output stream line tells the frame size
 * (see `ffmpeg_process.ts`), and the last lines before an exit tell why it stopped.
 *
 * @module
 */
import type { CameraPixelFormat } from "./pixel_format.ts";
import type { CameraSource } from "./source.ts";

/** What the command line depends on. */
export interface FfmpegCommandOptions {
  readonly source: CameraSource;
  /** Frame rate cap. */
  readonly fps: number;
  readonly pixelFormat: CameraPixelFormat;
  /** Scale to this size; native size when absent. */
  readonly size?: { readonly width: number; readonly height: number };
  /** Files: start again at the end. */
  readonly loop?: boolean;
  readonly rtspTransport?: "tcp" | "udp";
  /** Decoder threads (0: ffmpeg decides). */
  readonly decodeThreads?: number;
  /** Socket I/O timeout for network inputs, ms: a silent server makes ffmpeg exit. */
  readonly ioTimeoutMs?: number;
}

/** ffmpeg arguments (without the executable) for one camera. */
export function ffmpegArgs(options: FfmpegCommandOptions): string[] {
  const { source } = options;
  const timeoutUs = String(Math.round((options.ioTimeoutMs ?? 10_000) * 1000));
  const args = ["-hide_banner", "-nostats", "-nostdin", "-loglevel", "info"];
  args.push("-threads", String(options.decodeThreads ?? 1));
  switch (source.kind) {
    case "rtsp":
      args.push("-rtsp_transport", options.rtspTransport ?? "tcp", "-timeout", timeoutUs);
      args.push("-fflags", "nobuffer", "-flags", "low_delay");
      break;
    case "http":
    case "hls":
      args.push("-rw_timeout", timeoutUs);
      break;
    case "file":
      // A file stands in for a camera: read it at its own frame rate, not as fast as possible.
      if (options.loop) args.push("-stream_loop", "-1");
      args.push("-re");
      break;
    case "v4l2":
      args.push("-f", "v4l2");
      break;
  }
  args.push("-i", source.input, "-map", "0:v:0", "-an", "-sn", "-dn");
  if (options.size) {
    args.push("-vf", `scale=${options.size.width}:${options.size.height}:flags=bilinear`);
  } else if (options.pixelFormat === "yuv420p" || options.pixelFormat === "nv12") {
    // 4:2:0 needs an even size (the service refuses odd ones): drop an odd last row/column.
    args.push("-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0");
  }
  args.push("-r", String(options.fps), "-fps_mode", "vfr");
  args.push("-f", "rawvideo", "-pix_fmt", options.pixelFormat, "pipe:1");
  return args;
}
