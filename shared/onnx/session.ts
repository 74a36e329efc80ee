/**
 * One small interface over onnxruntime-web (wasm, webgpu) and onnxruntime-node, so callers never
 * import either runtime nor touch their two incompatible `Tensor` classes: feeds are plain
 * `{data, dims}` records and so are results. Runtimes are imported lazily, on first session, so
 * loading this module does no work and a process that never uses the native addon never loads it.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type BackendPreference, type OnnxBackend, resolveBackend } from "./backend.ts";
import { ModelLoadError, readModelFile } from "./model_file.ts";
import { DEFAULT_ONNX_TUNING, type OnnxTuning } from "./tuning.ts";

/** Element arrays a result tensor can carry (int64 comes back as `BigInt64Array`). */
export type OnnxTensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/** A result tensor, copied out of the runtime into plain arrays. */
export interface OnnxTensor {
  /** ONNX element type name, e.g. `float32`, `int64`. */
  readonly type: string;
  /** Elements, row-major. */
  readonly data: OnnxTensorData;
  /** Shape. */
  readonly dims: readonly number[];
}

/** A float32 input tensor. */
export interface OnnxInput {
  /** Elements, row-major; length must equal the product of `dims`. */
  readonly data: Float32Array;
  /** Shape. */
  readonly dims: readonly number[];
}

/** A loaded model on one backend. Runs are serialised: the web runtime refuses concurrent runs. */
export interface OnnxSession {
  /** The backend actually used (never `auto`). */
  readonly backend: OnnxBackend;
  /** Model input names, in graph order. */
  readonly inputNames: readonly string[];
  /** Model output names, in graph order. */
  readonly outputNames: readonly string[];
  /** Runs the model on `feeds`, returning every output by name. */
  run(feeds: Record<string, OnnxInput>): Promise<Record<string, OnnxTensor>>;
  /** Releases the runtime session. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link createOnnxSession}. */
export interface CreateOnnxSessionOptions {
  /** Model file path (also named in every error). */
  readonly modelPath: string;
  /** Model bytes already read (skips reading `modelPath`). */
  readonly modelBytes?: Uint8Array;
  /** Expected sha256 of the file, checked when the file is read here. */
  readonly sha256?: string;
  /** Requested backend; `auto` picks per {@link resolveBackend}. */
  readonly backend: BackendPreference;
  /** Logger for the backend choice and load time. */
  readonly logger: Logger;
  /** CPU threading and graph settings (defaults: {@link DEFAULT_ONNX_TUNING}). */
  readonly tuning?: Partial<OnnxTuning>;
}

interface RuntimeTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, RuntimeTensor>>;
  release(): Promise<void>;
  endProfiling?(): unknown;
}

/** The part of both runtimes' module surface this file uses. */
interface RuntimeModule {
  readonly InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<RuntimeSession>;
  };
  readonly Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;
  readonly env: {
    logLevel?: string;
    wasm: { numThreads?: number };
  };
}

async function loadRuntime(backend: OnnxBackend, tuning: OnnxTuning): Promise<RuntimeModule> {
  if (backend === "native") {
    return (await import("onnxruntime-node")) as unknown as RuntimeModule;
  }
  // The webgpu bundle carries both the wasm and webgpu EPs; the package's default entry has no
  // webgpu EP but starts wasm worker threads from file URLs, which Deno allows. Both find their
  // .wasm next to themselves in node_modules. `env` is per module: set it on every load.
  const threaded = backend === "wasm" && tuning.wasmThreads > 1;
  const web =
    (threaded
      ? await import("onnxruntime-web")
      : await import("onnxruntime-web/webgpu")) as unknown as RuntimeModule;
  web.env.wasm.numThreads = threaded ? tuning.wasmThreads : 1;
  web.env.logLevel = "error";
  return web;
}

function sessionOptions(backend: OnnxBackend, tuning: OnnxTuning): Record<string, unknown> {
  const base: Record<string, unknown> = {
    graphOptimizationLevel: tuning.graphOptimization,
    logSeverityLevel: 3,
  };
  if (backend !== "native") return { ...base, executionProviders: [backend] };
  const spin = tuning.allowSpinning ? "1" : "0";
  return {
    ...base,
    executionProviders: ["cpu"],
    executionMode: tuning.executionMode,
    ...(tuning.intraOpThreads > 0 ? { intraOpNumThreads: tuning.intraOpThreads } : {}),
    ...(tuning.interOpThreads > 0 ? { interOpNumThreads: tuning.interOpThreads } : {}),
    ...(tuning.profilePrefix
      ? { enableProfiling: true, profileFilePrefix: tuning.profilePrefix }
      : {}),
    // Session config entries (onnxruntime_session_options_config_keys.h); values are strings.
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

/** Loads a model on the requested backend. Throws {@link ModelLoadError} naming the path. */
export async function createOnnxSession(options: CreateOnnxSessionOptions): Promise<OnnxSession> {
  const { modelPath, logger } = options;
  const backend = await resolveBackend({ preference: options.backend, logger });
  const bytes = options.modelBytes ??
    await readModelFile({ path: modelPath, sha256: options.sha256 });
  const started = performance.now();
  const tuning: OnnxTuning = { ...DEFAULT_ONNX_TUNING, ...options.tuning };
  const runtime = await loadRuntime(backend, tuning);
  let session: RuntimeSession;
  try {
    session = await runtime.InferenceSession.create(bytes, sessionOptions(backend, tuning));
  } catch (err) {
    throw new ModelLoadError(
      modelPath,
      `model does not load on ${backend} (${errorMessage(err, 300)})`,
      { expectedSha256: options.sha256, cause: err },
    );
  }
  logger.debug("onnx session created", {
    backend,
    model: modelPath,
    inputs: session.inputNames,
    outputs: session.outputNames,
    tuning,
    ms: Math.round(performance.now() - started),
  });

  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  const runOnce = async (feeds: Record<string, OnnxInput>) => {
    if (closed) throw new Error(`onnx session for ${modelPath} is closed`);
    const tensors: Record<string, unknown> = {};
    for (const [name, input] of Object.entries(feeds)) {
      tensors[name] = new runtime.Tensor("float32", input.data, input.dims);
    }
    const out = await session.run(tensors);
    const result: Record<string, OnnxTensor> = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type, data: t.data as OnnxTensorData, dims: [...t.dims] };
    }
    return result;
  };

  return {
    backend,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    run(feeds) {
      const next = queue.then(() => runOnce(feeds));
      queue = next.catch(() => {});
      return next;
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      if (tuning.profilePrefix) await session.endProfiling?.();
      await session.release();
    },
  };
}
