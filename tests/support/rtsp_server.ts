/**
 * A real RTSP server for camera tests and benchmarks: `tests/support/rtsp_server.py`
 * (GStreamer's gst-rtsp-server through python3-gi) serving a video file as H.264 on a free
 * loopback port. It can be stopped and started again on the same port, to test reconnects.
 *
 * Like `services.ts`: outside CI a test whose tools are missing is ignored with one loud line
 * naming the install command; with `CI=true` it runs and fails.
 *
 * @module
 */
import { freePort } from "./services.ts";

const SCRIPT = new URL("./rtsp_server.py", import.meta.url).pathname;
/** Python with the Debian `gi` bindings (not a virtualenv's). */
const PYTHON = Deno.env.get("FESS_GST_PYTHON") ?? "/usr/bin/python3";

/** apt packages the camera tests need. */
export const CAMERA_TOOLS_INSTALL =
  "sudo apt-get install -y ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 " +
  "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav";

function isCi(): boolean {
  const ci = (Deno.env.get("CI") ?? "").toLowerCase();
  return ci === "true" || ci === "1";
}

function runs(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const PROBE = "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer'," +
  "'1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); import sys; " +
  "sys.exit(0 if all(Gst.ElementFactory.find(e) for e in " +
  "('x264enc','rtph264pay','decodebin','videoconvert','avidemux')) else 1)";

/** Why the camera tests cannot run here (`rtsp`: also the RTSP server), or null. */
export function cameraToolsUnavailableReason(rtsp: boolean): string | null {
  if (!runs("ffmpeg", ["-version"])) return "ffmpeg is not on PATH";
  if (rtsp && !runs(PYTHON, ["-c", PROBE])) {
    return `${PYTHON} cannot load GStreamer's RTSP server with x264enc, rtph264pay and decodebin`;
  }
  return null;
}

let warned = false;

/** Deno.test option fragment: ignore outside CI when ffmpeg (and the RTSP server) is missing. */
export function requireCameraTools(options: { rtsp: boolean }): { ignore: boolean } {
  if (isCi()) return { ignore: false };
  const reason = cameraToolsUnavailableReason(options.rtsp);
  if (reason === null) return { ignore: false };
  if (!warned) {
    warned = true;
    const bar = "!".repeat(100);
    // deno-lint-ignore no-console
    console.error(
      `\n${bar}\n!!! SKIPPING CAMERA INTEGRATION TESTS: ${reason}.\n` +
        `!!! Install with:  ${CAMERA_TOOLS_INSTALL}\n` +
        `!!! (with CI=true these tests fail instead of being skipped)\n${bar}\n`,
    );
  }
  return { ignore: true };
}

/** A running RTSP server. */
export interface RtspServer {
  /** `rtsp://127.0.0.1:<port>/vtest` */
  readonly url: string;
  readonly port: number;
  /** The server's pid, or null while stopped. */
  readonly pid: number | null;
  /** Kills the server (clients lose their session). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Same as stop. */
  close(): Promise<void>;
}

/** Starts an RTSP server serving `file` at `/vtest` on a free loopback port. */
export async function startRtspServer(file: string): Promise<RtspServer> {
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  let drained: Promise<string> = Promise.resolve("");
  let stdoutDone: Promise<void> = Promise.resolve();

  const start = async () => {
    if (child) return;
    const proc = new Deno.Command(PYTHON, {
      args: [SCRIPT, "--port", String(port), "--file", file, "--mount", "/vtest"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    child = proc;
    drained = new Response(proc.stderr).text().catch(() => "");
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    try {
      while (!seen.includes("READY")) {
        const { done, value } = await reader.read();
        if (done) {
          await proc.status;
          child = null;
          throw new Error(`RTSP server did not start: ${(await drained).slice(-2000)}`);
        }
        seen += value;
      }
    } finally {
      clearTimeout(deadline);
    }
    // Nothing more is printed on stdout; drain it so the pipe closes with the process.
    stdoutDone = (async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch { /* closed */ }
    })();
  };
  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
    await proc.status;
    await Promise.all([drained, stdoutDone]);
  };
  await start();
  return {
    url: `rtsp://127.0.0.1:${port}/vtest`,
    port,
    get pid() {
      return child?.pid ?? null;
    },
    stop,
    start,
    close: stop,
  };
}
