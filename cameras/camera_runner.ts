/**
 * One camera's life: start ffmpeg, cut its stdout into frames, hand each to the poster, and
 * when the stream ends or stalls start ffmpeg again after a capped exponential backoff.
 *
 * States: `connecting` (ffmpeg opening the input) → `streaming` (frames flowing) →
 * `reconnecting` (waiting out the backoff) → `connecting` ... ; it ends in `ended` (a file
 * without `loop` reached its end), `stopped` ({@link CameraRunner.stop}) or `failed` (the server
 * refused the key or the frames, or ffmpeg cannot run). A failed camera stops its ffmpeg and
 * sends nothing more; other cameras carry on.
 *
 * Invariant: at most one ffmpeg child per camera, and {@link CameraRunner.stop} resolves only
 * after that child's exit status was collected.
 *
 * @module
 */
import type { Logger } from "../shared/logger.ts";
import { createBackoff } from "./backoff.ts";
import { type CameraState, CameraStats } from "./camera_stats.ts";
import type { CameraConfig, CamerasConfig } from "./config.ts";
import { ffmpegArgs } from "./ffmpeg_command.ts";
import { FfmpegMissingError, type FfmpegProcess, spawnFfmpeg } from "./ffmpeg_process.ts";
import { createFrameBuffers, type FrameBuffers } from "./frame_buffers.ts";
import { createFramePoster } from "./frame_poster.ts";
import { readFrames } from "./frame_reader.ts";
import type { FrameUploader } from "./frame_upload.ts";
import { frameBytes } from "./pixel_format.ts";
import { redactCredentials } from "./source.ts";

/** Sidecar-wide settings a camera runner uses. */
export type RunnerSettings = Pick<
  CamerasConfig,
  "ffmpeg" | "reconnect" | "stall_timeout_ms" | "decode_threads" | "request_timeout_ms"
>;

/** Dependencies of {@link startCamera}. */
export interface CameraRunnerDeps {
  readonly camera: CameraConfig;
  readonly settings: RunnerSettings;
  /** Uploads this camera's frames; closed when the runner ends. */
  readonly uploader: FrameUploader;
  readonly logger: Logger;
  /** Sequence numbers start after this (default 0). */
  readonly firstFrameNumber?: number;
}

/** A running camera. */
export interface CameraRunner {
  readonly id: string;
  readonly stats: CameraStats;
  /** The pid of the current ffmpeg, or null between runs. */
  readonly ffmpegPid: number | null;
  /** Resolves with the final state once the camera has stopped for good. */
  readonly done: Promise<CameraState>;
  /** Stops ffmpeg (awaiting its exit), the poster and the HTTP client. */
  stop(): Promise<CameraState>;
}

/** Starts one camera. */
export function startCamera(deps: CameraRunnerDeps): CameraRunner {
  const { camera, settings, uploader } = deps;
  const log = deps.logger.child({ camera_id: camera.id });
  const stats = new CameraStats(camera.id);
  const streamBackoff = createBackoff({
    initialMs: settings.reconnect.initial_ms,
    maxMs: settings.reconnect.max_ms,
  });
  let stopping = false;
  let failed = false;
  let current: FfmpegProcess | null = null;
  let wake: (() => void) | null = null;
  let frameNumber = deps.firstFrameNumber ?? 0;

  const fail = (reason: string) => {
    if (failed || stopping) return;
    failed = true;
    stats.state = "failed";
    stats.lastError = reason;
    log.error("camera stopped", { reason });
    void current?.stop();
    wake?.();
  };

  const poster = createFramePoster({
    upload: (frame) => uploader.upload(frame),
    stats,
    backoff: createBackoff({
      initialMs: settings.reconnect.initial_ms,
      maxMs: settings.reconnect.max_ms,
    }),
    onFatal: (outcome) => fail(outcome.reason),
    onServerState: (outcome, pauseMs) => {
      if (pauseMs === null) log.info("server answering again");
      else if (outcome.kind === "retry") {
        log.warn("upload failed; backing off", { reason: outcome.reason, retry_in_ms: pauseMs });
      }
    },
  });

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  let pool: FrameBuffers | null = null;

  /** One ffmpeg run; returns why it ended. */
  const runOnce = async (): Promise<{ frames: number; reason: string; code: number }> => {
    stats.state = "connecting";
    const proc = spawnFfmpeg({
      executable: settings.ffmpeg,
      args: ffmpegArgs({
        source: camera.source,
        fps: camera.fps,
        pixelFormat: camera.pixel_format,
        size: camera.width !== undefined && camera.height !== undefined
          ? { width: camera.width, height: camera.height }
          : undefined,
        loop: camera.loop,
        rtspTransport: camera.rtsp_transport,
        decodeThreads: settings.decode_threads,
        ioTimeoutMs: settings.stall_timeout_ms,
      }),
      onStderrLine: (line) => log.debug("ffmpeg", { line }),
    });
    current = proc;
    log.info("ffmpeg started", { pid: proc.pid, url: redactCredentials(camera.url) });

    // A stream that opens but never delivers (or stops delivering) is restarted.
    let lastProgress = Date.now();
    let stalled = false;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > settings.stall_timeout_ms) {
        stalled = true;
        void proc.stop();
      }
    }, Math.min(1_000, settings.stall_timeout_ms));

    let frames = 0;
    try {
      let size: { width: number; height: number } | null = null;
      try {
        size = await proc.outputSize;
      } catch {
        // ffmpeg exited before opening the input: its reason comes with the exit below
      }
      if (size && !stopping && !failed) {
        const bytes = frameBytes(camera.pixel_format, size.width, size.height);
        if (pool?.size !== bytes) pool = createFrameBuffers(bytes);
        const buffers = pool;
        const result = await readFrames(proc.stdout, buffers, (data) => {
          lastProgress = Date.now();
          frames++;
          stats.framesIn++;
          stats.buffers = buffers.allocated;
          if (frames === 1) {
            stats.state = "streaming";
            streamBackoff.reset();
            log.info("streaming", { width: size!.width, height: size!.height });
          }
          poster.offer({
            data,
            width: size!.width,
            height: size!.height,
            format: camera.pixel_format,
            number: ++frameNumber,
            capturedAtMs: Date.now(),
            capturedMono: performance.now(),
            release: () => buffers.release(data),
          });
        });
        if (result.partialBytes > 0) {
          log.debug("partial frame discarded", { bytes: result.partialBytes });
        }
      } else {
        await proc.stdout.cancel();
      }
    } finally {
      clearInterval(watchdog);
    }
    const exit = await proc.exited;
    current = null;
    const reason = stalled
      ? `no frame for ${settings.stall_timeout_ms} ms; restarting ffmpeg`
      : exit.reason || `ffmpeg exited with code ${exit.code}`;
    return { frames, reason, code: stalled ? -1 : exit.code };
  };

  const run = async (): Promise<CameraState> => {
    try {
      while (!stopping && !failed) {
        let outcome: { frames: number; reason: string; code: number };
        try {
          outcome = await runOnce();
        } catch (err) {
          if (err instanceof FfmpegMissingError) {
            fail(err.message);
            break;
          }
          throw err;
        }
        if (stopping || failed) break;
        if (camera.source.kind === "file" && !camera.loop && outcome.code === 0 && outcome.frames) {
          stats.state = "ended";
          log.info("end of file", { frames: outcome.frames });
          break;
        }
        stats.lastError = outcome.reason;
        stats.reconnects++;
        const delay = streamBackoff.next();
        stats.state = "reconnecting";
        log.warn("stream lost; reconnecting", { reason: outcome.reason, retry_in_ms: delay });
        await sleep(delay);
      }
    } finally {
      await poster.stop();
      uploader.close();
    }
    if (failed) return "failed";
    if (stats.state !== "ended") stats.state = "stopped";
    return stats.state;
  };

  const done = run().catch((err) => {
    stats.state = "failed";
    stats.lastError = String(err);
    log.error("camera crashed", { error: err });
    return "failed" as const;
  });

  return {
    id: camera.id,
    stats,
    get ffmpegPid() {
      return current?.pid ?? null;
    },
    done,
    async stop() {
      stopping = true;
      wake?.();
      await current?.stop();
      return await done;
    },
  };
}
