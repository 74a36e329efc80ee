import assert from "node:assert/strict";
import { getModelManifest } from "../models/registry.ts";
import {
  createDetector,
  type Detector,
  type DetectorOptions,
} from "../shared/detector/detector.ts";
import type { Detection } from "../shared/events.ts";
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

const VTEST_FRAMES = [10, 200, 400];

function open(
  backend: DetectorOptions["backend"],
  extra: Partial<DetectorOptions> = {},
): Promise<Detector> {
  return createDetector({
    modelsDir: modelsDir(),
    manifest: getModelManifest("rtmdet-nano-person"),
    backend,
    scoreThreshold: 0.3,
    logger: silentLogger,
    ...extra,
  });
}

async function groupPhoto(): Promise<RawFrame> {
  return decodeImage(await Deno.readFile(await mediaPath("group-13-people.jpg")));
}

async function vtest(): Promise<RawFrame[]> {
  return (await vtestFramesBgr(VTEST_FRAMES)).map((data) =>
    wrapRawFrame({ data, width: VTEST_WIDTH, height: VTEST_HEIGHT, format: "bgr24" })
  );
}

// Head positions of the 13 people in group-13-people.jpg (1024x707), annotated by hand:
// 7 in the front row, 6 behind them.
const HEADS: [number, number][] = [
  [180, 245],
  [305, 262],
  [420, 262],
  [520, 270],
  [628, 250],
  [770, 255],
  [900, 250],
  [218, 200],
  [385, 242],
  [478, 240],
  [580, 215],
  [688, 238],
  [805, 160],
];

/** A person counts as found when a box (each used once) contains the head near its top. */
function countFound(detections: readonly Detection[]): number {
  const used = new Set<Detection>();
  let found = 0;
  for (const [hx, hy] of HEADS) {
    const match = detections
      .filter((d) => !used.has(d))
      .filter(({ bbox: box }) =>
        box.x1 <= hx && hx <= box.x2 && box.y1 <= hy && hy <= box.y2 &&
        hy - box.y1 < Math.min(90, 0.35 * (box.y2 - box.y1))
      )
      .sort((a, b) => b.score - a.score)[0];
    if (match) {
      used.add(match);
      found++;
    }
  }
  return found;
}

Deno.test("person model finds at least 11 of the 13 people of the group photo at score >= 0.3", async () => {
  const detector = await open("native");
  try {
    const [result] = await detector.detect([await groupPhoto()]);
    const dets = result!.detections;
    assert.ok(dets.every((d) => d.score >= 0.3 && d.class_name === "person"));
    const found = countFound(dets);
    assert.ok(found >= 11, `found ${found} of 13 people`);
    for (const d of dets) {
      assert.ok(
        d.bbox.x1 >= 0 && d.bbox.y1 >= 0 && d.bbox.x2 <= 1024 && d.bbox.y2 <= 707,
        "boxes clipped to the frame",
      );
    }
  } finally {
    await detector.close();
  }
});

Deno.test("person model finds the pedestrians of vtest.avi frames, batched in one run", async () => {
  const detector = await open("native", { maxBatch: 4 });
  try {
    const results = await detector.detect(await vtest());
    assert.equal(results.length, VTEST_FRAMES.length);
    for (const [i, r] of results.entries()) {
      assert.equal(r.batch_size, VTEST_FRAMES.length);
      const confident = r.detections.filter((d) => d.score >= 0.5);
      assert.ok(
        confident.length >= 3,
        `frame ${VTEST_FRAMES[i]}: only ${confident.length} pedestrians >= 0.5`,
      );
      for (const d of confident) {
        const w = d.bbox.x2 - d.bbox.x1, h = d.bbox.y2 - d.bbox.y1;
        assert.ok(
          h > w && h > 30 && h < VTEST_HEIGHT / 2,
          `frame ${VTEST_FRAMES[i]}: box ${JSON.stringify(d.bbox)} is not a pedestrian`,
        );
      }
    }
    // Batched and one-by-one runs agree.
    const single = await open("native", { maxBatch: 1 });
    try {
      const one = await single.detect((await vtest()).slice(0, 1));
      assertAgree(results[0]!.detections, one[0]!.detections, "batched vs single");
    } finally {
      await single.close();
    }
  } finally {
    await detector.close();
  }
});

/** Each detection >= 0.31 on one side has a twin on the other: same box within 1 px, score within 0.01. */
function assertAgree(a: readonly Detection[], b: readonly Detection[], what: string): void {
  const twin = (d: Detection, others: readonly Detection[]) =>
    others.some((o) =>
      Math.abs(o.score - d.score) <= 0.01 &&
      Math.abs(o.bbox.x1 - d.bbox.x1) <= 1 && Math.abs(o.bbox.y1 - d.bbox.y1) <= 1 &&
      Math.abs(o.bbox.x2 - d.bbox.x2) <= 1 && Math.abs(o.bbox.y2 - d.bbox.y2) <= 1
    );
  for (const [x, y, name] of [[a, b, "first"], [b, a, "second"]] as const) {
    for (const d of x.filter((d) => d.score >= 0.31)) {
      assert.ok(twin(d, y), `${what}: ${name} side's ${JSON.stringify(d)} has no twin`);
    }
  }
  assert.ok(a.length > 0);
}

Deno.test("wasm and native backends agree on the group photo and vtest frames", async () => {
  const native = await open("native");
  const wasm = await open("wasm");
  try {
    const frames = [await groupPhoto(), ...await vtest()];
    const [n, w] = [await native.detect(frames), await wasm.detect(frames)];
    frames.forEach((_, i) => assertAgree(n[i]!.detections, w[i]!.detections, `frame ${i}`));
  } finally {
    await native.close();
    await wasm.close();
  }
});

Deno.test("webgpu (software adapter) agrees with native on a vtest frame", async () => {
  const native = await open("native");
  // Warm-up compiles the shaders (tens of seconds on llvmpipe); one frame at batch 1 reuses them.
  const webgpu = await open("webgpu");
  try {
    assert.equal(webgpu.backend, "webgpu");
    const frame = (await vtest()).slice(1, 2);
    assertAgree(
      (await native.detect(frame))[0]!.detections,
      (await webgpu.detect(frame))[0]!.detections,
      "webgpu",
    );
  } finally {
    await native.close();
    await webgpu.close();
  }
});

Deno.test("auto never picks the fallback WebGPU adapter and reports backend and model", async () => {
  const detector = await open("auto", { warmup: false });
  try {
    assert.notEqual(detector.backend, "webgpu");
    assert.equal(detector.model.id, "rtmdet-nano-person");
    assert.equal(detector.model.input_size, 320);
    assert.equal(
      detector.model.sha256,
      "4720eda18a18402e7b76d85827d4bc60fba18111fc0b74b559e4d24da9ddc3d2",
    );
  } finally {
    await detector.close();
  }
});

Deno.test("input size 640 also runs and still finds the group photo's people", async () => {
  const detector = await open("native", { inputSize: 640 });
  try {
    assert.equal(detector.model.input_size, 640);
    const [r] = await detector.detect([await groupPhoto()]);
    assert.ok(countFound(r!.detections) >= 11);
    await assert.rejects(
      open("native", { inputSize: 512 }),
      /runs at input sizes 320, 640, 1280, not 512/,
    );
  } finally {
    await detector.close();
  }
});
