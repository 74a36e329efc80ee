/**
 * The inside of a detector Worker: it owns one {@link createDetector} detector (session,
 * letterbox, decoding: the very code the inline detector runs, so results are bit-identical)
 * and answers the messages of {@link DetectorWorkerRequest}. onnxruntime-node runs a session
 * on the thread that calls it, so a Worker is what keeps the main thread free for HTTP and
 * decoding while the model runs.
 *
 * Invariants: one request is handled at a time (the dispatcher never sends a second before the
 * answer to the first); every request gets exactly one answer with its `id`; log records are
 * forwarded to the parent's logger, never written here.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { RawFrame } from "../image/raw_frame.ts";
import type { LogFields, Logger, LogLevel } from "../logger.ts";
import type { FrameDetections } from "./detection.ts";
import {
  createDetector,
  type Detector,
  type DetectorModelInfo,
  type DetectorOptions,
} from "./detector.ts";
import type { OnnxBackend } from "../onnx/backend.ts";

/** {@link DetectorOptions} as they cross into a Worker (the logger stays in the parent). */
export type DetectorWorkerOptions = Omit<DetectorOptions, "logger">;

/** Where a frame's pixels lie in the shared buffer of a `detect` request. */
export interface SharedFrameRef extends Omit<RawFrame, "data"> {
  /** Byte offset of the pixels; their length is `width * height * channels`. */
  readonly offset: number;
}

/** Messages the parent sends. */
export type DetectorWorkerRequest =
  | { readonly type: "init"; readonly id: number; readonly options: DetectorWorkerOptions }
  | {
    readonly type: "detect";
    readonly id: number;
    /** The parent's copy of the frames; it is not written again until this request is answered. */
    readonly buffer: SharedArrayBuffer;
    readonly frames: readonly SharedFrameRef[];
  }
  | { readonly type: "close"; readonly id: number };

/** What a ready Worker reports about its detector. */
export interface DetectorWorkerInfo {
  readonly backend: OnnxBackend;
  readonly model: DetectorModelInfo;
  readonly classes: readonly string[];
}

/** Messages the Worker sends. */
export type DetectorWorkerReply =
  | { readonly type: "ready"; readonly id: number; readonly info: DetectorWorkerInfo }
  | { readonly type: "detections"; readonly id: number; readonly results: FrameDetections[] }
  | { readonly type: "closed"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly message: string }
  | {
    readonly type: "log";
    readonly level: LogLevel;
    readonly msg: string;
    readonly fields: LogFields;
  };

/** The part of a Worker's global scope the host uses. */
export interface WorkerScope {
  onmessage: ((e: MessageEvent<DetectorWorkerRequest>) => void) | null;
  postMessage(message: DetectorWorkerReply): void;
  close(): void;
}

function forwardingLogger(scope: WorkerScope, bound: LogFields): Logger {
  const write = (level: LogLevel) => (msg: string, fields?: LogFields) =>
    scope.postMessage({ type: "log", level, msg, fields: { ...bound, ...fields } });
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (fields) => forwardingLogger(scope, { ...bound, ...fields }),
  };
}

async function answer(
  scope: WorkerScope,
  state: { detector: Detector | null },
  req: DetectorWorkerRequest,
): Promise<DetectorWorkerReply> {
  switch (req.type) {
    case "init": {
      const logger = forwardingLogger(scope, { component: "detector_worker" });
      const detector = await createDetector({ ...req.options, logger });
      state.detector = detector;
      const info = { backend: detector.backend, model: detector.model, classes: detector.classes };
      return { type: "ready", id: req.id, info };
    }
    case "detect": {
      if (!state.detector) throw new Error("detector worker is not initialised");
      const frames: RawFrame[] = req.frames.map(({ offset, ...f }) => ({
        ...f,
        data: new Uint8Array(req.buffer, offset, f.width * f.height * f.channels),
      }));
      return { type: "detections", id: req.id, results: await state.detector.detect(frames) };
    }
    case "close": {
      await state.detector?.close();
      state.detector = null;
      return { type: "closed", id: req.id };
    }
  }
}

/** Serves detector requests on `scope` (a Worker's `self`). */
export function serveDetectorWorker(scope: WorkerScope): void {
  const state: { detector: Detector | null } = { detector: null };
  scope.onmessage = (e) => {
    const req = e.data;
    answer(scope, state, req).then(
      (reply) => scope.postMessage(reply),
      (err) => scope.postMessage({ type: "failed", id: req.id, message: errorMessage(err) }),
    );
  };
}
