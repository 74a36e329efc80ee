/**
 * End-to-end camera benchmark: N cameras (half through a real RTSP server, half as looped
 * files, each capped at --fps) run by one sidecar against one FESS for --seconds, first with
 * default settings, then with faces off. FESS, the sidecar, each ffmpeg and the RTSP server are
 * separate processes, so CPU (from /proc/<pid>/stat) and RSS are measured per process.
 *
 *   deno run -A bench/cameras_bench.ts [--seconds 60] [--cameras 10] [--fps 10]
 *
 * Columns: frames in/s (read from ffmpeg), detected/s (answered, detector ran), skipped/s
 * (answered, motion gate skipped the detector), dropped (replaced before upload), CPU % per
 * camera ((service + sidecar + ffmpeg) / cameras, % of one core), capture→response p50 (median
 * of the cameras' p50) and p99 (worst camera's p99), RSS per process.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort } from "../tests/support/services.ts";
import { mediaPath, modelsDir } from "../tests/support/media.ts";
import { startRtspServer } from "../tests/support/rtsp_server.ts";
import { waitReady } from "./support/fess_process.ts";
import { childPids, processCpuSeconds, processRssBytes } from "./support/proc_stats.ts";
import { printTable } from "./support/table.ts";

const ROOT = new URL("../", import.meta.url).pathname;

interface Phase {
  readonly name: string;
  readonly env: Record<string, string>;
}

interface PhaseResult {
  readonly name: string;
  readonly cameras: number;
  readonly seconds: number;
  readonly framesIn: number;
  readonly detected: number;
  readonly skipped: number;
  readonly dropped: number;
  readonly errors: number;
  readonly cpu: { service: number; sidecar: number; ffmpeg: number; rtsp: number };
  readonly p50: number | null;
  readonly p99: number | null;
  readonly rssMb: { service: number; sidecar: number; ffmpegEach: number; rtsp: number };
}

async function runPhase(
  phase: Phase,
  opts: { seconds: number; cameras: number; fps: number; rtspUrl: string; rtspPid: number },
): Promise<PhaseResult> {
  const tmp = await Deno.makeTempDir({ prefix: "fess-cambench-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const service = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--host", "127.0.0.1", "--port", String(port)],
    cwd: ROOT,
    env: {
      FESS_MODELS_DIR: modelsDir(),
      FESS_KAFKA__SPOOL_DIR: `${tmp}/spool`,
      FESS_KAFKA__EVENT_LOG_PATH: `${tmp}/events.jsonl`,
      FESS_HEALTH__DISK_PATH: tmp,
      FESS_LOG_LEVEL: "warn",
      ...phase.env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitReady(url, service);
    const video = await mediaPath("vtest.avi");
    const cameras = Array.from(
      { length: opts.cameras },
      (_, i) =>
        i % 2 === 0
          ? { id: `rtsp-${i}`, url: opts.rtspUrl, fps: opts.fps }
          : { id: `file-${i}`, url: video, fps: opts.fps, loop: true },
    );
    const configPath = `${tmp}/cameras.yaml`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({ server: url, duration_seconds: opts.seconds + 3, cameras }),
    );
    const sidecar = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "cameras/main.ts",
        "--config",
        configPath,
        "--json",
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const linesP = new Response(sidecar.stdout).text();
    // Measure a window after a 3 s warm-up, while every camera runs.
    await new Promise((r) => setTimeout(r, 3000));
    const pidsAtStart = childPids(sidecar.pid);
    const t0 = performance.now();
    const start = {
      service: processCpuSeconds(service.pid),
      sidecar: processCpuSeconds(sidecar.pid),
      rtsp: processCpuSeconds(opts.rtspPid),
      ffmpeg: new Map(pidsAtStart.map((p) => [p, processCpuSeconds(p)])),
    };
    const rss = { service: 0, sidecar: 0, ffmpegEach: 0, rtsp: 0 };
    const ffmpegEnd = new Map<number, number>();
    const deadline = t0 + opts.seconds * 1000;
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const kids = childPids(sidecar.pid);
      for (const p of kids) {
        ffmpegEnd.set(p, processCpuSeconds(p));
        rss.ffmpegEach = Math.max(rss.ffmpegEach, processRssBytes(p) / 1048576);
      }
      rss.service = Math.max(rss.service, processRssBytes(service.pid) / 1048576);
      rss.sidecar = Math.max(rss.sidecar, processRssBytes(sidecar.pid) / 1048576);
      rss.rtsp = Math.max(rss.rtsp, processRssBytes(opts.rtspPid) / 1048576);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const pct = (cpuSeconds: number) => cpuSeconds / elapsed * 100;
    let ffmpegSeconds = 0;
    for (const [p, end] of ffmpegEnd) ffmpegSeconds += end - (start.ffmpeg.get(p) ?? 0);
    const cpu = {
      service: pct(processCpuSeconds(service.pid) - start.service),
      sidecar: pct(processCpuSeconds(sidecar.pid) - start.sidecar),
      ffmpeg: pct(ffmpegSeconds),
      rtsp: pct(processCpuSeconds(opts.rtspPid) - start.rtsp),
    };
    await sidecar.status;
    const records = (await linesP).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const summaries = records.filter((r) => r.msg === "camera summary");
    if (summaries.length !== opts.cameras) {
      throw new Error(`expected ${opts.cameras} camera summaries, got ${summaries.length}`);
    }
    const total = (k: string) => summaries.reduce((a, s) => a + (s[k] as number), 0);
    const p50s = summaries.map((s) => s.latency_p50_ms).filter((v) => v !== null).sort((a, b) =>
      a - b
    );
    const p99s = summaries.map((s) => s.latency_p99_ms).filter((v) => v !== null);
    // Totals cover the sidecar's whole run; rates divide by that run's length.
    const runSeconds = opts.seconds + 3;
    return {
      name: phase.name,
      cameras: opts.cameras,
      seconds: runSeconds,
      framesIn: total("frames_in") / runSeconds,
      detected: total("detected") / runSeconds,
      skipped: total("skipped") / runSeconds,
      dropped: total("dropped"),
      errors: total("upload_errors"),
      cpu,
      p50: p50s.length ? p50s[Math.floor(p50s.length / 2)] : null,
      p99: p99s.length ? Math.max(...p99s) : null,
      rssMb: rss,
    };
  } finally {
    try {
      service.kill("SIGTERM");
    } catch {
      // exited
    }
    await service.status;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function printResults(results: readonly PhaseResult[]): void {
  const f = (v: number | null, d = 1) => (v === null ? "-" : v.toFixed(d));
  const rows = [
    [
      "phase",
      "cams",
      "in/s",
      "detected/s",
      "skipped/s",
      "dropped",
      "errors",
      "CPU%/cam",
      "svc%",
      "sidecar%",
      "ffmpeg%",
      "rtsp%",
      "p50 ms",
      "p99 ms",
      "RSS svc/sidecar/ffmpeg/rtsp MB",
    ],
    ...results.map((r) => [
      r.name,
      String(r.cameras),
      f(r.framesIn),
      f(r.detected),
      f(r.skipped),
      String(r.dropped),
      String(r.errors),
      f((r.cpu.service + r.cpu.sidecar + r.cpu.ffmpeg) / r.cameras),
      f(r.cpu.service),
      f(r.cpu.sidecar),
      f(r.cpu.ffmpeg),
      f(r.cpu.rtsp),
      f(r.p50, 0),
      f(r.p99, 0),
      [r.rssMb.service, r.rssMb.sidecar, r.rssMb.ffmpegEach, r.rssMb.rtsp].map((v) => v.toFixed(0))
        .join("/"),
    ]),
  ];
  printTable(rows);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "60" },
      cameras: { type: "string", default: "10" },
      fps: { type: "string", default: "10" },
    },
  });
  const seconds = Number(values.seconds);
  const cameras = Number(values.cameras);
  const fps = Number(values.fps);
  const rtsp = await startRtspServer(await mediaPath("vtest.avi"));
  try {
    const cpus = navigator.hardwareConcurrency;
    Deno.stdout.writeSync(new TextEncoder().encode(
      `cameras bench: ${cameras} cameras (${Math.ceil(cameras / 2)} RTSP, ${
        Math.floor(cameras / 2)
      } looped files) at ${fps} fps for ${seconds} s; ${cpus} CPUs; CPU % is of one core, ` +
        `per camera = (service + sidecar + ffmpeg) / cameras; rtsp% is the test camera server\n`,
    ));
    const results: PhaseResult[] = [];
    const phases: Phase[] = [
      { name: "defaults", env: {} },
      { name: "faces off", env: { FESS_FACES__ENABLED: "false" } },
    ];
    for (const phase of phases) {
      results.push(
        await runPhase(phase, { seconds, cameras, fps, rtspUrl: rtsp.url, rtspPid: rtsp.pid! }),
      );
    }
    printResults(results);
  } finally {
    await rtsp.close();
  }
}
