/**
 * Test helpers locating the shared read-only assets (models, media) and extracting frames of
 * `vtest.avi` with ffmpeg. A test that needs an asset and cannot find it FAILS naming the path
 * it looked at: a missing asset must never turn into a silently passing test.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (two levels above this file). */
export function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

function dirFromEnv(name: string, fallback: string): string {
  const value = Deno.env.get(name);
  if (!value) return resolve(repoRoot(), fallback);
  return isAbsolute(value) ? value : resolve(repoRoot(), value);
}

/** FESS_MODELS_DIR, default `../shared/models` relative to the repo root. */
export function modelsDir(): string {
  return dirFromEnv("FESS_MODELS_DIR", "../shared/models");
}

/** FESS_MEDIA_DIR, default `../shared/media` relative to the repo root. */
export function mediaDir(): string {
  return dirFromEnv("FESS_MEDIA_DIR", "../shared/media");
}

async function requireFile(dir: string, name: string, envName: string): Promise<string> {
  const path = join(dir, name);
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) throw new Error("not a file");
  } catch {
    throw new Error(`test asset missing: ${path} (set ${envName} to the folder holding ${name})`);
  }
  return path;
}

/** Path of a model file, failing loudly when absent. */
export function modelPath(name: string): Promise<string> {
  return requireFile(modelsDir(), name, "FESS_MODELS_DIR");
}

/** Path of a media file, failing loudly when absent. */
export function mediaPath(name: string): Promise<string> {
  return requireFile(mediaDir(), name, "FESS_MEDIA_DIR");
}

/** Width and height of vtest.avi frames. */
export const VTEST_WIDTH = 768;
export const VTEST_HEIGHT = 576;

const frameCache = new Map<string, Uint8Array<ArrayBuffer>[]>();

async function ffmpeg(args: string[]): Promise<Uint8Array<ArrayBuffer>> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ffmpeg", {
      args: ["-loglevel", "error", ...args],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (err) {
    throw new Error(
      `ffmpeg is needed to decode vtest.avi and could not run: ${(err as Error).message}`,
    );
  }
  if (!out.success) throw new Error(`ffmpeg failed: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

function selectFilter(frames: readonly number[]): string {
  return "select=" + frames.map((n) => `eq(n\\,${n})`).join("+");
}

/** Frames `frames` of vtest.avi as raw `pixFmt` buffers of `bytesPerFrame`, cached per process. */
async function vtestFramesRaw(
  frames: readonly number[],
  pixFmt: string,
  bytesPerFrame: number,
): Promise<Uint8Array<ArrayBuffer>[]> {
  const key = `${pixFmt}:` + frames.join(",");
  const hit = frameCache.get(key);
  if (hit) return hit;
  const video = await mediaPath("vtest.avi");
  const bytes = await ffmpeg([
    "-i",
    video,
    "-vf",
    selectFilter(frames),
    "-vsync",
    "0",
    "-frames:v",
    String(frames.length),
    "-f",
    "rawvideo",
    "-pix_fmt",
    pixFmt,
    "-",
  ]);
  const size = bytesPerFrame;
  if (bytes.length !== size * frames.length) {
    throw new Error(`ffmpeg gave ${bytes.length} bytes for ${frames.length} frames of ${size}`);
  }
  const out = frames.map((_, i) => bytes.subarray(i * size, (i + 1) * size));
  frameCache.set(key, out);
  return out;
}

/**
 * Frames `frames` (0-based indices) of vtest.avi as raw BGR24 buffers (768x576x3 each),
 * in ascending frame order. Cached per process.
 */
export function vtestFramesBgr(frames: readonly number[]): Promise<Uint8Array<ArrayBuffer>[]> {
  return vtestFramesRaw(frames, "bgr24", VTEST_WIDTH * VTEST_HEIGHT * 3);
}

/**
 * Frames `frames` of vtest.avi as raw 4:2:0 buffers in ffmpeg's `pixFmt` (`yuv420p` or `nv12`,
 * 768x576, `768 * 576 * 3 / 2` bytes each), in ascending frame order. Cached per process.
 */
export function vtestFramesYuv420(
  frames: readonly number[],
  pixFmt: "yuv420p" | "nv12",
): Promise<Uint8Array<ArrayBuffer>[]> {
  return vtestFramesRaw(frames, pixFmt, VTEST_WIDTH * VTEST_HEIGHT * 3 / 2);
}

/** Frames `frames` of vtest.avi as JPEG files' bytes (ffmpeg mjpeg, quality 3). Cached. */
export async function vtestFramesJpeg(
  frames: readonly number[],
): Promise<Uint8Array<ArrayBuffer>[]> {
  const key = "jpeg:" + frames.join(",");
  const hit = frameCache.get(key);
  if (hit) return hit;
  const video = await mediaPath("vtest.avi");
  const bytes = await ffmpeg([
    "-i",
    video,
    "-vf",
    selectFilter(frames),
    "-vsync",
    "0",
    "-frames:v",
    String(frames.length),
    "-f",
    "image2pipe",
    "-vcodec",
    "mjpeg",
    "-q:v",
    "3",
    "-",
  ]);
  const out = splitJpegs(bytes);
  if (out.length !== frames.length) {
    throw new Error(`ffmpeg gave ${out.length} JPEGs, wanted ${frames.length}`);
  }
  frameCache.set(key, out);
  return out;
}

/** Splits concatenated JPEGs at EOI markers (entropy-coded data never contains FFD9 unescaped). */
export function splitJpegs(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer>[] {
  const out: Uint8Array<ArrayBuffer>[] = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
      out.push(bytes.subarray(start, i + 2));
      start = i + 2;
      i++;
    }
  }
  return out;
}
