/**
 * The detector as the service runs it, built from the `detector` settings section: the backend
 * resolved once (`auto` probes here, and the face models reuse the answer), the model loaded
 * and warmed — in `workers` Worker threads on the native backend (each its own session; 0 or
 * a web backend: on the main thread) — and wrapped in the frame batcher when the model takes a
 * batch (concurrent cameras share session runs). A model that cannot load is not fatal: the
 * service stays up, `/detect` answers 503 naming the reason, and the detector's health check is
 * unhealthy; so is a detector whose Workers all crashed and cannot be restarted.
 *
 * @module
 */
import { getModelManifest } from "../../models/registry.ts";
import type { DetectorSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { HealthCheck } from "../health.ts";
import type { Logger } from "../logger.ts";
import { type OnnxBackend, resolveBackend } from "../onnx/backend.ts";
import { tuningFromSettings } from "../onnx/tuning.ts";
import { createDetector, type Detector, type DetectorOptions } from "./detector.ts";
import { createFrameBatcher } from "./frame_batcher.ts";
import { createWorkerDetector } from "./worker_detector.ts";

/** The outcome of {@link loadDetector}: a detector, or why there is none. */
export interface LoadedDetector {
  /** The ready detector (batched when the model allows), or null when it could not load. */
  readonly detector: Detector | null;
  /** Why it could not load; null when it did. */
  readonly error: string | null;
  /** The backend `auto` resolved to (for the other models), or null when resolving failed. */
  readonly backend: OnnxBackend | null;
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
  let backend: OnnxBackend | null = null;
  try {
    backend = await resolveBackend({ preference: d.backend, logger });
    const options: DetectorOptions = {
      modelsDir: d.models_dir,
      manifest: getModelManifest(d.model_id),
      backend,
      inputSize: d.input_size,
      scoreThreshold: d.score_threshold,
      classThresholds: d.class_thresholds,
      classAllowList: d.classes,
      maxBatch: d.max_batch,
      warmup: d.warmup,
      tuning: tuningFromSettings(d),
      logger,
    };
    // The web runtimes keep one session per process and gain nothing from a Worker.
    const workers = backend === "native" ? d.workers : 0;
    const loaded = workers > 0
      ? await createWorkerDetector({ ...options, workers })
      : await createDetector(options);
    detector = loaded.model.dynamic_batch
      ? createFrameBatcher(loaded, { maxBatch: d.max_batch, concurrency: Math.max(1, workers) })
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
    backend,
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
              ...detector.health?.(),
              ...extra?.(),
            }
            : { healthy: false, backend: null, model: d.model_id, error },
        ),
    }),
  };
}
