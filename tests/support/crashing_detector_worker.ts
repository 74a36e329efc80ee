/**
 * A detector Worker entry for tests: the real worker host, except that a `detect` request
 * whose first frame is 13 pixels wide makes the Worker throw an uncaught error (what a crash
 * in native code or a bug in the Worker looks like to the parent).
 *
 * @module
 */
import {
  type DetectorWorkerRequest,
  serveDetectorWorker,
  type WorkerScope,
} from "../../shared/detector/detector_worker_host.ts";

const scope = self as unknown as WorkerScope;
serveDetectorWorker(scope);
const serve = scope.onmessage!;
scope.onmessage = (e: MessageEvent<DetectorWorkerRequest>) => {
  const req = e.data;
  if (req.type === "detect" && req.frames[0]?.width === 13) {
    setTimeout(() => {
      throw new Error("simulated worker crash");
    }, 0);
    return;
  }
  serve(e);
};
