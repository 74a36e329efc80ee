/**
 * How ONNX sessions use the CPU: thread pools, spinning, execution mode, graph optimisation,
 * wasm threads. Built once from the `detector` settings and given to every session (detector
 * and face models alike), so one place decides how inference shares the machine's cores.
 *
 * @module
 */
import type { Config } from "../config.ts";

/**
 * How a session uses the CPU. Threads and spinning matter most on small machines: the native
 * runtime's intra-op pool spins while waiting for work, which burns a core between frames.
 */
export interface OnnxTuning {
  /** Native intra-op threads; 0 lets the runtime pick (one per physical core). */
  readonly intraOpThreads: number;
  /** Native inter-op threads (only used by `parallel` execution); 0: runtime's choice. */
  readonly interOpThreads: number;
  /** Run independent graph nodes one after another or in parallel (native). */
  readonly executionMode: "sequential" | "parallel";
  /** Whether idle intra-op/inter-op threads spin waiting for work (native). */
  readonly allowSpinning: boolean;
  /** Graph optimisation level, all backends. */
  readonly graphOptimization: "disabled" | "basic" | "extended" | "all";
  /**
   * Threads of the wasm backend. More than 1 loads the package's default entry, whose
   * workers start from file URLs; the webgpu bundle's blob-URL workers cannot start in Deno.
   */
  readonly wasmThreads: number;
  /** Write an onnxruntime JSON profile with this file prefix (native only; for benchmarks). */
  readonly profilePrefix?: string;
}

/**
 * Settings used where a caller gives none, and the `detector` settings' defaults. One intra-op
 * thread without spinning: onnxruntime-node runs a session on the JS thread that called it, so
 * a second pool thread mostly spins while HTTP, decoding and letterboxing wait for that thread;
 * one thread gives the lowest CPU per frame (see docs/PERFORMANCE.md).
 */
export const DEFAULT_ONNX_TUNING: OnnxTuning = {
  intraOpThreads: 1,
  interOpThreads: 0,
  executionMode: "sequential",
  allowSpinning: false,
  graphOptimization: "all",
  wasmThreads: 1,
};

/** The tuning the `detector` settings ask for. */
export function tuningFromSettings(d: Config["detector"]): OnnxTuning {
  return {
    intraOpThreads: d.intra_op_threads,
    interOpThreads: d.inter_op_threads,
    executionMode: d.execution_mode,
    allowSpinning: d.allow_spinning,
    graphOptimization: d.graph_optimization,
    wasmThreads: d.wasm_threads,
  };
}
