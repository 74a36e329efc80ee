import assert from "node:assert/strict";
import { type CameraSettings, CameraSettingsSchema } from "../shared/camera_settings.ts";
import { ConfigError, loadConfig } from "../shared/config.ts";
import type { Detection } from "../shared/events.ts";
import { cameraSettingsFor } from "../shared/rules/camera_rules.ts";
import { applyCameraThresholds } from "../shared/rules/camera_thresholds.ts";
import { createMotionMask, rasterizePolygons } from "../shared/rules/motion_mask.ts";
import { bottomCentre, flattenPolygon, pointInPolygon } from "../shared/rules/polygon.ts";
import {
  createRulesEngine,
  type RuleIdentity,
  type RuleTrack,
} from "../shared/rules/rules_engine.ts";

const W = 1000;
const H = 500;

/** A person whose feet are at normalised (fx, fy). */
function track(id: number, fx: number, fy: number, extra: Partial<RuleTrack> = {}): RuleTrack {
  const x = fx * W;
  const y = fy * H;
  return {
    track_id: id,
    class_name: "person",
    phase: "update",
    score: 0.9,
    bbox: { x1: x - 20, y1: y - 100, x2: x + 20, y2: y },
    ...extra,
  };
}

// The lower half of the frame is the "yard".
const YARD: [number, number][] = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]];

function camera(rules: unknown[], extra: Record<string, unknown> = {}): CameraSettings {
  return CameraSettingsSchema.parse({ zones: { yard: YARD }, rules, ...extra });
}

// ---------------------------------------------------------------------------------------------
// geometry
// ---------------------------------------------------------------------------------------------

Deno.test("point in polygon follows the even-odd rule on a concave polygon", () => {
  // A "U": two legs joined at the bottom.
  const u = flattenPolygon([[0, 0], [0.3, 0], [0.3, 0.6], [0.7, 0.6], [0.7, 0], [1, 0], [1, 1], [
    0,
    1,
  ]]);
  assert.equal(pointInPolygon(u, 0.1, 0.1), true, "left leg");
  assert.equal(pointInPolygon(u, 0.9, 0.1), true, "right leg");
  assert.equal(pointInPolygon(u, 0.5, 0.3), false, "the gap");
  assert.equal(pointInPolygon(u, 0.5, 0.8), true, "the base");
  assert.equal(pointInPolygon(u, 1.5, 0.8), false, "outside");
});

Deno.test("a zone tests the box's bottom-centre, kept inside the frame edge", () => {
  const [x, y] = bottomCentre({ x1: 100, y1: 0, x2: 300, y2: H }, W, H);
  assert.equal(x, 0.2);
  assert.ok(y < 1 && y > 0.999);
  assert.equal(pointInPolygon(flattenPolygon(YARD), x, y), true, "feet on the bottom edge");
});

Deno.test("the motion mask rasterises exactly the thumbnail samples inside the polygons", () => {
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 20; trial++) {
    const polys = Array.from({ length: 1 + (trial % 3) }, () =>
      flattenPolygon(
        Array.from({ length: 3 + Math.floor(rand() * 6) }, () =>
          [rand(), rand()] as [
            number,
            number,
          ]),
      ));
    const w = 40 + trial;
    const h = 30;
    const mask = rasterizePolygons(polys, w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const u = (x + 0.5) / w;
        const v = (y + 0.5) / h;
        const expected = polys.some((p) => pointInPolygon(p, u, v)) ? 1 : 0;
        assert.equal(mask[y * w + x], expected, `trial ${trial} at ${x},${y}`);
      }
    }
  }
});

Deno.test("a camera's motion mask is null without masks and cached per thumbnail size", () => {
  assert.equal(createMotionMask([]).forSize(160, 120), null);
  const mask = createMotionMask([[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]]);
  const a = mask.forSize(160, 120)!;
  assert.equal(a.length, 160 * 120);
  assert.equal(a.reduce((s, v) => s + v, 0), 80 * 120, "the left half");
  assert.equal(mask.forSize(160, 120), a, "same array for the same size");
  assert.equal(mask.forSize(80, 60)!.length, 80 * 60);
});

// ---------------------------------------------------------------------------------------------
// settings
// ---------------------------------------------------------------------------------------------

Deno.test("camera settings reject unknown zones, duplicate rule ids and a dwell without time", () => {
  const r = CameraSettingsSchema.safeParse({
    zones: { yard: YARD, bad: [[0, 0], [2, 0], [0, 1]] },
    rules: [
      { id: "a", zone: "nowhere", on: "enter" },
      { id: "a", on: "dwell" },
      { id: "b", on: "sneeze" },
    ],
  });
  assert.equal(r.success, false);
  const paths = r.error!.issues.map((i) => i.path.join("."));
  for (const p of ["zones.bad.1.0", "rules.2.on"]) assert.ok(paths.includes(p), p);
  // Cross-field checks run once the fields themselves are valid.
  const cross = CameraSettingsSchema.safeParse({
    zones: { yard: YARD },
    rules: [{ id: "a", zone: "nowhere", on: "enter" }, { id: "a", on: "dwell" }],
  });
  assert.deepEqual(cross.error!.issues.map((i) => [i.path.join("."), i.message]), [
    ["rules.0.zone", "no zone named nowhere on this camera"],
    ["rules.1.id", "duplicate rule id"],
    ["rules.1.min_dwell_seconds", "a dwell rule needs min_dwell_seconds > 0"],
  ]);
});

Deno.test("cameras come from the config file or from FESS_CAMERAS as JSON", () => {
  const yaml =
    "cameras:\n  cam-1:\n    zones:\n      yard: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]\n" +
    "    rules:\n      - {id: in, zone: yard, on: enter, classes: [person]}\n";
  const fromFile = loadConfig({}, "c.yaml", { readFile: () => yaml });
  assert.equal(fromFile.cameras["cam-1"]!.rules[0]!.cooldown_seconds, 60);
  assert.deepEqual(fromFile.cameras["cam-1"]!.masks, []);
  const fromEnv = loadConfig({
    FESS_CAMERAS: JSON.stringify({ "cam-2": { rules: [{ id: "s", on: "unknown_face" }] } }),
  });
  assert.equal(fromEnv.cameras["cam-2"]!.rules[0]!.on, "unknown_face");
  assert.deepEqual(loadConfig({}).cameras, {});
  try {
    loadConfig({}, "c.yaml", {
      readFile: () =>
        "cameras:\n  'bad id!':\n    rules: []\n  cam-3:\n    rules: [{id: x, zone: z, on: enter}]\n",
    });
    assert.fail("expected ConfigError");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const keys = e.issues.map((i) => i.key);
    assert.ok(keys.includes("cameras.cam-3.rules.0.zone"), keys.join(", "));
    assert.ok(keys.some((k) => k.startsWith("cameras")) && keys.length >= 2, keys.join(", "));
  }
});

Deno.test("camera thresholds raise the bar per class", () => {
  const d = (class_name: string, score: number): Detection => ({
    class_id: class_name === "person" ? 0 : 2,
    class_name,
    score,
    bbox: { x1: 0, y1: 0, x2: 1, y2: 1 },
  });
  const kept = applyCameraThresholds(
    [d("person", 0.45), d("person", 0.6), d("car", 0.45), d("car", 0.3)],
    { score_threshold: 0.4, class_thresholds: { person: 0.5 } },
  );
  assert.deepEqual(kept.map((k) => [k.class_name, k.score]), [["person", 0.6], ["car", 0.45]]);
});

// ---------------------------------------------------------------------------------------------
// rules engine
// ---------------------------------------------------------------------------------------------

Deno.test("enter fires once when a track comes into the zone, again after it leaves and returns", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([{ id: "in", zone: "yard", on: "enter", cooldown_seconds: 0 }]),
  });
  const at = (fy: number, ts: number) =>
    engine.evaluate({
      tracks: [track(1, 0.5, fy)],
      frameWidth: W,
      frameHeight: H,
      timestampMs: ts,
    });
  assert.equal(at(0.3, 0).length, 0, "outside");
  const fired = at(0.6, 100);
  assert.equal(fired.length, 1);
  assert.deepEqual(
    { ...fired[0]!, bbox: undefined, message: undefined },
    {
      rule_id: "in",
      on: "enter",
      track_id: 1,
      zone: "yard",
      class_name: "person",
      score: 0.9,
      bbox: undefined,
      captured_at_ms: 100,
      dwell_seconds: null,
      face_id: null,
      face_name: null,
      message: undefined,
    },
  );
  assert.equal(fired[0]!.message, "person 1 entered zone yard on camera cam-1");
  assert.equal(at(0.7, 200).length, 0, "still inside: no second alert");
  assert.equal(at(0.3, 300).length, 0, "left");
  assert.equal(at(0.8, 400).length, 1, "came back");
});

Deno.test("two strangers entering together give two alerts; classes and min_score filter", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([{
      id: "in",
      zone: "yard",
      on: "enter",
      classes: ["person"],
      min_score: 0.5,
    }]),
  });
  const alerts = engine.evaluate({
    tracks: [
      track(1, 0.2, 0.9),
      track(2, 0.8, 0.9),
      track(3, 0.5, 0.9, { class_name: "car" }),
      track(4, 0.4, 0.9, { score: 0.3 }),
      track(5, 0.6, 0.9, { phase: "lost" }),
    ],
    frameWidth: W,
    frameHeight: H,
    timestampMs: 0,
  });
  assert.deepEqual(alerts.map((a) => a.track_id), [1, 2]);
  // The weak detection becomes confident later, still inside: its entry is still armed.
  const later = engine.evaluate({
    tracks: [track(4, 0.4, 0.9, { score: 0.8 })],
    frameWidth: W,
    frameHeight: H,
    timestampMs: 100,
  });
  assert.deepEqual(later.map((a) => a.track_id), [4]);
});

Deno.test("one loiterer gives one dwell alert per cooldown; leaving resets the dwell time", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([{
      id: "loiter",
      zone: "yard",
      on: "dwell",
      min_dwell_seconds: 5,
      cooldown_seconds: 30,
    }]),
  });
  const fired: number[] = [];
  for (let s = 0; s <= 70; s++) {
    const out = engine.evaluate({
      tracks: [track(7, 0.5, 0.8)],
      frameWidth: W,
      frameHeight: H,
      timestampMs: s * 1000,
    });
    for (const a of out) {
      fired.push(s);
      assert.equal(a.dwell_seconds, s);
      assert.equal(a.message, `person 7 has stayed ${s} s in zone yard on camera cam-1`);
    }
  }
  assert.deepEqual(fired, [5, 35, 65]);
  // Seen outside, then back: the dwell clock restarts.
  const run = (fy: number, s: number) =>
    engine.evaluate({
      tracks: [track(8, 0.5, fy)],
      frameWidth: W,
      frameHeight: H,
      timestampMs: s * 1000,
    });
  run(0.8, 100);
  run(0.2, 103);
  assert.equal(run(0.8, 104).length, 0);
  assert.equal(run(0.8, 108).length, 0, "4 s since it came back");
  assert.equal(run(0.8, 109).length, 1);
});

Deno.test("lost frames do not reset dwell; ended tracks drop their state", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([{ id: "loiter", zone: "yard", on: "dwell", min_dwell_seconds: 3 }]),
  });
  const frame = (t: RuleTrack, s: number, ended: number[] = []) =>
    engine.evaluate({ tracks: [t], ended, frameWidth: W, frameHeight: H, timestampMs: s * 1000 });
  frame(track(1, 0.5, 0.8), 0);
  frame(track(1, 0.5, 0.8, { phase: "lost" }), 1);
  frame(track(1, 0.5, 0.8, { phase: "lost" }), 2);
  assert.equal(frame(track(1, 0.5, 0.8), 3).length, 1, "3 s in the zone, 2 of them occluded");
  assert.equal(engine.size, 1);
  frame(track(2, 0.5, 0.8), 4, [1]);
  assert.equal(engine.size, 1, "track 1's state is gone");
});

Deno.test("face rules fire per track: unknown and unauthorised faces, not authorised ones", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([
      { id: "stranger", on: "unknown_face", cooldown_seconds: 10 },
      { id: "banned", on: "unauthorized_face", cooldown_seconds: 10 },
    ]),
  });
  const identities = new Map<number, RuleIdentity>([
    [1, { status: "unknown", face_id: null, name: null, authorized: false }],
    [2, { status: "unknown", face_id: null, name: null, authorized: false }],
    [3, { status: "known", face_id: "alice", name: "Alice", authorized: true }],
    [4, { status: "known", face_id: "mallory", name: "Mallory", authorized: false }],
  ]);
  const tracks = [1, 2, 3, 4, 5].map((id) => track(id, id / 10, 0.9));
  const first = engine.evaluate({
    tracks,
    identities,
    frameWidth: W,
    frameHeight: H,
    timestampMs: 0,
  });
  assert.deepEqual(first.map((a) => [a.rule_id, a.track_id]), [
    ["stranger", 1],
    ["stranger", 2],
    ["banned", 4],
  ]);
  assert.equal(first[2]!.face_id, "mallory");
  assert.equal(first[2]!.face_name, "Mallory");
  assert.match(first[2]!.message, /face mallory \(Mallory, person 4\) is not authorised/);
  const again = (ms: number) =>
    engine.evaluate({ tracks, identities, frameWidth: W, frameHeight: H, timestampMs: ms });
  assert.equal(again(5_000).length, 0, "cooldown per track");
  assert.equal(again(10_000).length, 3, "after the cooldown");
});

Deno.test("a refused alert does not start the cooldown", () => {
  const engine = createRulesEngine({
    cameraId: "cam-1",
    settings: camera([{ id: "in", zone: "yard", on: "enter" }, {
      id: "stranger",
      on: "unknown_face",
    }]),
  });
  const identities = new Map<number, RuleIdentity>([[1, {
    status: "unknown",
    face_id: null,
    name: null,
    authorized: false,
  }]]);
  const frame = (ms: number) =>
    engine.evaluate({
      tracks: [track(1, 0.5, 0.9)],
      identities,
      frameWidth: W,
      frameHeight: H,
      timestampMs: ms,
    });
  const first = frame(0);
  assert.equal(first.length, 2);
  for (const a of first) engine.refused(a);
  assert.deepEqual(frame(100).map((a) => a.rule_id), ["in", "stranger"], "raised again");
  assert.equal(frame(200).length, 0);
});

Deno.test("rules without a zone watch the whole frame; a clock going back does not silence", () => {
  const engine = createRulesEngine({
    cameraId: "cam-9",
    settings: camera([{ id: "any", on: "enter", classes: ["car"] }]),
  });
  const out = engine.evaluate({
    tracks: [track(1, 0.1, 0.1, { class_name: "car", phase: "new" })],
    frameWidth: W,
    frameHeight: H,
    timestampMs: 50_000,
  });
  assert.equal(out[0]!.zone, null);
  assert.equal(out[0]!.message, "car 1 appeared on camera cam-9");
  const dwell = createRulesEngine({
    cameraId: "c",
    settings: camera([{ id: "d", on: "dwell", min_dwell_seconds: 1, cooldown_seconds: 100 }]),
  });
  const at = (ms: number) =>
    dwell.evaluate({
      tracks: [track(1, 0.5, 0.5)],
      frameWidth: W,
      frameHeight: H,
      timestampMs: ms,
    });
  at(10_000);
  assert.equal(at(11_000).length, 1);
  assert.equal(at(12_000).length, 0);
  at(0); // the camera's clock was reset
  assert.equal(at(1_000).length, 1, "cooldown does not wait for the old clock");
});

Deno.test("rule state stays bounded by maxTracks", () => {
  const engine = createRulesEngine({
    cameraId: "c",
    settings: camera([{ id: "in", on: "enter" }]),
    maxTracks: 10,
  });
  for (let id = 1; id <= 100; id++) {
    engine.evaluate({
      tracks: [track(id, 0.5, 0.5)],
      frameWidth: W,
      frameHeight: H,
      timestampMs: id,
    });
  }
  assert.equal(engine.size, 10);
});

Deno.test("an unconfigured camera keeps the face alerts; a configured one runs its own rules", () => {
  const configured = camera([{ id: "in", zone: "yard", on: "enter" }]);
  assert.equal(cameraSettingsFor({ "cam-1": configured }, "cam-1", 30), configured);
  const fallback = cameraSettingsFor({ "cam-1": configured }, "cam-2", 30);
  assert.deepEqual(fallback.rules.map((r) => [r.id, r.on, r.cooldown_seconds]), [
    ["unknown_face", "unknown_face", 30],
    ["unauthorized_face", "unauthorized_face", 30],
  ]);
  assert.deepEqual(cameraSettingsFor({}, "toString", 5).rules.length, 2, "no prototype lookups");
});
