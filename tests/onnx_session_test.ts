import assert from "node:assert/strict";
import { join } from "node:path";
import { silentLogger } from "../shared/logger.ts";
import { probeWebGpu, resolveBackend } from "../shared/onnx/backend.ts";
import { ModelLoadError, sha256Hex } from "../shared/onnx/model_file.ts";
import { createOnnxSession } from "../shared/onnx/session.ts";
import { buildRawHeadFixture } from "./support/onnx_fixture.ts";

const FIXTURE = buildRawHeadFixture({
  inputSize: 32,
  numClasses: 2,
  cells: [{ stride: 8, row: 1, col: 2, logits: [2, -1], distances: [3, 4, 5, 6] }],
});

Deno.test("auto picks webgpu only for a real adapter, native before wasm otherwise", async () => {
  const pick = (webgpu: { available: boolean; fallback: boolean }, native: boolean) =>
    resolveBackend({
      preference: "auto",
      logger: silentLogger,
      probes: { webgpu: () => Promise.resolve(webgpu), native: () => Promise.resolve(native) },
    });
  assert.equal(await pick({ available: true, fallback: false }, true), "webgpu");
  assert.equal(await pick({ available: true, fallback: true }, true), "native");
  assert.equal(await pick({ available: false, fallback: false }, true), "native");
  assert.equal(await pick({ available: true, fallback: true }, false), "wasm");
  assert.equal(await resolveBackend({ preference: "wasm", logger: silentLogger }), "wasm");
});

Deno.test("on this machine the WebGPU adapter is a software fallback, so auto chooses native", async () => {
  const probe = await probeWebGpu();
  if (probe.available) {
    assert.equal(probe.fallback, true, `unexpected real adapter ${probe.description}`);
  }
  const lines: string[] = [];
  const logger = {
    ...silentLogger,
    info: (msg: string, f?: Record<string, unknown>) =>
      void lines.push(`${msg} ${JSON.stringify(f)}`),
  };
  assert.equal(await resolveBackend({ preference: "auto", logger }), "native");
  assert.match(lines.join("\n"), /onnx backend chosen .*"backend":"native"/);
});

for (const backend of ["native", "wasm"] as const) {
  Deno.test(`a ${backend} session runs a batch and returns plain {type, data, dims} tensors`, async () => {
    const session = await createOnnxSession({
      modelPath: "fixture.onnx",
      modelBytes: FIXTURE,
      backend,
      logger: silentLogger,
    });
    try {
      assert.equal(session.backend, backend);
      assert.deepEqual(session.inputNames, ["input"]);
      assert.deepEqual(session.outputNames, [
        "cls_8",
        "reg_8",
        "cls_16",
        "reg_16",
        "cls_32",
        "reg_32",
      ]);
      const data = new Float32Array(2 * 3 * 32 * 32);
      data.fill(0.5, 3 * 32 * 32); // second item has mean 0.5
      const out = await session.run({ input: { data, dims: [2, 3, 32, 32] } });
      const cls = out.cls_8!;
      assert.equal(cls.type, "float32");
      assert.ok(cls.data instanceof Float32Array);
      assert.deepEqual(cls.dims, [2, 2, 4, 4]);
      assert.equal(cls.data[1 * 4 + 2], 2); // item 0, class 0, row 1, col 2
      assert.equal(cls.data[32 + 1 * 4 + 2], 2.5); // item 1 shifted by its mean
      assert.equal(out.reg_8!.data[3 * 16 + 1 * 4 + 2], 6);
      // Concurrent runs are serialised rather than rejected by the runtime.
      const both = await Promise.all(
        [1, 2].map(() => session.run({ input: { data, dims: [2, 3, 32, 32] } })),
      );
      assert.deepEqual([...both[0]!.cls_16!.data], [...both[1]!.cls_16!.data]);
    } finally {
      await session.close();
    }
  });
}

Deno.test("a missing model fails naming the path, the expected sha256 and `deno task models`", async () => {
  const path = "/nonexistent/dir/model.onnx";
  const sha = "a".repeat(64);
  await assert.rejects(
    createOnnxSession({ modelPath: path, sha256: sha, backend: "wasm", logger: silentLogger }),
    (e: unknown) =>
      e instanceof ModelLoadError && e.status === 503 && e.message.includes(path) &&
      e.message.includes(sha) && /not found/.test(e.message) &&
      e.message.includes("run `deno task models`"),
  );
});

Deno.test("a model with the wrong sha256 or corrupt bytes fails with a clear message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "corrupt.onnx");
    const junk = new TextEncoder().encode("this is not an onnx protobuf at all");
    await Deno.writeFile(path, junk);
    await assert.rejects(
      createOnnxSession({
        modelPath: path,
        sha256: "b".repeat(64),
        backend: "native",
        logger: silentLogger,
      }),
      (e: unknown) =>
        e instanceof ModelLoadError && /corrupt or a different version/.test(e.message) &&
        e.message.includes(path),
    );
    const sha = await sha256Hex(junk);
    for (const backend of ["native", "wasm"] as const) {
      await assert.rejects(
        createOnnxSession({ modelPath: path, sha256: sha, backend, logger: silentLogger }),
        (e: unknown) =>
          e instanceof ModelLoadError && e.message.includes(`does not load on ${backend}`) &&
          e.message.includes(path) && e.message.includes(sha),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
