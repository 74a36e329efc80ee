import assert from "node:assert/strict";
import {
  checkMotion,
  greyThumbnail,
  type MotionReference,
  type MotionResult,
} from "../shared/motion/motion_gate.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { noteFrame, startActivity } from "../shared/camera_activity.ts";

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
const opts = { pixelThreshold: 25, minAreaFraction: 0.01, analysisWidth: 32 };

/** A camera's gate: the reference passed from frame to frame, as the camera record keeps it. */
function gateOf(): { check(frame: RawFrame): MotionResult; reference: MotionReference | null } {
  const g = {
    reference: null as MotionReference | null,
    check(frame: RawFrame) {
      const { result, reference } = checkMotion(g.reference, frame, opts);
      g.reference = reference;
      return result;
    },
  };
  return g;
}

Deno.test("a camera's first frame counts as motion; an identical frame does not", () => {
  const gate = gateOf();
  const f = frame(64, 48, grey(100));
  assert.deepEqual(gate.check(f), { motion: true, score: 1 });
  assert.deepEqual(gate.check(f), { motion: false, score: 0 });
});

Deno.test("a moving block above the area threshold is motion; sensor noise below the pixel threshold is not", () => {
  const gate = gateOf();
  gate.check(frame(64, 48, grey(100)));
  const noisy = gate.check(
    frame(64, 48, (x, y) => {
      const v = 100 + ((x * 7 + y * 13) % 21) - 10;
      return [v, v, v];
    }),
  );
  assert.equal(noisy.motion, false);
  assert.equal(noisy.score, 0);
  // A 16x16 bright square on a 64x48 frame: 1/12 of the area.
  const moved = gate.check(
    frame(64, 48, (x, y) => (x < 16 && y < 16 ? [250, 250, 250] : [100, 100, 100])),
  );
  assert.equal(moved.motion, true);
  assert.ok(Math.abs(moved.score - 1 / 12) < 0.02, `score ${moved.score}`);
});

Deno.test("a size change restarts a camera's reference; same-size frames reuse its buffers", () => {
  const gate = gateOf();
  gate.check(frame(64, 48, grey(10)));
  const first = gate.reference!;
  assert.equal(gate.check(frame(64, 48, grey(10))).motion, false);
  assert.equal(gate.reference, first, "updated in place");
  const buffers = new Set([first.thumb.buffer, first.spare.buffer]);
  gate.check(frame(64, 48, grey(10)));
  assert.ok(buffers.has(gate.reference!.thumb.buffer), "no new thumbnail allocated");
  assert.equal(gate.check(frame(32, 24, grey(10))).motion, true);
  assert.notEqual(gate.reference, first);
  assert.deepEqual([gate.reference!.width, gate.reference!.height], [32, 24]);
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

Deno.test("camera activity smooths the frame rate over inter-frame gaps", () => {
  const a = startActivity(0);
  assert.equal(a.fps, 0, "unknown until a second frame");
  let t = 0;
  for (let i = 0; i < 5; i++) noteFrame(a, t += 100); // 10 fps
  assert.ok(Math.abs(a.fps - 10) < 0.01, `fps ${a.fps}`);
  noteFrame(a, t += 1000); // one 1 s gap pulls the estimate down, smoothed
  assert.ok(a.fps < 10 && a.fps > 1, `fps ${a.fps}`);
  assert.equal(a.lastSeenMs, t);
});

Deno.test("masked samples are skipped: the score is the changed share of the unmasked ones", () => {
  const still = frame(32, 16, grey(0));
  const leftLit = frame(32, 16, (x) => (x < 16 ? [255, 255, 255] : [0, 0, 0]));
  const rightLit = frame(32, 16, (x) => (x >= 16 && x < 24 ? [255, 255, 255] : [0, 0, 0]));
  const leftHalf = new Uint8Array(32 * 16);
  for (let y = 0; y < 16; y++) leftHalf.fill(1, y * 32, y * 32 + 16);
  const snapshot = leftHalf.slice();
  const sizes: string[] = [];
  const mask = {
    forSize: (w: number, h: number) => (sizes.push(`${w}x${h}`), leftHalf),
  };
  const { reference } = checkMotion(null, still, opts, mask);
  const inside = checkMotion(reference, leftLit, opts, mask);
  assert.deepEqual(inside.result, { motion: false, score: 0 }, "change only inside the mask");
  const outside = checkMotion(
    checkMotion(inside.reference, still, opts, mask).reference,
    rightLit,
    opts,
    mask,
  );
  assert.deepEqual(outside.result, { motion: true, score: 0.5 }, "8 of 16 unmasked columns");
  assert.deepEqual(leftHalf, snapshot, "the gate never writes the mask");
  assert.ok(sizes.every((s) => s === "32x16"), "asked for the thumbnail's size");

  const all = { forSize: () => new Uint8Array(32 * 16).fill(1) };
  const { reference: r2 } = checkMotion(null, still, opts, all);
  assert.deepEqual(checkMotion(r2, leftLit, opts, all).result, { motion: false, score: 0 });
});
