/**
 * One small interface over onnxruntime-web (wasm, webgpu) and onnxruntime-node, so callers never
 * import either runtime nor touch their two incompatible `Tensor` classes: feeds are plain
 * `{data, dims}` records and so are results. Runtimes are imported lazily, on first session, so
 * loading this module does no work and a process that never uses the native addon never loads it.
 *
 * @module
 */
import type { Logger } from "../logger.ts";
import { type BackendPreference, type OnnxBackend, resolveBackend } from "./backend.ts";
import { ModelLoadError, readModelFile } from "./model_file.ts";

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
  /** Intra-op threads for `native` (default: runtime's choice). */
  readonly threads?: number;
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

async function loadRuntime(backend: OnnxBackend): Promise<RuntimeModule> {
  if (backend === "native") {
    return (await import("onnxruntime-node")) as unknown as RuntimeModule;
  }
  // The webgpu bundle carries both the wasm and webgpu EPs; the package's default "node" entry
  // has no webgpu EP at all. It finds its .wasm next to itself in node_modules.
  const web = (await import("onnxruntime-web/webgpu")) as unknown as RuntimeModule;
  // Threaded wasm needs workers that the Deno build cannot spawn from a bundle; one thread works.
  web.env.wasm.numThreads = 1;
  web.env.logLevel = "error";
  return web;
}

function sessionOptions(
  backend: OnnxBackend,
  threads: number | undefined,
): Record<string, unknown> {
  const base: Record<string, unknown> = { graphOptimizationLevel: "all", logSeverityLevel: 3 };
  if (backend === "native") {
    return threads ? { ...base, executionProviders: ["cpu"], intraOpNumThreads: threads } : {
      ...base,
      executionProviders: ["cpu"],
    };
  }
  return { ...base, executionProviders: [backend] };
}

/** Loads a model on the requested backend. Throws {@link ModelLoadError} naming the path. */
export async function createOnnxSession(options: CreateOnnxSessionOptions): Promise<OnnxSession> {
  const { modelPath, logger } = options;
  const backend = await resolveBackend({ preference: options.backend, logger });
  const bytes = options.modelBytes ??
    await readModelFile({ path: modelPath, sha256: options.sha256 });
  const started = performance.now();
  const runtime = await loadRuntime(backend);
  let session: RuntimeSession;
  try {
    session = await runtime.InferenceSession.create(
      bytes,
      sessionOptions(backend, options.threads),
    );
  } catch (err) {
    throw new ModelLoadError(
      modelPath,
      `model does not load on ${backend} (${errorText(err)})`,
      { expectedSha256: options.sha256, cause: err },
    );
  }
  logger.debug("onnx session created", {
    backend,
    model: modelPath,
    inputs: session.inputNames,
    outputs: session.outputNames,
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
      await session.release();
    },
  };
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 300 ? msg.slice(0, 300) + "…" : msg;
}
