/**
 * The detector as the service runs it, built from the `detector` settings section: the model
 * loaded and warmed, wrapped in the frame batcher when the model takes a batch (concurrent
 * cameras share session runs). A model that cannot load is not fatal: the service stays up,
 * `/detect` answers 503 naming the reason, and the detector's health check is unhealthy.
 *
 * @module
 */
import { getModelManifest } from "../../models/registry.ts";
import type { DetectorSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { HealthCheck } from "../health.ts";
import type { Logger } from "../logger.ts";
import { tuningFromSettings } from "../onnx/tuning.ts";
import { createDetector, type Detector } from "./detector.ts";
import { createFrameBatcher } from "./frame_batcher.ts";

/** The outcome of {@link loadDetector}: a detector, or why there is none. */
export interface LoadedDetector {
  /** The ready detector (batched when the model allows), or null when it could not load. */
  readonly detector: Detector | null;
  /** Why it could not load; null when it did. */
  readonly error: string | null;
  /** The detector's critical health check; `extra` fields are added to its report. */
  healthCheck(extra?: () => Record<string, unknown>): HealthCheck;
}

/** Dependencies of {@link loadDetector}. */
export interface LoadDetectorDeps {
  readonly settings: DetectorSettings;
  readonly logger: Logger;
}

/** Loads the configured detector; never throws (see {@link LoadedDetector.error}). */
export async function loadDetector(deps: LoadDetectorDeps): Promise<LoadedDetector> {
  const { settings: d, logger } = deps;
  let detector: Detector | null = null;
  let error: string | null = null;
  try {
    const loaded = await createDetector({
      modelsDir: d.models_dir,
      manifest: getModelManifest(d.model_id),
      backend: d.backend,
      inputSize: d.input_size,
      scoreThreshold: d.score_threshold,
      classThresholds: d.class_thresholds,
      classAllowList: d.classes,
      maxBatch: d.max_batch,
      warmup: d.warmup,
      tuning: tuningFromSettings(d),
      logger,
    });
    detector = loaded.model.dynamic_batch
      ? createFrameBatcher(loaded, { maxBatch: d.max_batch })
      : loaded;
  } catch (err) {
    error = errorMessage(err);
    logger.error("detector unavailable: /detect answers 503 and /health is unhealthy", {
      reason: error,
    });
  }
  return {
    detector,
    error,
    healthCheck: (extra) => ({
      name: "detector",
      critical: true,
      check: () =>
        Promise.resolve(
          detector
            ? {
              healthy: true,
              backend: detector.backend,
              model: detector.model.id,
              input_size: detector.model.input_size,
              ...extra?.(),
            }
            : { healthy: false, backend: null, model: d.model_id, error },
        ),
    }),
  };
}
