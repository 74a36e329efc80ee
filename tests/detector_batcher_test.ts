import assert from "node:assert/strict";
import { createFrameBatcher } from "../shared/detector/frame_batcher.ts";
import type { Detector, DetectorFrame } from "../shared/detector/detector.ts";
import type { FrameDetections } from "../shared/detector/detection.ts";

function frame(id: number): DetectorFrame {
  return { data: new Uint8Array([id]), width: 1, height: 1, channels: 1, layout: "gray" };
}

/** A detector whose runs finish only when the test releases them. */
function gatedDetector() {
  const runs: number[][] = [];
  const gates: (() => void)[] = [];
  let fail = false;
  const detector: Detector = {
    backend: "native",
    model: {
      id: "fake",
      path: "fake.onnx",
      sha256: null,
      format: "mmdeploy_end2end",
      input_size: 320,
      classes: 1,
      dynamic_batch: true,
    },
    classes: ["person"],
    detect(frames) {
      runs.push(frames.map((f) => f.data[0]!));
      return new Promise<FrameDetections[]>((resolve, reject) => {
        const failThis = fail;
        fail = false;
        gates.push(() =>
          failThis ? reject(new Error("session failed")) : resolve(frames.map((f) => ({
            detections: [{
              class_id: 0,
              class_name: "person",
              score: f.data[0]! / 100,
              bbox: { x1: 0, y1: 0, x2: 1, y2: 1 },
            }],
            timing: { preprocess_ms: 0, inference_ms: 0, postprocess_ms: 0 },
            batch_size: frames.length,
          })))
        );
      });
    },
    warmup: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const release = async () => {
    await new Promise((r) => setTimeout(r, 0));
    gates.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { detector, runs, release, failNext: () => (fail = true) };
}

Deno.test("a lone frame runs at once; frames arriving during a run share the next run", async () => {
  const g = gatedDetector();
  const b = createFrameBatcher(g.detector, { maxBatch: 3 });
  const first = b.detect([frame(1)]);
  assert.deepEqual(g.runs, [[1]], "the first frame did not wait for a batch");
  const later = [2, 3, 4, 5].map((i) => b.detect([frame(i)]));
  await g.release(); // first run done -> next run takes 3 waiting frames
  assert.deepEqual(g.runs, [[1], [2, 3, 4]]);
  await g.release();
  assert.deepEqual(g.runs, [[1], [2, 3, 4], [5]]);
  await g.release();
  const results = await Promise.all([first, ...later]);
  // Each caller gets its own frame's result, in order.
  assert.deepEqual(results.map((r) => r[0]!.detections[0]!.score), [0.01, 0.02, 0.03, 0.04, 0.05]);
  assert.deepEqual(results.map((r) => r[0]!.batch_size), [1, 3, 3, 3, 1]);
});

Deno.test("a failed run rejects only the callers in that batch; later runs still serve", async () => {
  const g = gatedDetector();
  const b = createFrameBatcher(g.detector, { maxBatch: 2 });
  g.failNext();
  const first = assert.rejects(b.detect([frame(1)]), /session failed/);
  const second = b.detect([frame(2)]);
  await g.release();
  await first;
  await g.release();
  assert.equal((await second)[0]!.detections[0]!.score, 0.02);
  assert.deepEqual(g.runs, [[1], [2]]);
});

Deno.test("maxBatch 1 keeps one frame per run and the batcher reports the wrapped model", async () => {
  const g = gatedDetector();
  const b = createFrameBatcher(g.detector, { maxBatch: 1 });
  const all = Promise.all([1, 2].map((i) => b.detect([frame(i)])));
  await g.release();
  await g.release();
  await all;
  assert.deepEqual(g.runs, [[1], [2]]);
  assert.equal(b.model.id, "fake");
  assert.equal(b.backend, "native");
});
