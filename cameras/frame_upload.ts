/**
 * Uploads one raw frame to `POST {server}/detect/{camera_id}` and classifies the answer:
 *  - `ok`: 2xx, with whether the detector ran and how many objects it found;
 *  - `retry`: the server could not take it now (unreachable, timeout, 408, 429, 5xx): back off;
 *  - `fatal`: the server refuses this camera's frames as sent (401/403: the key; other 4xx: the
 *    settings), so sending more would only repeat the refusal.
 *
 * One HTTP client per camera keeps its connection alive between frames; every response body
 * is read to the end, which is what lets the connection be reused.
 *
 * @module
 */
import { formatCaptureTime } from "./capture_time.ts";
import type { CameraFrame } from "./frame.ts";

/** What came of one upload. */
export type UploadOutcome =
  | {
    readonly kind: "ok";
    readonly status: number;
    readonly detectionRan: boolean;
    readonly detections: number;
  }
  | { readonly kind: "retry"; readonly status: number | null; readonly reason: string }
  | { readonly kind: "fatal"; readonly status: number; readonly reason: string };

/** Uploads frames of one camera. */
export interface FrameUploader {
  upload(frame: CameraFrame): Promise<UploadOutcome>;
  /** Closes the camera's HTTP client. */
  close(): void;
}

/** Options of {@link createFrameUploader}. */
export interface FrameUploaderOptions {
  /** Service base URL, e.g. `http://127.0.0.1:8080`. */
  readonly server: string;
  readonly cameraId: string;
  /** Sent as `Authorization: Bearer <key>` when given. */
  readonly key?: string;
  /** Abandon an upload after this long (a retry outcome). */
  readonly timeoutMs: number;
}

/** Creates the uploader of one camera, with its own keep-alive HTTP client. */
export function createFrameUploader(options: FrameUploaderOptions): FrameUploader {
  const base = options.server.endsWith("/") ? options.server : options.server + "/";
  const url = new URL(`detect/${encodeURIComponent(options.cameraId)}`, base).href;
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 1 });
  return {
    async upload(frame) {
      const headers: Record<string, string> = {
        "content-type": "application/octet-stream",
        "x-frame-width": String(frame.width),
        "x-frame-height": String(frame.height),
        "x-pixel-format": frame.format,
        "x-frame-number": String(frame.number),
        "x-frame-timestamp": formatCaptureTime(frame.capturedAtMs),
      };
      if (options.key) headers.authorization = `Bearer ${options.key}`;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method: "POST",
          headers,
          body: frame.data,
          client,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        text = await response.text();
      } catch (err) {
        const reason = err instanceof DOMException && err.name === "TimeoutError"
          ? `no answer from ${options.server} within ${options.timeoutMs} ms`
          : `server unreachable (${options.server}): ${(err as Error).message}`;
        return { kind: "retry", status: null, reason };
      }
      return classifyResponse(response.status, text);
    },
    close() {
      client.close();
    },
  };
}

/** Classifies a response by status, reading the service's `{error, detail}` body. */
export function classifyResponse(status: number, body: string): UploadOutcome {
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object") json = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the reason falls back to the raw text
  }
  if (status >= 200 && status < 300) {
    return {
      kind: "ok",
      status,
      detectionRan: json.detection_ran !== false,
      detections: Array.isArray(json.detections) ? json.detections.length : 0,
    };
  }
  const said = [json.error, json.detail].filter((v) => typeof v === "string" && v !== "")
    .join(": ") || body.slice(0, 200).trim();
  const reason = `HTTP ${status}${said ? ` ${said}` : ""}`;
  if (status === 401 || status === 403) {
    return {
      kind: "fatal",
      status,
      reason: `the server refused the API key (${reason}); check key/key_file`,
    };
  }
  if (status === 408 || status === 429 || status >= 500) return { kind: "retry", status, reason };
  return { kind: "fatal", status, reason: `the server rejected the frames (${reason})` };
}
