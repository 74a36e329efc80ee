/**
 * What a camera URL points at, and how ffmpeg must open it. A URL is classified once, when
 * the settings are read, so a typo in a scheme is a configuration error, not a reconnect loop.
 *
 * Credentials in URLs (`rtsp://user:password@host/...`) never reach a log line or the status
 * table: everything shown passes through {@link redactCredentials}.
 *
 * @module
 */

/** Kinds of camera input. */
export type SourceKind = "rtsp" | "http" | "hls" | "file" | "v4l2";

/** A classified camera input. */
export interface CameraSource {
  readonly kind: SourceKind;
  /** What ffmpeg opens: the URL, or the path for files and devices. */
  readonly input: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const V4L2_DEVICE = /^\/dev\/video\d+$/;

/** Accepted spellings, for error messages. */
export const SOURCE_HELP =
  "use rtsp://, rtsps://, http(s):// (MJPEG or HLS .m3u8), a file path or file://, or a V4L2 device /dev/videoN";

/** Classifies `url`, or returns why it cannot be used. */
export function classifySource(url: string): CameraSource | { readonly error: string } {
  const trimmed = url.trim();
  if (trimmed === "") return { error: `empty URL: ${SOURCE_HELP}` };
  const scheme = SCHEME.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed) && !trimmed.includes("/")) {
      return { error: `not a URL or path: ${redactCredentials(trimmed)}; ${SOURCE_HELP}` };
    }
    return V4L2_DEVICE.test(trimmed)
      ? { kind: "v4l2", input: trimmed }
      : { kind: "file", input: trimmed };
  }
  switch (scheme) {
    case "rtsp":
    case "rtsps":
      return hostOf(trimmed) ? { kind: "rtsp", input: trimmed } : noHost(trimmed);
    case "http":
    case "https": {
      if (!hostOf(trimmed)) return noHost(trimmed);
      const path = new URL(trimmed).pathname.toLowerCase();
      return { kind: path.endsWith(".m3u8") ? "hls" : "http", input: trimmed };
    }
    case "file": {
      const path = decodeURIComponent(new URL(trimmed).pathname);
      return V4L2_DEVICE.test(path) ? { kind: "v4l2", input: path } : { kind: "file", input: path };
    }
    case "v4l2": {
      const path = trimmed.slice("v4l2://".length);
      return V4L2_DEVICE.test(path)
        ? { kind: "v4l2", input: path }
        : { error: `v4l2:// must name a device like /dev/video0, got ${trimmed}` };
    }
    default:
      return { error: `unsupported URL scheme ${scheme}://; ${SOURCE_HELP}` };
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

function noHost(url: string): { error: string } {
  return { error: `URL has no host: ${redactCredentials(url)}` };
}

const CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi;

/** `text` with the password of every `scheme://user:password@` replaced by `***`. */
export function redactCredentials(text: string): string {
  return text.replace(CREDENTIALS, "$1:***@");
}
