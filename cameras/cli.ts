/**
 * Command line of `deno task cameras`. Flags describe one camera, or `--config` names a
 * `cameras.yaml` for many; either way the values go through the one schema in `config.ts`
 * (flags keep their names as sources in error messages). Run-wide flags (`--server`, `--key`,
 * `--key-file`, `--duration`, `--ffmpeg`) also override a file's values.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "../shared/logger.ts";
import {
  type CamerasConfig,
  CamerasConfigError,
  type CamerasConfigIssue,
  parseCamerasConfig,
  type ParseCamerasConfigOptions,
  readCamerasFile,
} from "./config.ts";

/** Usage text. */
export const USAGE = `Usage:
  deno task cameras --server URL --camera ID --url SOURCE [options]
  deno task cameras --config cameras.yaml [--server URL] [--duration S]

SOURCE: rtsp://... | rtsps://... | http(s)://... (MJPEG, HLS .m3u8) | a video file | /dev/videoN

Camera (without --config):
  --camera ID             camera id sent to the service
  --url SOURCE            where the video comes from
  --fps N                 frame rate cap (default 5)
  --width W --height H    scale frames to WxH (default: native size)
  --pixel-format F        yuv420p (default), bgr24, rgb24, nv12
  --loop                  files only: start again at the end
  --rtsp-transport T      tcp (default) or udp
Run:
  --server URL            FESS base URL, e.g. http://127.0.0.1:8080
  --key KEY               API key (or --key-file FILE with comma-separated keys)
  --duration S            stop after S seconds
  --ffmpeg PATH           ffmpeg executable (default: ffmpeg on PATH)
  --json                  JSON log lines even on a terminal (default: a live table there)
  --log-level L           debug, info (default), warn, error
  --help                  this text
`;

/** A parsed command line. */
export type CliCommand =
  | { readonly help: true }
  | {
    readonly help: false;
    readonly config: CamerasConfig;
    readonly logLevel: LogLevel;
    readonly json: boolean;
  };

const CAMERA_FLAGS = {
  camera: "id",
  url: "url",
  fps: "fps",
  width: "width",
  height: "height",
  "pixel-format": "pixel_format",
  loop: "loop",
  "rtsp-transport": "rtsp_transport",
} as const;
const RUN_FLAGS = {
  server: "server",
  key: "key",
  "key-file": "key_file",
  duration: "duration_seconds",
  ffmpeg: "ffmpeg",
} as const;

/** Parses `args`; throws {@link CamerasConfigError} listing every problem. */
export function parseCli(
  args: readonly string[],
  options: ParseCamerasConfigOptions = {},
): CliCommand {
  const stringFlags = [...Object.keys(CAMERA_FLAGS), ...Object.keys(RUN_FLAGS), "config"]
    .filter((f) => f !== "loop");
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: "string" as const }])),
        loop: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        "log-level": { type: "string" },
      },
    }));
  } catch (err) {
    throw new CamerasConfigError([
      { key: "(flags)", source: "command line", message: `${(err as Error).message}\n${USAGE}` },
    ]);
  }
  if (values.help) return { help: true };

  const issues: CamerasConfigIssue[] = [];
  const logLevel = (values["log-level"] ?? "info") as string;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    issues.push({
      key: "log_level",
      source: "flag --log-level",
      message: `must be one of ${LOG_LEVELS.join(", ")}`,
    });
  }

  const sources = new Map<string, string>();
  let tree: Record<string, unknown>;
  let fallbackSource = "default";
  if (typeof values.config === "string") {
    try {
      const file = readCamerasFile(values.config, options.readFile);
      tree = { ...file.tree };
      fallbackSource = file.fallbackSource;
    } catch (err) {
      if (!(err instanceof CamerasConfigError)) throw err;
      throw new CamerasConfigError([...err.issues, ...issues]);
    }
    for (const flag of Object.keys(CAMERA_FLAGS)) {
      if (values[flag] !== undefined) {
        issues.push({
          key: `--${flag}`,
          source: `flag --${flag}`,
          message: "describes one camera: put it in the --config file instead",
        });
      }
    }
  } else {
    const camera: Record<string, unknown> = {};
    for (const [flag, key] of Object.entries(CAMERA_FLAGS)) {
      const v = values[flag];
      if (v === undefined) continue;
      camera[key] = v;
      sources.set(`cameras[0].${key}`, `flag --${flag}`);
    }
    // Required values report the flag that supplies them.
    sources.set("cameras[0].id", "flag --camera");
    sources.set("cameras[0].url", "flag --url");
    sources.set("server", "flag --server");
    tree = { cameras: [camera] };
  }
  for (const [flag, key] of Object.entries(RUN_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    tree[key] = v;
    sources.set(key, `flag --${flag}`);
    // A key from the command line replaces the file's key or key_file.
    if (key === "key") delete tree.key_file;
    if (key === "key_file") delete tree.key;
  }

  let config: CamerasConfig | null = null;
  try {
    config = parseCamerasConfig({ tree, sources, fallbackSource }, options);
  } catch (err) {
    if (!(err instanceof CamerasConfigError)) throw err;
    issues.push(...err.issues);
  }
  if (issues.length > 0 || config === null) throw new CamerasConfigError(issues);
  return { help: false, config, logLevel: logLevel as LogLevel, json: values.json === true };
}
