/**
 * Per-frame cost of the scene stages that run after the detector, on synthetic scenes of N
 * walking people (noisy boxes, some low-score frames, objects entering and leaving):
 * `tracker.update`, the rules engine (3 zones, 4 rules), the faces-per-track selection, and
 * the one-off motion-mask rasterisation. Prints a table.
 *
 *   deno run -A bench/tracking_bench.ts [frames]
 *
 * @module
 */
import { CameraSettingsSchema } from "../shared/camera_settings.ts";
import type { Detection } from "../shared/events.ts";
import { createTrackIdentities } from "../shared/faces/track_identity.ts";
import { createMotionMask } from "../shared/rules/motion_mask.ts";
import { createRulesEngine } from "../shared/rules/rules_engine.ts";
import { createTracker } from "../shared/tracking/tracker.ts";

const W = 1280;
const H = 720;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Frames of a scene with `n` people walking with constant velocity, wrapping at the edges. */
function scene(n: number, frames: number): Detection[][] {
  let seed = 42 + n;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const people = Array.from({ length: n }, () => ({
    x: rand() * W,
    y: 200 + rand() * (H - 250),
    vx: (rand() - 0.5) * 16,
    vy: (rand() - 0.5) * 4,
    h: 80 + rand() * 120,
  }));
  const out: Detection[][] = [];
  for (let f = 0; f < frames; f++) {
    const dets: Detection[] = [];
    for (const p of people) {
      p.x = (p.x + p.vx + W) % W;
      p.y = Math.min(H - 10, Math.max(p.h, p.y + p.vy));
      if (rand() < 0.05) continue; // missed detection
      const jitter = () => (rand() - 0.5) * 4;
      const w = p.h * 0.4;
      dets.push({
        class_id: 0,
        class_name: "person",
        score: rand() < 0.15 ? 0.2 + rand() * 0.3 : 0.6 + rand() * 0.4,
        bbox: {
          x1: p.x - w / 2 + jitter(),
          y1: p.y - p.h + jitter(),
          x2: p.x + w / 2 + jitter(),
          y2: p.y + jitter(),
        },
      });
    }
    out.push(dets);
  }
  return out;
}

const TRACKER = {
  high_threshold: 0.5,
  low_threshold: 0.1,
  new_track_threshold: 0.6,
  match_iou: 0.2,
  low_match_iou: 0.5,
  max_missed: 30,
  min_hits: 2,
  max_tracks: 256,
};

const CAMERA = CameraSettingsSchema.parse({
  zones: {
    door: [[0, 0.5], [0.3, 0.5], [0.3, 1], [0, 1]],
    yard: [[0.3, 0.4], [1, 0.4], [1, 1], [0.3, 1]],
    road: [[0, 0], [1, 0], [1, 0.4], [0, 0.4]],
  },
  masks: [[[0, 0], [0.2, 0], [0.2, 0.1], [0, 0.1]], [[0.8, 0], [1, 0], [1, 0.3], [0.7, 0.2]]],
  rules: [
    { id: "door", zone: "door", on: "enter", classes: ["person"] },
    { id: "loiter", zone: "yard", on: "dwell", min_dwell_seconds: 5 },
    { id: "road", zone: "road", on: "enter" },
    { id: "stranger", on: "unknown_face" },
  ],
});

if (import.meta.main) {
  const frames = Number(Deno.args[0] ?? 500);
  const rows: string[] = [];
  const warm = createTracker(TRACKER); // JIT warm-up, not reported
  for (const dets of scene(50, 200)) warm.update(dets, 0);
  for (const n of [5, 20, 50, 150]) {
    const input = scene(n, frames);
    const tracker = createTracker(TRACKER);
    const rules = createRulesEngine({ cameraId: "bench", settings: CAMERA });
    const faces = createTrackIdentities({
      reverifySeconds: 10,
      retrySeconds: 1,
      maxSearchesPerFrame: 4,
    });
    const tTrack: number[] = [];
    const tRules: number[] = [];
    const tFaces: number[] = [];
    let alerts = 0;
    let ids = 0;
    for (let f = 0; f < frames; f++) {
      const ts = f * 100;
      let s = performance.now();
      const u = tracker.update(input[f]!, ts);
      tTrack.push(performance.now() - s);
      s = performance.now();
      faces.forget(u.ended.map((e) => e.track_id));
      faces.select(u.tracks, ts);
      tFaces.push(performance.now() - s);
      s = performance.now();
      alerts += rules.evaluate({
        tracks: u.tracks,
        ended: u.ended.map((e) => e.track_id),
        identities: faces.identities,
        frameWidth: W,
        frameHeight: H,
        timestampMs: ts,
      }).length;
      tRules.push(performance.now() - s);
      for (const t of u.tracks) if (t.phase === "new") ids++;
    }
    for (const t of [tTrack, tRules, tFaces]) t.sort((a, b) => a - b);
    const cell = (t: number[]) =>
      `${percentile(t, 50).toFixed(3)} / ${percentile(t, 99).toFixed(3)}`;
    rows.push(
      `| ${n} | ${frames} | ${cell(tTrack)} | ${cell(tFaces)} | ${
        cell(tRules)
      } | ${ids} | ${alerts} |`,
    );
  }
  const s = performance.now();
  const reps = 100;
  for (let i = 0; i < reps; i++) createMotionMask(CAMERA.masks).forSize(160, 90);
  const maskMs = (performance.now() - s) / reps;
  // deno-lint-ignore no-console
  console.log(
    `FESS tracking bench — ${navigator.hardwareConcurrency} CPUs, synthetic ${W}x${H} scenes, ` +
      `10 fps\n\n| people | frames | tracker p50 / p99 ms | face selection p50 / p99 ms | ` +
      `rules p50 / p99 ms | track ids | alerts |\n|---|---|---|---|---|---|---|\n` +
      rows.join("\n") +
      `\n\nmotion mask rasterisation (2 polygons, 160x90 thumbnail, once per camera and size): ` +
      `${maskMs.toFixed(3)} ms`,
  );
}
