/**
 * The sidecar: one {@link CameraRunner} per configured camera, started together, stopped
 * together (on a signal or after `duration_seconds`). It ends when every camera has ended,
 * failed or been stopped, with a summary per camera.
 *
 * @module
 */
import type { Logger } from "../shared/logger.ts";
import type { CameraSnapshot, CameraState } from "./camera_stats.ts";
import { type CameraRunner, startCamera } from "./camera_runner.ts";
import type { CamerasConfig } from "./config.ts";
import { FfmpegMissingError } from "./ffmpeg_process.ts";
import { createFrameUploader, type FrameUploader } from "./frame_upload.ts";
import type { CameraConfig } from "./config.ts";

/** How the sidecar ended. */
export interface SidecarResult {
  /** 0 when no camera failed, else 1. */
  readonly exitCode: 0 | 1;
  readonly cameras: readonly (CameraSnapshot & { readonly finalState: CameraState })[];
}

/** A running sidecar. */
export interface Sidecar {
  readonly cameras: readonly CameraRunner[];
  /** Resolves once every camera has stopped. */
  readonly done: Promise<SidecarResult>;
  /** Stops every camera (ffmpeg children reaped) and resolves with the result. */
  stop(): Promise<SidecarResult>;
}

/** Dependencies of {@link startSidecar}. */
export interface SidecarDeps {
  readonly config: CamerasConfig;
  readonly logger: Logger;
  /** Builds a camera's uploader (default: HTTP to `config.server`). A seam for tests. */
  readonly createUploader?: (camera: CameraConfig) => FrameUploader;
}

/** Checks that ffmpeg runs; throws {@link FfmpegMissingError} otherwise. */
export async function checkFfmpeg(executable: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(executable, {
      args: ["-hide_banner", "-version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    throw new FfmpegMissingError(executable, (err as Error).message);
  }
  const first = new TextDecoder().decode(out.stdout).split("\n")[0] ?? "";
  if (!out.success || !first.startsWith("ffmpeg version")) {
    throw new FfmpegMissingError(executable, `not ffmpeg (exit ${out.code}): ${first}`);
  }
  return first;
}

/** Starts every camera of `config`. */
export function startSidecar(deps: SidecarDeps): Sidecar {
  const { config, logger } = deps;
  const createUploader = deps.createUploader ?? ((camera: CameraConfig) =>
    createFrameUploader({
      server: config.server,
      cameraId: camera.id,
      key: camera.key,
      timeoutMs: config.request_timeout_ms,
    }));
  const cameras = config.cameras.map((camera) =>
    startCamera({ camera, settings: config, uploader: createUploader(camera), logger })
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (config.duration_seconds !== undefined) {
    timer = setTimeout(() => void stop(), config.duration_seconds * 1000);
  }
  const done = Promise.all(cameras.map((c) => c.done)).then((states): SidecarResult => {
    clearTimeout(timer);
    return {
      exitCode: states.includes("failed") ? 1 : 0,
      cameras: cameras.map((c, i) => ({ ...c.stats.snapshot(), finalState: states[i]! })),
    };
  });
  let stopping: Promise<SidecarResult> | null = null;
  const stop = () => {
    stopping ??= Promise.all(cameras.map((c) => c.stop())).then(() => done);
    return stopping;
  };
  return { cameras, done, stop };
}
