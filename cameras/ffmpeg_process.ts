/**
 * One running ffmpeg child. Its stderr is always drained (a full pipe would stall ffmpeg) and
 * read for two things: the output stream line giving the frame size, and the last lines, which
 * say why ffmpeg stopped. {@link FfmpegProcess.stop} sends SIGTERM, escalates to SIGKILL after
 * a grace period, and resolves only once the exit status was collected, so no zombie is left.
 *
 * @module
 */
import { redactCredentials } from "./source.ts";

/** Thrown when the ffmpeg executable cannot be started. */
export class FfmpegMissingError extends Error {
  constructor(readonly executable: string, cause: string) {
    super(
      `ffmpeg not found (${executable}: ${cause}); install it with: sudo apt-get install -y ffmpeg`,
    );
    this.name = "FfmpegMissingError";
  }
}

/** How ffmpeg ended. */
export interface FfmpegExit {
  readonly code: number;
  readonly signal: Deno.Signal | null;
  /** The most telling last stderr line (credentials redacted), or "" when none. */
  readonly reason: string;
}

/** A running ffmpeg. */
export interface FfmpegProcess {
  readonly pid: number;
  /** Raw frames. Read it to the end, or cancel it. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Output frame size, once ffmpeg has opened the input; rejects if it exits first. */
  readonly outputSize: Promise<{ width: number; height: number }>;
  /** Resolves when ffmpeg has exited and stderr is drained. */
  readonly exited: Promise<FfmpegExit>;
  /** Stops ffmpeg (SIGTERM, then SIGKILL after `graceMs`) and waits for its exit status. */
  stop(graceMs?: number): Promise<FfmpegExit>;
}

/** Options of {@link spawnFfmpeg}. */
export interface SpawnFfmpegOptions {
  /** Executable name or path. */
  readonly executable: string;
  readonly args: readonly string[];
  /** Each stderr line (credentials redacted), e.g. for debug logging. */
  readonly onStderrLine?: (line: string) => void;
}

// "  Stream #0:0: Video: rawvideo (BGR[24] / 0x18524742), bgr24(pc, ...), 768x576, q=2-31"
const OUTPUT_STREAM = /^\s*Stream #\d+:\d+.*: Video: rawvideo\b.*?, (\d{1,5})x(\d{1,5})\b/;
const TELLING =
  /error|fail|refused|not found|no such|invalid|denied|unauthori[sz]ed|forbidden|timed? ?out|unable|could not|cannot|end of file|[45]\d\d /i;
const KEPT_LINES = 24;

/** Starts ffmpeg; throws {@link FfmpegMissingError} when the executable cannot run. */
export function spawnFfmpeg(options: SpawnFfmpegOptions): FfmpegProcess {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.executable, {
      args: [...options.args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      throw new FfmpegMissingError(options.executable, (err as Error).message);
    }
    throw err;
  }

  const lines: string[] = [];
  let resolveSize!: (size: { width: number; height: number }) => void;
  let rejectSize!: (err: Error) => void;
  let sizeKnown = false;
  const outputSize = new Promise<{ width: number; height: number }>((res, rej) => {
    resolveSize = res;
    rejectSize = rej;
  });
  // A caller that stops before the size is known must not see an unhandled rejection.
  outputSize.catch(() => {});
  let inOutput = false;

  const onLine = (raw: string) => {
    const line = redactCredentials(raw.trimEnd());
    if (line === "") return;
    lines.push(line);
    if (lines.length > KEPT_LINES) lines.shift();
    options.onStderrLine?.(line);
    if (sizeKnown) return;
    if (/^Output #0\b/.test(line)) inOutput = true;
    const m = inOutput ? OUTPUT_STREAM.exec(line) : null;
    if (m) {
      sizeKnown = true;
      resolveSize({ width: Number(m[1]), height: Number(m[2]) });
    }
  };

  const stderrDone = (async () => {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split(/\r?\n|\r/);
      pending = parts.pop() ?? "";
      for (const part of parts) onLine(part);
    }
    onLine(pending + decoder.decode());
  })().catch(() => {});

  const exited = (async (): Promise<FfmpegExit> => {
    const status = await child.status;
    await stderrDone;
    const reason = tellingLine(lines);
    if (!sizeKnown) {
      rejectSize(new Error(reason || `ffmpeg exited with code ${status.code} before any frame`));
    }
    return { code: status.code, signal: status.signal, reason };
  })();

  let stopping: Promise<FfmpegExit> | null = null;
  return {
    pid: child.pid,
    stdout: child.stdout,
    outputSize,
    exited,
    stop(graceMs = 2_000) {
      stopping ??= (async () => {
        signal(child, "SIGTERM");
        const timer = setTimeout(() => signal(child, "SIGKILL"), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // already exited
  }
}

/** The last stderr line that explains a failure, else the last line. */
export function tellingLine(lines: readonly string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (/^\s*(frame=|video:|Stream #|Metadata:|encoder\s*:)/.test(line)) continue;
    if (TELLING.test(line)) return line.trim();
  }
  return lines.length ? lines[lines.length - 1]!.trim() : "";
}
