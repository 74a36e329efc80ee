/**
 * Which ONNX runtime runs a model. `wasm` and `webgpu` go through onnxruntime-web (the product's
 * default family), `native` through onnxruntime-node. `auto` prefers a real (non-fallback) WebGPU
 * adapter, then the native addon when it loads, then wasm — a software WebGPU adapter (llvmpipe)
 * is far slower than native CPU, so `auto` never picks one.
 *
 * @module
 */
import { z } from "zod";
import type { Logger } from "../logger.ts";

/** A concrete ONNX backend. */
export const OnnxBackendSchema = z.enum(["native", "wasm", "webgpu"]);
/** A concrete ONNX backend. */
export type OnnxBackend = z.infer<typeof OnnxBackendSchema>;

/** A backend preference: a concrete backend or `auto`. */
export const BackendPreferenceSchema = z.enum(["auto", "native", "wasm", "webgpu"]);
/** A backend preference: a concrete backend or `auto`. */
export type BackendPreference = z.infer<typeof BackendPreferenceSchema>;

/** What the WebGPU probe found. */
export interface WebGpuProbe {
  /** Whether `navigator.gpu` gave an adapter at all. */
  readonly available: boolean;
  /** Whether that adapter is a software/fallback one (e.g. llvmpipe). */
  readonly fallback: boolean;
  /** Adapter description for logs and /health, when known. */
  readonly description?: string;
}

interface AdapterLike {
  readonly isFallbackAdapter?: boolean;
  readonly info?: { readonly isFallbackAdapter?: boolean; readonly description?: string };
}

/**
 * Whether the machine exposes a GPU device node. On Linux a hardware WebGPU adapter (Vulkan)
 * needs a DRM render node (`/dev/dri/renderD*`) or the NVIDIA driver's `/dev/nvidiactl`;
 * without either, `requestAdapter` can only find a software one, which `auto` never picks, and
 * asking for it would load the whole WebGPU/Vulkan stack (tens of MB resident) for nothing.
 * Elsewhere the answer is unknown, so it is taken as yes.
 */
export function gpuDevicePresent(): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync("/dev/nvidiactl");
    return true;
  } catch {
    // No NVIDIA driver; look for a DRM render node.
  }
  try {
    for (const entry of Deno.readDirSync("/dev/dri")) {
      if (entry.name.startsWith("renderD")) return true;
    }
  } catch {
    // No /dev/dri at all.
  }
  return false;
}

/**
 * Asks `navigator.gpu` for an adapter. Deno 2.9 reports the fallback flag on `adapter.info`
 * (the top-level `adapter.isFallbackAdapter` is undefined there), so both are checked.
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  if (!gpuDevicePresent()) return { available: false, fallback: false };
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)
    ?.gpu;
  if (!gpu) return { available: false, fallback: false };
  let adapter: AdapterLike | null;
  try {
    adapter = (await gpu.requestAdapter()) as AdapterLike | null;
  } catch {
    return { available: false, fallback: false };
  }
  if (!adapter) return { available: false, fallback: false };
  const fallback = adapter.info?.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
  return { available: true, fallback, description: adapter.info?.description };
}

/** Whether the onnxruntime-node native addon loads in this process. */
export async function nativeLoadable(): Promise<boolean> {
  try {
    await import("onnxruntime-node");
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link resolveBackend}. */
export interface ResolveBackendOptions {
  /** The requested backend. */
  readonly preference: BackendPreference;
  /** Where the decision is logged. */
  readonly logger: Logger;
  /** Probes, replaceable in tests. */
  readonly probes?: {
    readonly webgpu?: () => Promise<WebGpuProbe>;
    readonly native?: () => Promise<boolean>;
  };
}

/** Turns a preference into a concrete backend, logging why. */
export async function resolveBackend(options: ResolveBackendOptions): Promise<OnnxBackend> {
  const { preference, logger } = options;
  if (preference !== "auto") return preference;
  const gpu = await (options.probes?.webgpu ?? probeWebGpu)();
  if (gpu.available && !gpu.fallback) {
    logger.info("onnx backend chosen", {
      backend: "webgpu",
      reason: "webgpu adapter",
      adapter: gpu.description,
    });
    return "webgpu";
  }
  if (await (options.probes?.native ?? nativeLoadable)()) {
    logger.info("onnx backend chosen", {
      backend: "native",
      reason: gpu.available ? "only a fallback webgpu adapter" : "no webgpu adapter",
      adapter: gpu.description,
    });
    return "native";
  }
  logger.info("onnx backend chosen", {
    backend: "wasm",
    reason: "no usable webgpu, native addon not loadable",
  });
  return "wasm";
}
