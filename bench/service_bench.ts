/**
 * The whole service under load: `POST /detect` through createApp (motion gate, detector,
 * detection cache, events to the local event log, faces) over real HTTP on loopback, with
 * one or several cameras posting moving vtest.avi frames concurrently. Shows what batching
 * concurrent frames into one session run buys, and what face recognition costs per frame.
 *
 *   deno run -A bench/service_bench.ts [--quick]
 *
 * @module
 */
import { startTestApp } from "../tests/support/app.ts";
import { vtestFramesJpeg } from "../tests/support/media.ts";

const quick = Deno.args.includes("--quick");
const FRAMES = Array.from({ length: 40 }, (_, i) => 100 + i * 3);
const rounds = quick ? 1 : 3;

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));

interface Case {
  readonly label: string;
  readonly cameras: number;
  readonly env: Record<string, string>;
}

const CASES: Case[] = [
  {
    label: "faces off, batch 1",
    cameras: 1,
    env: { FESS_FACES__ENABLED: "false", FESS_DETECTOR__MAX_BATCH: "1" },
  },
  {
    label: "faces off, batch 1",
    cameras: 4,
    env: { FESS_FACES__ENABLED: "false", FESS_DETECTOR__MAX_BATCH: "1" },
  },
  {
    label: "faces off, batch 4",
    cameras: 4,
    env: { FESS_FACES__ENABLED: "false", FESS_DETECTOR__MAX_BATCH: "4" },
  },
  { label: "faces on, batch 4", cameras: 1, env: { FESS_DETECTOR__MAX_BATCH: "4" } },
  { label: "faces on, batch 4", cameras: 4, env: { FESS_DETECTOR__MAX_BATCH: "4" } },
];

if (import.meta.main) {
  const jpegs = await vtestFramesJpeg(FRAMES);
  write(
    `vtest.avi 768x576 JPEG frames, rtmdet-nano-person 320, backend native, ${navigator.hardwareConcurrency} cores`,
  );
  write(
    `${FRAMES.length} frames x ${rounds} rounds per camera; each camera starts at another frame so every frame moves\n`,
  );
  write("| case | cameras | frames | frames/s | POST p50 ms | POST p95 ms | mean batch |");
  write("|---|---|---|---|---|---|---|");
  for (const c of CASES) {
    const t = await startTestApp({ FESS_DETECTOR__BACKEND: "native", ...c.env }, "error");
    const latencies: number[] = [];
    const batches: number[] = [];
    const camera = async (cam: number) => {
      let n = 0;
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < jpegs.length; i++) {
          const jpeg = jpegs[(i + cam * 10) % jpegs.length]!;
          const t0 = performance.now();
          const res = await fetch(`${t.url}/detect/cam-${cam}?frame_number=${n++}`, {
            method: "POST",
            headers: { "content-type": "image/jpeg" },
            body: jpeg,
          });
          const body = await res.json();
          if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(body)}`);
          latencies.push(performance.now() - t0);
          if (body.detection_ran) batches.push(body.timing.batch_size ?? 1);
        }
      }
    };
    // Warm-up pass, not measured.
    await Promise.all(Array.from({ length: c.cameras }, (_, i) => camera(i)));
    latencies.length = 0;
    batches.length = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: c.cameras }, (_, i) => camera(i + 100)));
    const seconds = (performance.now() - t0) / 1000;
    const meanBatch = batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length);
    write(
      `| ${c.label} | ${c.cameras} | ${latencies.length} | ${
        (latencies.length / seconds).toFixed(1)
      } | ${pct(latencies, 50).toFixed(1)} | ${pct(latencies, 95).toFixed(1)} | ${
        meanBatch.toFixed(2)
      } |`,
    );
    await t.close();
  }
}
