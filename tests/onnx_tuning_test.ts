import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../shared/config.ts";
import { silentLogger } from "../shared/logger.ts";
import { ModelLoadError } from "../shared/onnx/model_file.ts";
import { createOnnxSession, type OnnxSession } from "../shared/onnx/session.ts";
import { DEFAULT_ONNX_TUNING, type OnnxTuning, tuningFromSettings } from "../shared/onnx/tuning.ts";
import { buildRawHeadFixture } from "./support/onnx_fixture.ts";

const FIXTURE = buildRawHeadFixture({
  inputSize: 32,
  numClasses: 2,
  cells: [{ stride: 8, row: 1, col: 2, logits: [2, -1], distances: [3, 4, 5, 6] }],
});

const input = () => {
  const data = new Float32Array(2 * 3 * 32 * 32);
  data.fill(0.5, 3 * 32 * 32);
  return { input: { data, dims: [2, 3, 32, 32] } };
};

async function outputs(session: OnnxSession): Promise<Record<string, number[]>> {
  try {
    const out = await session.run(input());
    return Object.fromEntries(
      Object.entries(out).map(([k, t]) => [k, [...t.data as Float32Array]]),
    );
  } finally {
    await session.close();
  }
}

Deno.test("the detector settings' defaults are the sessions' default tuning", () => {
  assert.deepEqual(tuningFromSettings(loadConfig({}).detector), DEFAULT_ONNX_TUNING);
  const custom = loadConfig({
    FESS_DETECTOR__INTRA_OP_THREADS: "2",
    FESS_DETECTOR__INTER_OP_THREADS: "3",
    FESS_DETECTOR__EXECUTION_MODE: "parallel",
    FESS_DETECTOR__ALLOW_SPINNING: "true",
    FESS_DETECTOR__GRAPH_OPTIMIZATION: "basic",
    FESS_DETECTOR__WASM_THREADS: "2",
  }).detector;
  assert.deepEqual(
    tuningFromSettings(custom),
    {
      intraOpThreads: 2,
      interOpThreads: 3,
      executionMode: "parallel",
      allowSpinning: true,
      graphOptimization: "basic",
      wasmThreads: 2,
    } satisfies OnnxTuning,
  );
});

Deno.test("every native tuning the settings allow loads and gives the same outputs", async () => {
  const reference = await outputs(
    await createOnnxSession({
      modelPath: "fixture.onnx",
      modelBytes: FIXTURE,
      backend: "native",
      logger: silentLogger,
    }),
  );
  const variants: Partial<OnnxTuning>[] = [
    { intraOpThreads: 0, allowSpinning: true },
    { intraOpThreads: 2, allowSpinning: false },
    { executionMode: "parallel", interOpThreads: 2 },
    { graphOptimization: "disabled" },
  ];
  for (const tuning of variants) {
    const got = await outputs(
      await createOnnxSession({
        modelPath: "fixture.onnx",
        modelBytes: FIXTURE,
        backend: "native",
        logger: silentLogger,
        tuning,
      }),
    );
    assert.deepEqual(got, reference, JSON.stringify(tuning));
  }
});

Deno.test("threaded wasm runs in Deno and matches single-threaded wasm", async () => {
  const open = (wasmThreads: number) =>
    createOnnxSession({
      modelPath: "fixture.onnx",
      modelBytes: FIXTURE,
      backend: "wasm",
      logger: silentLogger,
      tuning: { wasmThreads },
    });
  const one = await outputs(await open(1));
  const two = await outputs(await open(2));
  assert.deepEqual(two, one);
});

Deno.test("an onnxruntime profile is written when the session closes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await outputs(
      await createOnnxSession({
        modelPath: "fixture.onnx",
        modelBytes: FIXTURE,
        backend: "native",
        logger: silentLogger,
        tuning: { profilePrefix: join(dir, "ort") },
      }),
    );
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(files.length, 1, `profile files: ${files}`);
    const events = JSON.parse(Deno.readTextFileSync(join(dir, files[0]!))) as { name: string }[];
    assert.ok(events.some((e) => e.name === "model_run"), "the profile records the run");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a tuning the runtime rejects fails loading with the model path", async () => {
  await assert.rejects(
    createOnnxSession({
      modelPath: "fixture.onnx",
      modelBytes: FIXTURE,
      backend: "native",
      logger: silentLogger,
      // Not a mode the schema allows: the runtime's own refusal must still name the model.
      tuning: { executionMode: "sideways" as OnnxTuning["executionMode"] },
    }),
    (e: unknown) => e instanceof ModelLoadError && e.message.includes("fixture.onnx"),
  );
});
