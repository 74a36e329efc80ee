import assert from "node:assert/strict";
import { createMotionGate, greyThumbnail } from "../shared/motion/motion_gate.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { createCameraActivity } from "../shared/camera_activity.ts";
import { createMetrics } from "../shared/metrics.ts";

function frame(
  width: number,
  height: number,
  paint: (x: number, y: number) => [number, number, number],
): RawFrame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(paint(x, y), (y * width + x) * 3);
  }
  return { data, width, height, channels: 3, layout: "rgb" };
}

const grey = (v: number) => () => [v, v, v] as [number, number, number];
const opts = { pixelThreshold: 25, minAreaFraction: 0.01, analysisWidth: 32, idleSeconds: 60 };

Deno.test("a camera's first frame counts as motion; an identical frame does not", () => {
  const gate = createMotionGate(opts);
  const f = frame(64, 48, grey(100));
  assert.deepEqual(gate.check("c1", f), { motion: true, score: 1 });
  assert.deepEqual(gate.check("c1", f), { motion: false, score: 0 });
});

Deno.test("a moving block above the area threshold is motion; sensor noise below the pixel threshold is not", () => {
  const gate = createMotionGate(opts);
  gate.check("c", frame(64, 48, grey(100)));
  const noisy = gate.check(
    "c",
    frame(64, 48, (x, y) => {
      const v = 100 + ((x * 7 + y * 13) % 21) - 10;
      return [v, v, v];
    }),
  );
  assert.equal(noisy.motion, false);
  assert.equal(noisy.score, 0);
  // A 16x16 bright square on a 64x48 frame: 1/12 of the area.
  const moved = gate.check(
    "c",
    frame(64, 48, (x, y) => (x < 16 && y < 16 ? [250, 250, 250] : [100, 100, 100])),
  );
  assert.equal(moved.motion, true);
  assert.ok(Math.abs(moved.score - 1 / 12) < 0.02, `score ${moved.score}`);
});

Deno.test("cameras are independent and a size change restarts a camera", () => {
  const gate = createMotionGate(opts);
  gate.check("a", frame(64, 48, grey(10)));
  assert.equal(gate.check("b", frame(64, 48, grey(200))).motion, true);
  assert.equal(gate.check("a", frame(64, 48, grey(10))).motion, false);
  assert.equal(gate.check("a", frame(32, 24, grey(10))).motion, true);
  assert.equal(gate.cameras, 2);
});

Deno.test("idle cameras are forgotten", () => {
  let t = 0;
  const gate = createMotionGate({ ...opts, idleSeconds: 1, now: () => t });
  gate.check("old", frame(8, 8, grey(1)));
  t = 5000;
  gate.check("new", frame(8, 8, grey(1)));
  assert.equal(gate.cameras, 1);
});

Deno.test("grey thumbnail uses BT.601 luma and honours BGR order", () => {
  const rgb: RawFrame = {
    data: new Uint8Array([255, 0, 0]),
    width: 1,
    height: 1,
    channels: 3,
    layout: "rgb",
  };
  const bgr: RawFrame = {
    data: new Uint8Array([0, 0, 255]),
    width: 1,
    height: 1,
    channels: 3,
    layout: "bgr",
  };
  assert.equal(greyThumbnail(rgb, 1, 1)[0], 76); // 0.299 * 255
  assert.equal(greyThumbnail(bgr, 1, 1)[0], 76);
  const g: RawFrame = {
    data: new Uint8Array([7, 9]),
    width: 2,
    height: 1,
    channels: 1,
    layout: "gray",
  };
  assert.deepEqual([...greyThumbnail(g, 2, 1)], [7, 9]);
});

Deno.test("camera activity drives fess_active_cameras and fess_fps, dropping idle cameras", async () => {
  let t = 0;
  const metrics = createMetrics({ defaultMetrics: false });
  const act = createCameraActivity({ metrics, idleSeconds: 2, now: () => t });
  for (let i = 0; i < 5; i++) {
    act.frame("cam-a");
    t += 100; // 10 fps
  }
  act.frame("cam-b");
  assert.ok(Math.abs(act.fps("cam-a") - 10) < 0.01, `fps ${act.fps("cam-a")}`);
  let text = await metrics.registry.metrics();
  assert.match(text, /fess_active_cameras 2/);
  assert.match(text, /fess_fps\{camera_id="cam-a"\} 10/);
  t += 5000;
  act.refresh();
  text = await metrics.registry.metrics();
  assert.match(text, /fess_active_cameras 0/);
  assert.doesNotMatch(text, /fess_fps\{camera_id="cam-a"\}/);
});
