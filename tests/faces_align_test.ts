/** Alignment maths and YuNet NMS, without models. */
import assert from "node:assert/strict";
import {
  alignFace,
  applySimilarity,
  ARCFACE_TEMPLATE_112,
  estimateSimilarity,
} from "../shared/faces/align.ts";
import { nms } from "../shared/faces/yunet.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";

Deno.test("estimateSimilarity recovers a known rotation, scale and translation exactly", () => {
  const angle = 0.3, scale = 2.5, tx = 40, ty = -12;
  const a = scale * Math.cos(angle), b = scale * Math.sin(angle);
  const src = ARCFACE_TEMPLATE_112;
  const dst = src.map((p) => ({ x: a * p.x - b * p.y + tx, y: b * p.x + a * p.y + ty }));
  const t = estimateSimilarity(src, dst);
  for (const [got, want] of [[t.a, a], [t.b, b], [t.tx, tx], [t.ty, ty]]) {
    assert.ok(Math.abs(got! - want!) < 1e-9, `${got} vs ${want}`);
  }
  const p = applySimilarity(t, src[2]!);
  assert.ok(Math.abs(p.x - dst[2]!.x) < 1e-9 && Math.abs(p.y - dst[2]!.y) < 1e-9);
  assert.throws(
    () => estimateSimilarity([{ x: 1, y: 1 }, { x: 1, y: 1 }], src.slice(0, 2)),
    RangeError,
  );
});

Deno.test("alignFace maps the landmarks onto the ArcFace template", () => {
  // A frame with bright dots at landmarks scaled x2 and shifted: after alignment the dots must
  // sit at the template points.
  const width = 400, height = 300;
  const data = new Uint8Array(width * height * 3);
  const landmarks = ARCFACE_TEMPLATE_112.map((p) => ({ x: 2 * p.x + 100, y: 2 * p.y + 50 }));
  for (const l of landmarks) {
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) {
        const o = ((Math.round(l.y) + dy) * width + Math.round(l.x) + dx) * 3;
        data[o] = 255; // red only, so channel order is checked too
      }
    }
  }
  const frame: RawFrame = { data, width, height, channels: 3, layout: "rgb" };
  const face = alignFace(frame, landmarks);
  assert.equal(face.width, 112);
  for (const p of ARCFACE_TEMPLATE_112) {
    const o = (Math.round(p.y) * 112 + Math.round(p.x)) * 3;
    assert.ok(face.data[o]! > 200, `red at template point ${p.x},${p.y}`);
    assert.equal(face.data[o + 2], 0);
  }
  const bgr = alignFace({ ...frame, layout: "bgr" }, landmarks);
  const o =
    (Math.round(ARCFACE_TEMPLATE_112[0]!.y) * 112 + Math.round(ARCFACE_TEMPLATE_112[0]!.x)) * 3;
  assert.ok(bgr.data[o + 2]! > 200, "a BGR frame's first channel is blue in the RGB output");
});

Deno.test("nms keeps the best of overlapping faces and keeps separate ones", () => {
  const lm = [] as { x: number; y: number }[];
  const kept = nms([
    { bbox: { x1: 0, y1: 0, x2: 10, y2: 10 }, landmarks: lm, score: 0.8 },
    { bbox: { x1: 1, y1: 1, x2: 11, y2: 11 }, landmarks: lm, score: 0.9 },
    { bbox: { x1: 50, y1: 50, x2: 60, y2: 60 }, landmarks: lm, score: 0.7 },
  ], 0.3);
  assert.deepEqual(kept.map((f) => f.score), [0.9, 0.7]);
});
