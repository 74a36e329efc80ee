import assert from "node:assert/strict";
import { getModelManifest } from "../models/registry.ts";
import {
  createDetector,
  type Detector,
  type DetectorOptions,
} from "../shared/detector/detector.ts";
import { createFrameBatcher } from "../shared/detector/frame_batcher.ts";
import { createWorkerDetector } from "../shared/detector/worker_detector.ts";
import type { FrameDetections } from "../shared/detector/detection.ts";
import { ServiceUnavailableError } from "../shared/errors.ts";
import { decodeImage } from "../shared/image/decode.ts";
import { type RawFrame, wrapRawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import {
  mediaPath,
  modelsDir,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
} from "./support/media.ts";

const OPTIONS: DetectorOptions = {
  modelsDir: modelsDir(),
  manifest: getModelManifest("rtmdet-nano-person"),
  backend: "native",
  scoreThreshold: 0.3,
  maxBatch: 4,
  logger: silentLogger,
};

async function frames(): Promise<RawFrame[]> {
  const vtest = (await vtestFramesBgr([10, 200, 400])).map((data) =>
    wrapRawFrame({ data, width: VTEST_WIDTH, height: VTEST_HEIGHT, format: "bgr24" })
  );
  const group = await decodeImage(await Deno.readFile(await mediaPath("group-13-people.jpg")));
  return [group, ...vtest];
}

/** Detections only: timings differ from run to run, everything else must not. */
const detectionsOf = (rs: readonly FrameDetections[]) =>
  rs.map((r) => ({ detections: r.detections, batch_size: r.batch_size }));

Deno.test("worker and inline detectors return bit-identical detections, one by one and batched", async () => {
  const all = await frames();
  const inline = await createDetector(OPTIONS);
  const worker = await createWorkerDetector({ ...OPTIONS, workers: 1 });
  try {
    assert.equal(worker.backend, "native");
    assert.deepEqual(worker.model, inline.model);
    for (const f of all) {
      const [w, i] = [await worker.detect([f]), await inline.detect([f])];
      assert.ok(i[0]!.detections.length > 0);
      assert.deepEqual(detectionsOf(w), detectionsOf(i));
    }
    const vtest = all.slice(1);
    const [w, i] = [await worker.detect(vtest), await inline.detect(vtest)];
    assert.equal(w[0]!.batch_size, 3);
    assert.deepEqual(detectionsOf(w), detectionsOf(i));
    // The caller's frames are untouched (copied, not transferred away).
    assert.equal(all[1]!.data.byteLength, VTEST_WIDTH * VTEST_HEIGHT * 3);
    assert.deepEqual(worker.health?.(), {
      healthy: true,
      workers: 1,
      workers_ready: 1,
      restarts: 0,
      last_error: null,
    });
  } finally {
    await worker.close();
    await inline.close();
  }
});

Deno.test("the frame batcher spreads concurrent frames over two workers, each to its caller", async () => {
  const all = await frames();
  const inline = await createDetector(OPTIONS);
  const workers = await createWorkerDetector({ ...OPTIONS, workers: 2 });
  const batched = createFrameBatcher(workers, { maxBatch: 4, concurrency: 2 });
  try {
    const order = [0, 1, 2, 3, 3, 2, 1, 0, 1, 2];
    const results = await Promise.all(order.map((i) => batched.detect([all[i]!])));
    assert.ok(results.some(([r]) => r!.batch_size > 1), "some frames shared a run");
    const expected = await Promise.all(all.map((f) => inline.detect([f])));
    for (const [k, [r]] of results.entries()) {
      const want = expected[order[k]!]![0]!.detections;
      // Batch-mates may shift scores in the last bits; each frame keeps its own boxes.
      assert.equal(r!.detections.length, want.length, `call ${k}`);
      r!.detections.forEach((d, j) => {
        assert.ok(Math.abs(d.score - want[j]!.score) < 1e-3, `call ${k} score`);
        assert.ok(Math.abs(d.bbox.x1 - want[j]!.bbox.x1) < 0.5, `call ${k} box`);
      });
    }
  } finally {
    await batched.close();
    await inline.close();
  }
});

Deno.test("a crashed worker fails its call with a 503 naming the cause, restarts, and serves again", async () => {
  const [group] = await frames();
  const detector: Detector = await createWorkerDetector({
    ...OPTIONS,
    workers: 1,
    workerUrl: new URL("./support/crashing_detector_worker.ts", import.meta.url),
  });
  try {
    const before = await detector.detect([group!]);
    const poison = wrapRawFrame({
      data: new Uint8Array(13 * 13 * 3),
      width: 13,
      height: 13,
      format: "bgr24",
    });
    await assert.rejects(detector.detect([poison]), (err: unknown) => {
      assert.ok(err instanceof ServiceUnavailableError);
      assert.equal(err.status, 503);
      assert.match(err.message, /detector worker 0 crashed: .*simulated worker crash/);
      return true;
    });
    const during = detector.health!();
    assert.equal(during.restarts, 1);
    assert.match(during.last_error ?? "", /simulated worker crash/);
    // Frames sent while the replacement loads wait for it.
    const after = await detector.detect([group!]);
    assert.deepEqual(detectionsOf(after), detectionsOf(before));
    const healed = detector.health!();
    assert.equal(healed.healthy, true);
    assert.equal(healed.workers_ready, 1);
    assert.equal(healed.restarts, 1);
  } finally {
    await detector.close();
  }
});

Deno.test("a worker detector that cannot load its model fails to start, naming why", async () => {
  await assert.rejects(
    createWorkerDetector({ ...OPTIONS, modelsDir: "/nonexistent", workers: 1 }),
    /model file not found: \/nonexistent/,
  );
});

Deno.test("close answers later calls with a 503 and ends the workers", async () => {
  const [group] = await frames();
  const detector = await createWorkerDetector({ ...OPTIONS, workers: 2 });
  const pending = detector.detect([group!]);
  await detector.close();
  await pending.catch(() => {});
  await assert.rejects(detector.detect([group!]), ServiceUnavailableError);
  assert.equal(detector.health!().healthy, false);
  assert.equal(detector.health!().workers_ready, 0);
});

Deno.test("workers still start after a wasm session replaced globalThis.Worker with Node's", async () => {
  const wasm = await createDetector({ ...OPTIONS, backend: "wasm", warmup: false });
  try {
    const detector = await createWorkerDetector({ ...OPTIONS, workers: 1 });
    assert.equal(detector.health!().workers_ready, 1);
    await detector.close();
  } finally {
    await wasm.close();
  }
});
