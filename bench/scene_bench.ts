/**
 * CPU per frame with faces on vs faces off, through the real pipeline (`createApp`, native
 * detector and face models, tracker, rules, snapshots) on moving vtest frames: `--cameras`
 * cameras each play consecutive vtest frames at 10 fps capture time (offset per camera), frames
 * of one round processed concurrently, as the detect handler would.
 *
 *   deno run -A bench/scene_bench.ts [--frames 120] [--cameras 4]
 *
 * CPU is this process's utime + stime from /proc/self/stat over the measured rounds (after a
 * warm-up), divided by frames; `track` and `faces` are the pipeline's own mean stage times per
 * detected frame. The target: faces-on at most 1.2x faces-off.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createApp } from "../app.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import type { FrameOutcome } from "../shared/pipeline/frame_outcome.ts";
import { modelsDir, VTEST_HEIGHT, VTEST_WIDTH, vtestFramesBgr } from "../tests/support/media.ts";
import { processCpuSeconds } from "./support/proc_stats.ts";
import { printTable } from "./support/table.ts";

const WARMUP_ROUNDS = 10;

function cpuMs(): number {
  return processCpuSeconds(Deno.pid) * 1000;
}

interface PhaseResult {
  readonly name: string;
  readonly frames: number;
  readonly detected: number;
  readonly cpuMsPerFrame: number;
  readonly trackMs: number;
  readonly facesMs: number;
  readonly alertsMs: number;
  readonly tracks: number;
  readonly faceEvents: number;
  readonly alerts: number;
}

async function runPhase(
  name: string,
  env: Record<string, string>,
  frames: readonly Uint8Array[],
  cameras: number,
  rounds: number,
): Promise<PhaseResult> {
  const tmp = await Deno.makeTempDir({ prefix: "fess-scenebench-" });
  const config = loadConfig({
    FESS_ENVIRONMENT: "test",
    FESS_MODELS_DIR: modelsDir(),
    FESS_DETECTOR__BACKEND: "native",
    FESS_KAFKA__SPOOL_DIR: `${tmp}/spool`,
    FESS_KAFKA__EVENT_LOG_PATH: `${tmp}/events.jsonl`,
    FESS_HEALTH__DISK_PATH: tmp,
    ...env,
  }, undefined);
  const app = await createApp({ config, logger: createLogger({ level: "error" }) });
  const start = Date.now() - (rounds + WARMUP_ROUNDS + 1) * 100;
  const outcomes: FrameOutcome[] = [];
  let cpu0 = 0;
  try {
    for (let r = 0; r < WARMUP_ROUNDS + rounds; r++) {
      if (r === WARMUP_ROUNDS) cpu0 = cpuMs();
      const round = await Promise.all(
        Array.from({ length: cameras }, (_, c) =>
          app.pipeline.process({
            cameraId: `cam-${c}`,
            frameNumber: r,
            timestamp: new Date(start + r * 100).toISOString(),
            frame: {
              data: frames[(r + c * 17) % frames.length]!,
              width: VTEST_WIDTH,
              height: VTEST_HEIGHT,
              channels: 3,
              layout: "bgr",
            },
            source: "raw",
            decodeMs: 0,
          })),
      );
      if (r >= WARMUP_ROUNDS) outcomes.push(...round);
    }
    await app.pipeline.settled();
    const cpu = cpuMs() - cpu0;
    const ran = outcomes.filter((o) => o.detection_ran);
    const mean = (f: (o: FrameOutcome) => number) =>
      ran.reduce((a, o) => a + f(o), 0) / Math.max(1, ran.length);
    await app.close(); // flushes the event log
    const published = await Deno.readTextFile(`${tmp}/events.jsonl`).catch(() => "");
    const lines = published.split("\n").filter((l) => l);
    const count = (type: string) =>
      lines.filter((l) => l.includes(`"event_type":"${type}"`)).length;
    return {
      name,
      frames: outcomes.length,
      detected: ran.length,
      cpuMsPerFrame: cpu / outcomes.length,
      trackMs: mean((o) => o.timing.track_ms),
      facesMs: mean((o) => o.timing.faces_ms),
      alertsMs: mean((o) => o.timing.alerts_ms),
      tracks: Math.max(0, ...ran.flatMap((o) => o.detections.map((d) => d.track_id ?? 0))),
      faceEvents: count("face_recognition"),
      alerts: count("alert"),
    };
  } finally {
    await app.close(); // idempotent
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function printResults(results: readonly PhaseResult[]): void {
  const base = results.find((r) => r.name === "faces off");
  const rows = [
    [
      "phase",
      "frames",
      "detected",
      "CPU ms/frame",
      "x faces off",
      "track ms",
      "faces ms",
      "alerts ms",
      "max track id",
      "face events",
      "alerts",
    ],
    ...results.map((r) => [
      r.name,
      String(r.frames),
      String(r.detected),
      r.cpuMsPerFrame.toFixed(1),
      base ? (r.cpuMsPerFrame / base.cpuMsPerFrame).toFixed(2) : "-",
      r.trackMs.toFixed(3),
      r.facesMs.toFixed(2),
      r.alertsMs.toFixed(3),
      String(r.tracks),
      String(r.faceEvents),
      String(r.alerts),
    ]),
  ];
  printTable(rows);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      frames: { type: "string", default: "120" },
      cameras: { type: "string", default: "4" },
    },
  });
  const framesPerCamera = Number(values.frames);
  const cameras = Number(values.cameras);
  const rounds = Math.ceil(framesPerCamera);
  // Consecutive frames: people walk, every frame passes the motion gate.
  const frames = await vtestFramesBgr(Array.from({ length: 60 }, (_, i) => 100 + i));
  Deno.stdout.writeSync(new TextEncoder().encode(
    `scene bench: ${cameras} cameras x ${rounds} vtest frames (after ${WARMUP_ROUNDS} warm-up ` +
      `rounds), ${navigator.hardwareConcurrency} CPUs; CPU = this process (utime + stime)\n`,
  ));
  const results: PhaseResult[] = [];
  results.push(
    await runPhase("faces off", { FESS_FACES__ENABLED: "false" }, frames, cameras, rounds),
  );
  results.push(await runPhase("faces on", {}, frames, cameras, rounds));
  printResults(results);
}
