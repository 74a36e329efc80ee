/**
 * Entry module of a detector Worker (started by `worker_detector.ts`). Starting to serve on
 * import is this module's only job: it is never imported by anything but `new Worker`.
 *
 * @module
 */
import { serveDetectorWorker, type WorkerScope } from "./detector_worker_host.ts";

serveDetectorWorker(self as unknown as WorkerScope);
