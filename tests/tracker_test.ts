import assert from "node:assert/strict";
import { assign } from "../shared/tracking/assignment.ts";
import { createKalmanFilter } from "../shared/tracking/kalman.ts";
import { trackLifecycles } from "../shared/tracking/lifecycle.ts";
import {
  createTracker,
  type TrackerSettings,
  type TrackerUpdate,
} from "../shared/tracking/tracker.ts";
import { TrackLifecycleSchema } from "../shared/events.ts";
import type { Detection } from "../shared/events.ts";

const SETTINGS: TrackerSettings = {
  high_threshold: 0.5,
  low_threshold: 0.1,
  new_track_threshold: 0.6,
  match_iou: 0.2,
  low_match_iou: 0.5,
  max_missed: 30,
  min_hits: 2,
  max_tracks: 256,
};

function person(cx: number, cy: number, score = 0.9, w = 40, h = 100): Detection {
  return {
    class_id: 0,
    class_name: "person",
    score,
    bbox: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
  };
}

function car(cx: number, cy: number, score = 0.9): Detection {
  return { ...person(cx, cy, score), class_id: 2, class_name: "car" };
}

/** Runs frames through a tracker at 100 ms apart, returning every update. */
function run(frames: Detection[][], settings: Partial<TrackerSettings> = {}): TrackerUpdate[] {
  const tracker = createTracker({ ...SETTINGS, ...settings });
  return frames.map((dets, i) => tracker.update(dets, 1_000 + i * 100));
}

// ---------------------------------------------------------------------------------------------
// assignment
// ---------------------------------------------------------------------------------------------

// lapjv's extended objective: matched costs plus limit/2 per unmatched row and column, which is
// sum(cost - limit) over the matches plus a constant.
function bruteForce(cost: number[][], limit: number): number {
  const rows = cost.length;
  const cols = cost[0]?.length ?? 0;
  let best = Infinity;
  const usedCols = new Set<number>();
  const rec = (i: number, sum: number) => {
    if (i === rows) {
      best = Math.min(best, sum);
      return;
    }
    rec(i + 1, sum); // row unmatched (pairs at or over the limit are never taken)
    for (let j = 0; j < cols; j++) {
      if (usedCols.has(j) || cost[i]![j]! >= limit) continue;
      usedCols.add(j);
      rec(i + 1, sum + cost[i]![j]! - limit); // a match saves an unmatched row and column
      usedCols.delete(j);
    }
  };
  rec(0, 0);
  return best;
}

function scoreOf(cost: number[][], rowToCol: Int32Array, limit: number): number {
  let sum = 0;
  for (let i = 0; i < cost.length; i++) {
    const j = rowToCol[i]!;
    if (j >= 0) sum += cost[i]![j]! - limit;
  }
  return sum;
}

Deno.test("assignment finds the optimum a greedy pass misses", () => {
  // Greedy takes (0,0)=0.1 first and leaves row 1 with 0.9; the optimum is 0.2 + 0.3.
  const cost = [[0.1, 0.2], [0.3, 0.9]];
  const { rowToCol } = assign(Float64Array.from(cost.flat()), 2, 2, 1);
  assert.deepEqual([...rowToCol], [1, 0]);
});

Deno.test("assignment leaves pairs at or over the limit unmatched, in both orientations", () => {
  const wide = assign(Float64Array.from([0.5, 0.9, 0.95]), 1, 3, 0.8);
  assert.deepEqual([...wide.rowToCol], [0]);
  assert.deepEqual([...wide.colToRow], [0, -1, -1]);
  const tall = assign(Float64Array.from([0.9, 0.85, 0.2]), 3, 1, 0.8);
  assert.deepEqual([...tall.rowToCol], [-1, -1, 0]);
  const none = assign(Float64Array.from([0.8, 0.9]), 1, 2, 0.8);
  assert.deepEqual([...none.rowToCol], [-1]);
  assert.deepEqual([...assign(new Float64Array(0), 0, 4, 0.8).colToRow], [-1, -1, -1, -1]);
});

Deno.test("assignment matches brute force on random rectangular matrices", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 200; trial++) {
    const rows = 1 + Math.floor(rand() * 5);
    const cols = 1 + Math.floor(rand() * 5);
    const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, rand));
    const limit = 0.3 + rand() * 0.7;
    const { rowToCol, colToRow } = assign(Float64Array.from(cost.flat()), rows, cols, limit);
    assert.ok(
      Math.abs(scoreOf(cost, rowToCol, limit) - bruteForce(cost, limit)) < 1e-9,
      `trial ${trial}`,
    );
    for (let i = 0; i < rows; i++) {
      if (rowToCol[i]! >= 0) assert.equal(colToRow[rowToCol[i]!], i);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Kalman filter
// ---------------------------------------------------------------------------------------------

Deno.test("the Kalman filter learns a constant velocity and predicts the next position", () => {
  const kf = createKalmanFilter();
  const state = kf.initiate(100, 200, 0.4, 100);
  for (let k = 1; k <= 15; k++) {
    kf.predict(state);
    kf.update(state, 100 + 8 * k, 200 - 3 * k, 0.4, 100);
  }
  kf.predict(state);
  assert.ok(Math.abs(state.mean[0]! - (100 + 8 * 16)) < 1.5, `cx ${state.mean[0]}`);
  assert.ok(Math.abs(state.mean[1]! - (200 - 3 * 16)) < 1.5, `cy ${state.mean[1]}`);
  assert.ok(Math.abs(state.mean[4]! - 8) < 0.5, `vx ${state.mean[4]}`);
  for (let i = 0; i < 8; i++) {
    assert.ok(state.covariance[i * 9]! > 0, "covariance stays positive on the diagonal");
  }
});

// ---------------------------------------------------------------------------------------------
// tracker
// ---------------------------------------------------------------------------------------------

Deno.test("a moving object keeps one id; it is confirmed on its second hit", () => {
  const frames = Array.from({ length: 20 }, (_, i) => [person(100 + 12 * i, 300)]);
  const updates = run(frames);
  assert.equal(updates[0]!.detections[0]!.track_id, null, "tentative on the first frame");
  assert.equal(updates[0]!.tracks.length, 0);
  assert.equal(updates[1]!.tracks[0]!.phase, "new");
  const ids = new Set(updates.slice(1).map((u) => u.detections[0]!.track_id));
  assert.deepEqual([...ids], [1]);
  assert.ok(updates.slice(2).every((u) => u.tracks[0]!.phase === "update"));
  const last = updates.at(-1)!.tracks[0]!;
  assert.equal(last.hits, 20);
  assert.equal(last.first_seen_ms, 1_000);
  assert.equal(last.last_seen_ms, 1_000 + 19 * 100);
});

Deno.test("two people crossing keep their own ids", () => {
  // A walks right, B walks left, 10 px below; their boxes overlap for several frames.
  const frames = Array.from({ length: 30 }, (_, i) => [
    person(100 + 10 * i, 300),
    person(390 - 10 * i, 310),
  ]);
  const updates = run(frames);
  const idOfA = updates[2]!.detections[0]!.track_id;
  const idOfB = updates[2]!.detections[1]!.track_id;
  assert.ok(idOfA !== null && idOfB !== null && idOfA !== idOfB);
  for (const [i, u] of updates.entries()) {
    if (i < 1) continue;
    assert.equal(u.detections[0]!.track_id, idOfA, `frame ${i}: A`);
    assert.equal(u.detections[1]!.track_id, idOfB, `frame ${i}: B`);
  }
});

Deno.test("a person hidden for a few frames comes back under the same id", () => {
  const frames = Array.from(
    { length: 25 },
    (_, i) => (i >= 10 && i < 15 ? [] : [person(100 + 10 * i, 300)]),
  );
  const updates = run(frames);
  const id = updates[5]!.detections[0]!.track_id;
  assert.equal(typeof id, "number");
  for (let i = 10; i < 15; i++) {
    assert.equal(updates[i]!.tracks[0]!.phase, "lost", `frame ${i}`);
    assert.equal(updates[i]!.tracks[0]!.missed, i - 9);
  }
  assert.equal(updates[15]!.detections[0]!.track_id, id);
  assert.equal(updates[15]!.tracks[0]!.phase, "update");
  assert.equal(updates.at(-1)!.detections[0]!.track_id, id);
});

Deno.test("low-score detections keep a track alive (second association) but never start one", () => {
  const frames = Array.from({ length: 20 }, (_, i) => {
    const score = i >= 6 && i < 14 ? 0.3 : 0.9; // partly occluded: the detector is unsure
    return [person(100 + 10 * i, 300, score), person(600, 100 + 0 * i, 0.3)];
  });
  const updates = run(frames);
  const id = updates[3]!.detections[0]!.track_id;
  for (let i = 6; i < 14; i++) {
    assert.equal(updates[i]!.detections[0]!.track_id, id, `frame ${i}`);
    assert.equal(updates[i]!.tracks.find((t) => t.track_id === id)!.phase, "update");
  }
  assert.ok(updates.every((u) => u.detections[1]!.track_id === null), "0.3 never starts a track");
  // Without the second stage the same sequence loses the track during the low-score frames.
  const single = run(frames, { low_threshold: 0.5 });
  assert.equal(single[8]!.detections[0]!.track_id, null);
  assert.equal(single[8]!.tracks[0]!.phase, "lost");
});

Deno.test("a track ends after max_missed misses and ids are never reused", () => {
  const frames: Detection[][] = [];
  for (let i = 0; i < 5; i++) frames.push([person(100 + 5 * i, 300)]);
  for (let i = 0; i < 4; i++) frames.push([]);
  for (let i = 0; i < 5; i++) frames.push([person(100, 300)]); // same place, after the end
  const updates = run(frames, { max_missed: 3 });
  const first = updates[4]!.detections[0]!.track_id!;
  assert.equal(updates[8]!.ended.length, 1, "ends on the 4th miss");
  assert.equal(updates[8]!.ended[0]!.track_id, first);
  assert.equal(updates[8]!.ended[0]!.phase, "end");
  assert.equal(updates[8]!.tracks.length, 0);
  const second = updates[13]!.detections[0]!.track_id!;
  assert.ok(second > first, `new id ${second} after ${first}`);
  assert.equal(updates.flatMap((u) => u.ended).length, 1, "ended exactly once");
});

Deno.test("a one-frame false positive never gets an id and uses none up", () => {
  const frames: Detection[][] = [[person(50, 50)], [], [person(400, 300)], [person(402, 300)]];
  const updates = run(frames);
  assert.ok(updates.slice(0, 3).every((u) => u.tracks.length === 0 && u.ended.length === 0));
  assert.equal(updates[3]!.detections[0]!.track_id, 1);
});

Deno.test("a track never matches a detection of another class", () => {
  const frames = Array.from(
    { length: 6 },
    (_, i) => (i < 3 ? [person(200, 200)] : [car(200, 200)]),
  );
  const updates = run(frames);
  const personId = updates[2]!.detections[0]!.track_id;
  assert.equal(updates[3]!.detections[0]!.track_id, null, "tentative car");
  assert.equal(updates[3]!.tracks[0]!.phase, "lost", "the person is not fed the car");
  const carId = updates[4]!.detections[0]!.track_id;
  assert.ok(carId !== null && carId !== personId);
  assert.equal(updates[4]!.tracks.find((t) => t.track_id === carId)!.class_name, "car");
});

Deno.test("min_hits 1 confirms on the first frame", () => {
  const updates = run([[person(100, 100)], [person(104, 100)]], { min_hits: 1 });
  assert.equal(updates[0]!.detections[0]!.track_id, 1);
  assert.equal(updates[0]!.tracks[0]!.phase, "new");
  assert.equal(updates[1]!.tracks[0]!.phase, "update");
});

Deno.test("live tracks stay within max_tracks: the longest-lost track makes room", () => {
  const tracker = createTracker({ ...SETTINGS, max_tracks: 3, min_hits: 1 });
  tracker.update([person(50, 100), person(150, 100), person(250, 100)], 0);
  tracker.update([person(150, 100), person(250, 100)], 100); // the first is lost
  const u = tracker.update([person(150, 100), person(250, 100), person(400, 400)], 200);
  assert.equal(tracker.size, 3);
  assert.deepEqual(u.ended.map((t) => t.track_id), [1]);
  assert.equal(u.detections[2]!.track_id, 4);
  // Full of tracked tracks: a new object waits for room instead of evicting a visible one.
  const full = tracker.update(
    [person(150, 100), person(250, 100), person(400, 400), person(600, 50)],
    300,
  );
  assert.equal(full.detections[3]!.track_id, null);
  assert.equal(tracker.size, 3);
});

Deno.test("reset ends every confirmed track", () => {
  const tracker = createTracker(SETTINGS);
  tracker.update([person(100, 100), person(300, 100)], 0);
  tracker.update([person(100, 100), person(300, 100)], 100);
  const ended = tracker.reset();
  assert.deepEqual(ended.map((t) => [t.track_id, t.phase]), [[1, "end"], [2, "end"]]);
  assert.equal(tracker.size, 0);
});

Deno.test("lifecycle entries validate against the event schema", () => {
  const frames = Array.from({ length: 6 }, (_, i) => (i < 3 ? [person(100, 100)] : []));
  const updates = run(frames, { max_missed: 1 });
  const entries = updates.flatMap(trackLifecycles);
  assert.deepEqual(entries.map((e) => e.phase), ["new", "update", "lost", "end"]);
  for (const e of entries) TrackLifecycleSchema.parse(e);
  assert.equal(entries[0]!.first_seen, new Date(1_000).toISOString());
});

Deno.test("bad settings and timestamps are refused", () => {
  assert.throws(() => createTracker({ ...SETTINGS, low_threshold: 0.7 }), /low_threshold/);
  assert.throws(() => createTracker({ ...SETTINGS, min_hits: 0 }), /min_hits/);
  assert.throws(() => createTracker({ ...SETTINGS, match_iou: 2 }), /match_iou/);
  assert.throws(() => createTracker(SETTINGS).update([], NaN), /finite/);
});
