/**
 * The tracker on 60 consecutive frames of vtest.avi (pedestrians at 10 fps), detections from
 * the real RTMDet person model. There is no ground truth here, so the test reports what it can
 * measure and asserts what must hold for the ids to be useful:
 *
 * - coverage: share of confident detections (after the first frames) that carry a track id;
 * - span: frames each id stays matched; pedestrians walk through the whole clip, so most
 *   tracks must span many frames;
 * - fragments: tracks that start next to a track lost a moment before (the same person given a
 *   second id);
 * - jumps: a track's box moving more than half its height between two matched frames (a likely
 *   id switch between two people).
 */
import assert from "node:assert/strict";
import { getModelManifest } from "../models/registry.ts";
import { createDetector } from "../shared/detector/detector.ts";
import type { BoundingBox, Detection } from "../shared/events.ts";
import { wrapRawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import { createTracker, iou, type TrackSnapshot } from "../shared/tracking/tracker.ts";
import { modelsDir, VTEST_HEIGHT, VTEST_WIDTH, vtestFramesBgr } from "./support/media.ts";

const FIRST = 100;
const COUNT = 60;
const WARMUP = 3;

const centre = (b: BoundingBox) => [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2] as const;

Deno.test("vtest: 60 consecutive frames keep pedestrians under stable ids", async () => {
  const frames = await vtestFramesBgr(Array.from({ length: COUNT }, (_, i) => FIRST + i));
  const detector = await createDetector({
    modelsDir: modelsDir(),
    manifest: getModelManifest("rtmdet-nano-person"),
    backend: "native",
    scoreThreshold: 0.1, // the tracker's low threshold: the second association needs them
    logger: silentLogger,
  });
  const settings = {
    high_threshold: 0.5,
    low_threshold: 0.1,
    new_track_threshold: 0.6,
    match_iou: 0.2,
    low_match_iou: 0.5,
    max_missed: 30,
    min_hits: 2,
    max_tracks: 256,
  };
  const tracker = createTracker(settings);
  const spans = new Map<number, number>();
  const lastBox = new Map<number, BoundingBox>();
  let confident = 0;
  let confidentTracked = 0;
  let fragments = 0;
  let jumps = 0;
  let lostBefore: TrackSnapshot[] = [];
  try {
    for (let i = 0; i < COUNT; i++) {
      const frame = wrapRawFrame({
        data: frames[i]!,
        width: VTEST_WIDTH,
        height: VTEST_HEIGHT,
        format: "bgr24",
      });
      const [result] = await detector.detect([frame]);
      const detections: Detection[] = result!.detections;
      const u = tracker.update(detections, i * 100);
      for (const d of u.detections) {
        if (i >= WARMUP && d.score >= settings.new_track_threshold) {
          confident++;
          if (d.track_id !== null) confidentTracked++;
        }
        if (d.track_id === null) continue;
        spans.set(d.track_id, (spans.get(d.track_id) ?? 0) + 1);
        const prev = lastBox.get(d.track_id);
        if (prev) {
          const [px, py] = centre(prev);
          const [cx, cy] = centre(d.bbox);
          if (Math.hypot(cx - px, cy - py) > 0.5 * (d.bbox.y2 - d.bbox.y1)) jumps++;
        }
        lastBox.set(d.track_id, d.bbox);
      }
      for (const t of u.tracks) {
        if (t.phase !== "new" || i < WARMUP) continue;
        if (lostBefore.some((l) => iou(l.bbox, t.bbox) > 0.1)) fragments++;
      }
      lostBefore = u.tracks.filter((t) => t.phase === "lost");
    }
  } finally {
    await detector.close();
  }
  const lengths = [...spans.values()].sort((a, b) => a - b);
  const median = lengths[Math.floor(lengths.length / 2)] ?? 0;
  const long = lengths.filter((n) => n >= 30).length;
  const coverage = confident === 0 ? 0 : confidentTracked / confident;
  // deno-lint-ignore no-console
  console.log(
    `vtest frames ${FIRST}-${FIRST + COUNT - 1}: ${spans.size} track ids, spans ` +
      `[${lengths.join(", ")}] (median ${median}), ${long} ids span >= 30 frames, ` +
      `coverage ${(coverage * 100).toFixed(1)}% of ${confident} confident detections, ` +
      `fragments ${fragments}, jumps (likely id switches) ${jumps}`,
  );
  assert.ok(spans.size >= 3, `some pedestrians tracked (${spans.size} ids)`);
  assert.ok(coverage >= 0.9, `confident detections carry ids (${coverage})`);
  assert.ok(median >= 30, `median span ${median} frames`);
  assert.ok(long >= spans.size / 2, `most ids span 30+ frames (${long} of ${spans.size})`);
  assert.ok(fragments <= 3, `few fragments (${fragments})`);
  assert.ok(jumps <= 2, `few id switches (${jumps})`);
});
