/**
 * A {@link Detector} whose sessions run in Workers (`detector_worker.ts`), one session per
 * Worker, with a dispatcher handing each `detect` call to an idle Worker. onnxruntime-node runs
 * `session.run` synchronously on the calling thread; here the main thread only copies the
 * frame across, so HTTP, decoding and the face stages overlap inference. The Worker runs the
 * same letterbox, session and decoding code as the inline detector: results are identical.
 *
 * Invariants:
 * - each Worker has at most one `detect` in flight; calls wait in one FIFO queue;
 * - frames are copied (the caller keeps its frame for faces and snapshots) into a buffer each
 *   Worker shares with the main thread and reuses from call to call, so a frame crosses with
 *   one copy and leaves no garbage on either side;
 * - a Worker that crashes rejects its call with a 503 naming the cause, is replaced at once,
 *   and, while its replacement cannot load, retried every `restartDelayMs`; calls queued
 *   while no Worker can load are rejected with a 503 naming why;
 * - `close` answers queued calls with a 503, closes each session, terminates every Worker and
 *   clears every timer.
 *
 * @module
 */
import { errorMessage, ServiceUnavailableError } from "../errors.ts";
import type { RawFrame } from "../image/raw_frame.ts";
import type { Logger } from "../logger.ts";
import type { FrameDetections } from "./detection.ts";
import type { Detector, DetectorHealth, DetectorOptions } from "./detector.ts";
import type {
  DetectorWorkerInfo,
  DetectorWorkerReply,
  DetectorWorkerRequest,
} from "./detector_worker_host.ts";

/** Options of {@link createWorkerDetector}. */
export interface WorkerDetectorOptions extends DetectorOptions {
  /** Workers, each with its own session (at least 1). */
  readonly workers: number;
  /** Delay before retrying a Worker that failed to load after a crash (default 1000 ms). */
  readonly restartDelayMs?: number;
  /** Worker entry module; a test seam (default `detector_worker.ts`). */
  readonly workerUrl?: URL;
}

type Reply<T extends DetectorWorkerReply["type"]> = Extract<DetectorWorkerReply, { type: T }>;
type Request = DetectorWorkerRequest extends infer R
  ? R extends { id: number } ? Omit<R, "id"> : never
  : never;

interface Job {
  readonly frames: readonly RawFrame[];
  readonly resolve: (r: FrameDetections[]) => void;
  readonly reject: (err: unknown) => void;
}

interface Pending {
  readonly resolve: (reply: DetectorWorkerReply) => void;
  readonly reject: (err: unknown) => void;
}

type SlotState = "starting" | "ready" | "busy" | "failed" | "closed";

interface Slot {
  readonly index: number;
  worker: Worker | null;
  state: SlotState;
  readonly pending: Map<number, Pending>;
  retry: ReturnType<typeof setTimeout> | undefined;
  /** Frames of the call in flight; grown when a call needs more. */
  shared: SharedArrayBuffer;
}

/**
 * The web Worker constructor, taken when this module loads: onnxruntime-web's Emscripten
 * start-up replaces `globalThis.Worker` with Node's `worker_threads` Worker once a wasm session
 * exists in the process, and that one cannot run a module Worker (`self` is undefined there).
 */
const WebWorker: typeof Worker = globalThis.Worker;

/** Growth step of a Worker's frame buffer. */
const SHARED_STEP = 1 << 20;

/** Starts `options.workers` Workers, each loading the model; resolves when all are ready. */
export async function createWorkerDetector(options: WorkerDetectorOptions): Promise<Detector> {
  const { logger, workers: count } = options;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`a worker detector needs at least one worker, not ${count}`);
  }
  const url = options.workerUrl ?? new URL("./detector_worker.ts", import.meta.url);
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const { logger: _, workerUrl: _u, workers: _w, restartDelayMs: _r, ...workerOptions } = options;
  const log: Logger = logger.child({ component: "detector_workers" });
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    worker: null,
    state: "starting",
    pending: new Map(),
    retry: undefined,
    shared: new SharedArrayBuffer(0),
  }));
  const queue: Job[] = [];
  let nextId = 1;
  let restarts = 0;
  let lastError: string | null = null;
  let closed = false;
  let info: DetectorWorkerInfo | null = null;

  const call = <T extends DetectorWorkerReply["type"]>(
    slot: Slot,
    req: Request,
    expect: T,
  ): Promise<Reply<T>> => {
    const worker = slot.worker;
    if (!worker) return Promise.reject(new ServiceUnavailableError("detector worker is gone"));
    const id = nextId++;
    return new Promise<DetectorWorkerReply>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id } as DetectorWorkerRequest);
    }).then((reply) => {
      if (reply.type === "failed") throw new Error(reply.message);
      if (reply.type !== expect) throw new Error(`detector worker answered ${reply.type}`);
      return reply as Reply<T>;
    });
  };

  const onReply = (slot: Slot, reply: DetectorWorkerReply) => {
    if (reply.type === "log") {
      log[reply.level](reply.msg, { worker: slot.index, ...reply.fields });
      return;
    }
    const p = slot.pending.get(reply.id);
    slot.pending.delete(reply.id);
    p?.resolve(reply);
  };

  const rejectQueued = (reason: string) => {
    for (const job of queue.splice(0)) job.reject(new ServiceUnavailableError(reason));
  };

  const crash = (slot: Slot, cause: string) => {
    if (slot.state === "closed") return;
    slot.worker?.terminate();
    slot.worker = null;
    lastError = `detector worker ${slot.index} crashed: ${cause}`;
    log.error("detector worker crashed; restarting it", { worker: slot.index, cause });
    const err = new ServiceUnavailableError(`${lastError}; it is being restarted`);
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
    restarts++;
    // A Worker that dies while loading would die again at once: wait before the next try.
    if (slot.state === "starting") slot.retry = setTimeout(() => void start(slot), restartDelayMs);
    else void start(slot);
  };

  /** Starts (or restarts) the slot's Worker; resolves to why it could not load, or null. */
  const start = async (slot: Slot): Promise<string | null> => {
    slot.retry = undefined;
    if (closed) return "detector is closed";
    slot.state = "starting";
    const worker = new WebWorker(url, { type: "module", name: `fess-detector-${slot.index}` });
    slot.worker = worker;
    worker.onmessage = (e: MessageEvent<DetectorWorkerReply>) => onReply(slot, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      if (slot.worker === worker) crash(slot, e.message || "uncaught error");
    };
    worker.onmessageerror = () => {
      if (slot.worker === worker) crash(slot, "a message could not be read");
    };
    try {
      const ready = await call(slot, { type: "init", options: workerOptions }, "ready");
      if (slot.worker !== worker) return null;
      info ??= ready.info;
      slot.state = "ready";
      dispatch();
      return null;
    } catch (err) {
      if (slot.worker !== worker) return errorMessage(err);
      worker.terminate();
      slot.worker = null;
      slot.state = "failed";
      lastError = `detector worker ${slot.index} cannot load: ${errorMessage(err)}`;
      if (info !== null && !closed) {
        log.error("detector worker failed to load; retrying", {
          worker: slot.index,
          reason: errorMessage(err),
          retry_ms: restartDelayMs,
        });
        slot.retry = setTimeout(() => void start(slot), restartDelayMs);
      }
      if (slots.every((s) => s.state === "failed")) rejectQueued(lastError);
      return errorMessage(err);
    }
  };

  const run = (slot: Slot, job: Job) => {
    slot.state = "busy";
    const bytes = (f: RawFrame) => f.width * f.height * f.channels;
    const total = job.frames.reduce((n, f) => n + bytes(f), 0);
    if (slot.shared.byteLength < total) {
      slot.shared = new SharedArrayBuffer(Math.ceil(total / SHARED_STEP) * SHARED_STEP);
    }
    const view = new Uint8Array(slot.shared);
    let offset = 0;
    const frames = job.frames.map((f) => {
      view.set(f.data.subarray(0, bytes(f)), offset);
      const ref = {
        offset,
        width: f.width,
        height: f.height,
        channels: f.channels,
        layout: f.layout,
      };
      offset += bytes(f);
      return ref;
    });
    call(slot, { type: "detect", buffer: slot.shared, frames }, "detections").then(
      (reply) => job.resolve(reply.results),
      job.reject,
    ).finally(() => {
      if (slot.state === "busy") slot.state = "ready";
      dispatch();
    });
  };

  const dispatch = () => {
    while (queue.length > 0) {
      const slot = slots.find((s) => s.state === "ready");
      if (!slot) {
        if (lastError !== null && slots.every((s) => s.state === "failed")) {
          rejectQueued(lastError);
        }
        return;
      }
      run(slot, queue.shift()!);
    }
  };

  const closeSlot = async (slot: Slot) => {
    clearTimeout(slot.retry);
    const worker = slot.worker;
    const wasUp = slot.state === "ready" || slot.state === "busy";
    slot.state = "closed";
    if (!worker) return;
    try {
      if (wasUp) await call(slot, { type: "close" }, "closed");
    } catch (err) {
      log.warn("detector worker did not close cleanly", {
        worker: slot.index,
        reason: errorMessage(err),
      });
    } finally {
      worker.terminate();
      slot.worker = null;
      const err = new ServiceUnavailableError("detector is closed");
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    rejectQueued("detector is closed");
    await Promise.all(slots.map(closeSlot));
  };

  const failure = (await Promise.all(slots.map(start))).find((reason) => reason !== null);
  if (failure !== undefined || info === null) {
    await close();
    throw new Error(failure ?? "no detector worker");
  }
  const ready: DetectorWorkerInfo = info;
  log.info("detector workers ready", { workers: count, backend: ready.backend });

  return {
    backend: ready.backend,
    model: ready.model,
    classes: ready.classes,
    detect(frames) {
      if (closed) return Promise.reject(new ServiceUnavailableError("detector is closed"));
      if (frames.length === 0) return Promise.resolve([]);
      return new Promise<FrameDetections[]>((resolve, reject) => {
        queue.push({ frames, resolve, reject });
        dispatch();
      });
    },
    // Each Worker warmed up while loading.
    warmup: () => Promise.resolve(),
    close,
    health(): DetectorHealth {
      const up = slots.filter((s) => s.state === "ready" || s.state === "busy").length;
      const starting = slots.some((s) => s.state === "starting");
      return {
        healthy: !closed && (up > 0 || starting),
        workers: count,
        workers_ready: up,
        restarts,
        last_error: lastError,
      };
    },
  };
}
