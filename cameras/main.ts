/**
 * `deno task cameras`: the camera intake sidecar's entry point and composition root. Parses
 * the command line, checks ffmpeg, starts one runner per camera, shows a live table on a
 * terminal (JSON log lines otherwise) and stops every ffmpeg child cleanly on SIGINT/SIGTERM.
 *
 * Exit status: 0 when every camera ended or was stopped, 1 when a camera failed (e.g. the
 * server refused its key), 2 when it could not start (bad settings, no ffmpeg).
 *
 * @module
 */
import { createLogger, type Logger, type LogLevel } from "../shared/logger.ts";
import { parseCli, USAGE } from "./cli.ts";
import { CamerasConfigError } from "./config.ts";
import { FfmpegMissingError } from "./ffmpeg_process.ts";
import { checkFfmpeg, startSidecar } from "./sidecar.ts";
import { startStatusReporter } from "./status_report.ts";

const encoder = new TextEncoder();
const RECENT_LINES = 6;

/** Runs the sidecar with `args`; resolves with the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCli(args);
  } catch (err) {
    if (!(err instanceof CamerasConfigError)) throw err;
    Deno.stderr.writeSync(encoder.encode(`${err.message}\n`));
    return 2;
  }
  if (command.help) {
    Deno.stdout.writeSync(encoder.encode(USAGE));
    return 0;
  }
  const { config } = command;
  const table = !command.json && Deno.stdout.isTerminal();
  const recent: string[] = [];
  const logger = table
    ? tableLogger(command.logLevel, recent)
    : createLogger({ level: command.logLevel, fields: { service: "fess-cameras" } });

  try {
    await checkFfmpeg(config.ffmpeg);
  } catch (err) {
    if (!(err instanceof FfmpegMissingError)) throw err;
    Deno.stderr.writeSync(encoder.encode(`${err.message}\n`));
    return 2;
  }

  logger.info("cameras starting", {
    server: config.server,
    cameras: config.cameras.length,
    duration_seconds: config.duration_seconds ?? null,
  });
  const sidecar = startSidecar({ config, logger });
  const reporter = startStatusReporter({
    snapshots: () => sidecar.cameras.map((c) => c.stats.snapshot()),
    mode: table ? "table" : "json",
    logger,
    intervalMs: table ? 1_000 : config.log_interval_seconds * 1000,
    columns: () => {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 120;
      }
    },
    recent: () => recent,
  });

  const onSignal = () => {
    logger.info("signal received; stopping cameras");
    void sidecar.stop();
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  try {
    const result = await sidecar.done;
    reporter.stop();
    for (const cam of result.cameras) {
      logger.info("camera summary", {
        camera_id: cam.cameraId,
        state: cam.finalState,
        frames_in: cam.framesIn,
        frames_out: cam.framesOut,
        detected: cam.framesDetected,
        skipped: cam.framesSkipped,
        detections: cam.detections,
        dropped: cam.dropped,
        upload_errors: cam.uploadErrors,
        reconnects: cam.reconnects,
        max_in_flight: cam.maxInFlight,
        buffers: cam.buffers,
        latency_p50_ms: cam.latencyP50Ms,
        latency_p99_ms: cam.latencyP99Ms,
        last_error: cam.lastError || undefined,
      });
    }
    if (table) {
      Deno.stdout.writeSync(encoder.encode(recent.slice(-result.cameras.length).join("\n") + "\n"));
    }
    return result.exitCode;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
}

/** On a terminal log records become short lines under the table instead of JSON. */
function tableLogger(level: LogLevel, recent: string[]): Logger {
  return createLogger({
    level,
    sink: (line) => {
      const r = JSON.parse(line) as Record<string, unknown>;
      const extra = ["reason", "retry_in_ms", "frames_in", "dropped", "latency_p50_ms"]
        .filter((k) => r[k] !== undefined && r[k] !== null)
        .map((k) => `${k}=${r[k]}`).join(" ");
      const at = String(r.ts).slice(11, 19);
      recent.push(`${at} ${r.level} ${r.camera_id ?? ""} ${r.msg} ${extra}`.replace(/\s+/g, " "));
      if (recent.length > RECENT_LINES) recent.shift();
    },
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
