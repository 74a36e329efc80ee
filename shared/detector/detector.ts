/**
 * The RTMDet detector: model manifest + ONNX session + fused letterbox preprocessing + output
 * decoding (mmdeploy end2end or raw head with NMS here), behind `detect / warmup / close`.
 * Calls are serialised because one tensor buffer is reused across calls (no per-frame
 * allocation) and the web runtime cannot run a session concurrently anyway.
 *
 * @module
 */
import { join } from "node:path";
import type { RawFrame } from "../image/raw_frame.ts";
import type { Logger } from "../logger.ts";
import type { ModelManifest } from "../models/manifest.ts";
import type { BackendPreference, OnnxBackend } from "../onnx/backend.ts";
import { createOnnxSession, type OnnxSession, type OnnxTensor } from "../onnx/session.ts";
import type { OnnxTuning } from "../onnx/tuning.ts";
import { type ClassFilter, createClassFilter } from "./class_filter.ts";
import { decodeEnd2End } from "./decode_end2end.ts";
import { decodeRawHead } from "./decode_raw_head.ts";
import type { Detection } from "../events.ts";
import type { FrameDetections } from "./detection.ts";
import {
  createLetterboxer,
  fillPad,
  type LetterboxGeometry,
  type Normalization,
} from "./letterbox.ts";

/**
 * A frame for {@link Detector.detect}: a full-size {@link RawFrame} (the letterbox resizes it
 * exactly as OpenCV would; never hand it a frame resampled by anything else).
 */
export type DetectorFrame = RawFrame;

/** Input sizes the detector supports. */
export const DETECTOR_INPUT_SIZES = [320, 640, 1280] as const;

/** What /health and logs report about the loaded model. */
export interface DetectorModelInfo {
  readonly id: string;
  readonly path: string;
  readonly sha256: string | null;
  readonly format: string;
  readonly input_size: number;
  readonly classes: number;
  readonly dynamic_batch: boolean;
}

/** How a detector's runtime is doing, for /health (workers are 0 when it runs inline). */
export interface DetectorHealth {
  /** Whether a session can take frames now (or is being restarted). */
  readonly healthy: boolean;
  /** Worker threads configured (0: the session runs on the main thread). */
  readonly workers: number;
  /** Workers loaded and accepting frames. */
  readonly workers_ready: number;
  /** Workers restarted after a crash since start. */
  readonly restarts: number;
  /** The last crash or load failure, if any. */
  readonly last_error: string | null;
}

/** A loaded object detector. */
export interface Detector {
  /** The backend actually running the model. */
  readonly backend: OnnxBackend;
  /** The loaded model. */
  readonly model: DetectorModelInfo;
  /** Class names, label order. */
  readonly classes: readonly string[];
  /**
   * Detects objects in each frame; frames go through the model in batches of up to `maxBatch`
   * when the model has a dynamic batch axis. Result `i` belongs to `frames[i]`.
   */
  detect(frames: readonly DetectorFrame[]): Promise<FrameDetections[]>;
  /** Runs one blank frame so the first real frame does not pay for kernel set-up. */
  warmup(): Promise<void>;
  /** Releases the session. */
  close(): Promise<void>;
  /** The runtime's state for /health; absent means always healthy, inline. */
  health?(): DetectorHealth;
}

/** Options of {@link createDetector}. */
export interface DetectorOptions {
  /** Folder holding the model files (FESS_MODELS_DIR). */
  readonly modelsDir: string;
  /** The model's manifest (see `models/registry.ts` `getModelManifest`). */
  readonly manifest: ModelManifest;
  /** Backend preference (default `auto`). */
  readonly backend?: BackendPreference;
  /** Square input size, one of the manifest's `input.sizes` (default: its native size). */
  readonly inputSize?: number;
  /** Minimum score (default: the manifest's `default_score_threshold`). */
  readonly scoreThreshold?: number;
  /** Per-class minimum scores by class name. */
  readonly classThresholds?: Readonly<Record<string, number>>;
  /** Only report these class names (empty: all). */
  readonly classAllowList?: readonly string[];
  /** Most frames per session run (default 4). */
  readonly maxBatch?: number;
  /** Warm up before returning (default true). */
  readonly warmup?: boolean;
  /** Check the model file's sha256 against the manifest (default true). */
  readonly verifySha256?: boolean;
  /** How the session uses the CPU (threads, spinning); runtime defaults when absent. */
  readonly tuning?: Partial<OnnxTuning>;
  readonly logger: Logger;
}

/** Loads the model and returns a ready {@link Detector}. */
export async function createDetector(options: DetectorOptions): Promise<Detector> {
  const { manifest, logger } = options;
  if (manifest.task !== "object_detection") {
    throw new Error(`model ${manifest.id} is a ${manifest.task} model, not an object detector`);
  }
  const output = manifest.output;
  if (output.format !== "mmdeploy_end2end" && output.format !== "rtmdet_raw_head") {
    throw new Error(
      `model ${manifest.id} has output format ${output.format}, which the detector cannot decode`,
    );
  }
  const size = options.inputSize ?? manifest.input.size;
  if (!manifest.input.sizes.includes(size)) {
    throw new Error(
      `model ${manifest.id} runs at input sizes ${manifest.input.sizes.join(", ")}, not ${size}`,
    );
  }
  if (manifest.preprocess.resize !== "letterbox") {
    throw new Error(
      `model ${manifest.id} needs ${manifest.preprocess.resize} preprocessing; the detector letterboxes`,
    );
  }
  const filter: ClassFilter = createClassFilter({
    classes: manifest.classes,
    scoreThreshold: options.scoreThreshold ?? manifest.default_score_threshold,
    classThresholds: options.classThresholds,
    classAllowList: options.classAllowList,
  });
  const maxBatch = manifest.input.dynamic_batch ? Math.max(1, options.maxBatch ?? 4) : 1;
  const modelPath = join(options.modelsDir, manifest.file);
  const session = await createOnnxSession({
    modelPath,
    sha256: options.verifySha256 === false ? undefined : manifest.sha256 ?? undefined,
    backend: options.backend ?? "auto",
    logger,
    tuning: options.tuning,
  });
  try {
    checkNames(session, manifest, modelPath);
  } catch (err) {
    await session.close();
    throw err;
  }
  const norm: Normalization = {
    channelOrder: manifest.preprocess.channel_order,
    mean: manifest.preprocess.mean,
    std: manifest.preprocess.std,
    padValue: manifest.preprocess.pad_value,
  };
  const letterboxer = createLetterboxer(norm);
  const perImage = 3 * size * size;
  let buffer = new Float32Array(perImage);
  const model: DetectorModelInfo = {
    id: manifest.id,
    path: modelPath,
    sha256: manifest.sha256,
    format: output.format,
    input_size: size,
    classes: manifest.classes.length,
    dynamic_batch: manifest.input.dynamic_batch,
  };

  const decode = (
    out: Record<string, OnnxTensor>,
    b: number,
    g: LetterboxGeometry,
  ): Detection[] => {
    if (output.format === "mmdeploy_end2end") {
      return decodeEnd2End(out[output.dets]!, out[output.labels]!, b, g, filter);
    }
    const levels = output.strides.map((stride, i) => ({
      stride,
      scores: out[output.scores[i]!]!,
      boxes: out[output.boxes[i]!]!,
    }));
    return decodeRawHead(levels, b, g, filter, {
      scoreActivation: output.score_activation,
      distanceUnit: output.distance_unit,
      iouThreshold: output.nms_iou,
      maxDetections: output.max_detections,
    });
  };

  const runChunk = async (frames: readonly DetectorFrame[]): Promise<FrameDetections[]> => {
    const n = frames.length;
    if (buffer.length < n * perImage) buffer = new Float32Array(n * perImage);
    const t0 = performance.now();
    const geometries = frames.map((f, i) =>
      letterboxer.letterboxInto(f, size, size, buffer, i * perImage)
    );
    const t1 = performance.now();
    const data = buffer.length === n * perImage ? buffer : buffer.subarray(0, n * perImage);
    const out = await session.run({ [manifest.input.name]: { data, dims: [n, 3, size, size] } });
    const t2 = performance.now();
    const detections = geometries.map((g, b) => decode(out, b, g));
    const t3 = performance.now();
    const timing = { preprocess_ms: t1 - t0, inference_ms: t2 - t1, postprocess_ms: t3 - t2 };
    return detections.map((d) => ({ detections: d, timing, batch_size: n }));
  };

  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn);
    queue = next.catch(() => {});
    return next;
  };

  const detector: Detector = {
    backend: session.backend,
    model,
    classes: manifest.classes,
    detect(frames) {
      return serial(async () => {
        const results: FrameDetections[] = [];
        for (let i = 0; i < frames.length; i += maxBatch) {
          results.push(...await runChunk(frames.slice(i, i + maxBatch)));
        }
        return results;
      });
    },
    warmup() {
      return serial(async () => {
        const started = performance.now();
        fillPad(buffer, size, size, norm);
        await session.run({
          [manifest.input.name]: { data: buffer.subarray(0, perImage), dims: [1, 3, size, size] },
        });
        logger.debug("detector warmed up", {
          backend: session.backend,
          model: manifest.id,
          ms: Math.round(performance.now() - started),
        });
      });
    },
    close() {
      return serial(() => session.close());
    },
  };
  logger.info("detector ready", {
    backend: session.backend,
    model: manifest.id,
    input_size: size,
    max_batch: maxBatch,
  });
  if (options.warmup ?? true) {
    try {
      await detector.warmup();
    } catch (err) {
      await session.close();
      throw err;
    }
  }
  return detector;
}

function checkNames(session: OnnxSession, manifest: ModelManifest, modelPath: string): void {
  const missingIn = [manifest.input.name].filter((n) => !session.inputNames.includes(n));
  const o = manifest.output;
  const wanted = o.format === "mmdeploy_end2end"
    ? [o.dets, o.labels]
    : o.format === "rtmdet_raw_head"
    ? [...o.scores, ...o.boxes]
    : [];
  const missingOut = wanted.filter((n) => !session.outputNames.includes(n));
  if (missingIn.length || missingOut.length) {
    throw new Error(
      `model ${modelPath} does not match manifest ${manifest.id}: missing inputs [${missingIn}] outputs [${missingOut}]; ` +
        `it has inputs [${session.inputNames}] outputs [${session.outputNames}]`,
    );
  }
}
