import assert from "node:assert/strict";
import { loadConfig } from "../shared/config.ts";
import { loadDetector } from "../shared/detector/load_detector.ts";
import { silentLogger } from "../shared/logger.ts";
import { modelsDir } from "./support/media.ts";

function settings(env: Record<string, string>) {
  return loadConfig({ FESS_DETECTOR__MODELS_DIR: modelsDir(), ...env }, undefined).detector;
}

const health = (loaded: Awaited<ReturnType<typeof loadDetector>>) =>
  loaded.healthCheck().check(new AbortController().signal);

Deno.test("auto resolves to native once; the detector runs in two Workers and health reports them", async () => {
  const loaded = await loadDetector({ settings: settings({}), logger: silentLogger });
  try {
    assert.equal(loaded.error, null);
    assert.equal(loaded.backend, "native");
    assert.equal(loaded.detector?.backend, "native");
    const report = await health(loaded);
    assert.equal(report.healthy, true);
    assert.equal(report.workers, 2);
    assert.equal(report.workers_ready, 2);
    assert.equal(report.restarts, 0);
  } finally {
    await loaded.detector?.close();
  }
  // Closed: the Worker is gone and health says so.
  const after = await health(loaded);
  assert.equal(after.workers_ready, 0);
});

Deno.test("workers 0 and the wasm backend run the session on the main thread", async () => {
  const envs: Record<string, string>[] = [
    { FESS_DETECTOR__WORKERS: "0" },
    { FESS_DETECTOR__BACKEND: "wasm" },
  ];
  for (const env of envs) {
    const loaded = await loadDetector({ settings: settings(env), logger: silentLogger });
    try {
      assert.equal(loaded.error, null, JSON.stringify(env));
      const report = await health(loaded);
      assert.equal(report.healthy, true);
      assert.equal(report.workers, undefined, `${JSON.stringify(env)}: no Worker fields`);
    } finally {
      await loaded.detector?.close();
    }
  }
});

Deno.test("a model that cannot load leaves no detector, an unhealthy check and the reason", async () => {
  const loaded = await loadDetector({
    settings: settings({ FESS_DETECTOR__MODELS_DIR: "/nonexistent" }),
    logger: silentLogger,
  });
  assert.equal(loaded.detector, null);
  assert.match(loaded.error ?? "", /model file not found/);
  const report = await health(loaded);
  assert.equal(report.healthy, false);
});
