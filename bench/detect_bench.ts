/**
 * Detection latency per backend, input size and upload format: raw `session.run`, decode,
 * preprocess (the OpenCV-exact resize + letterbox), postprocess and the whole `POST /detect`
 * round trip (a real 768x576 vtest frame as JPEG, raw bgr24 and raw yuv420p through Deno.serve
 * on loopback, router included), p50/p95, plus round trip / raw run.
 *
 *   deno run -A bench/detect_bench.ts [--quick]
 *
 * @module
 */
import { createDetectHandler } from "../functions/detect.ts";
import { createApi } from "../functions/api.ts";
import { getModelManifest } from "../models/registry.ts";
import { createAuthenticator } from "../shared/auth.ts";
import { loadConfig } from "../shared/config.ts";
import { createDetector } from "../shared/detector/detector.ts";
import { letterboxInto } from "../shared/detector/letterbox.ts";
import { createWorkerDetector } from "../shared/detector/worker_detector.ts";
import { createEventLogSink } from "../shared/events/event_log_sink.ts";
import { createPublisher } from "../shared/events/publisher.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { decodeImage } from "../shared/image/decode.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createPipeline } from "../shared/pipeline/pipeline.ts";
import type { OnnxBackend } from "../shared/onnx/backend.ts";
import { createOnnxSession } from "../shared/onnx/session.ts";
import {
  modelsDir,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
  vtestFramesJpeg,
  vtestFramesYuv420,
} from "../tests/support/media.ts";

const quick = Deno.args.includes("--quick");
// `workers`: the detector runs in that many Worker threads (detector.workers); the row shows
// what the hop to a Worker adds to a lone frame's round trip.
const PLAN: { backend: OnnxBackend; size: number; iterations: number; workers?: number }[] = [
  { backend: "native", size: 320, iterations: quick ? 30 : 200 },
  { backend: "native", size: 320, iterations: quick ? 30 : 200, workers: 1 },
  { backend: "native", size: 640, iterations: quick ? 15 : 60 },
  { backend: "wasm", size: 320, iterations: quick ? 10 : 30 },
  { backend: "wasm", size: 640, iterations: quick ? 5 : 10 },
  { backend: "webgpu", size: 320, iterations: quick ? 3 : 5 },
];

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const f = (v: number) => v.toFixed(2).padStart(8);
const manifest = getModelManifest("rtmdet-nano-person");
const [jpeg] = await vtestFramesJpeg([200]);
const [bgr] = await vtestFramesBgr([200]);
const [yuv] = await vtestFramesYuv420([200], "yuv420p");
const frame = await decodeImage(jpeg!);
const INPUTS = [
  { name: "jpeg", body: jpeg!, headers: { "content-type": "image/jpeg" } },
  { name: "bgr24", body: bgr!, headers: raw("bgr24") },
  { name: "yuv420p", body: yuv!, headers: raw("yuv420p") },
];
function raw(format: string): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    "x-frame-width": String(VTEST_WIDTH),
    "x-frame-height": String(VTEST_HEIGHT),
    "x-pixel-format": format,
  };
}
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));

write(
  `model ${manifest.id}, frame 768x576 as JPEG (${jpeg!.length} bytes), bgr24 (${
    bgr!.length
  } bytes), yuv420p (${yuv!.length} bytes); ${navigator.hardwareConcurrency} cores; times in ms\n`,
);
write(
  "| backend | size | input | iters | run p50 | run p95 | decode p50 | pre p50 | pre p95 | post p50 | infer p50 | server p50 | POST p50 | POST p95 | POST/run |",
);
write("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");

for (const { backend, size, iterations, workers = 0 } of PLAN) {
  const label = workers > 0 ? `${backend} (${workers} worker${workers > 1 ? "s" : ""})` : backend;
  // Raw session.run on the already-preprocessed tensor.
  const session = await createOnnxSession({
    modelPath: `${modelsDir()}/${manifest.file}`,
    backend,
    logger: silentLogger,
  });
  const input = new Float32Array(3 * size * size);
  letterboxInto(frame, size, size, {
    channelOrder: "bgr",
    mean: manifest.preprocess.mean,
    std: manifest.preprocess.std,
    padValue: manifest.preprocess.pad_value,
  }, input);
  const feeds = { input: { data: input, dims: [1, 3, size, size] } };
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const run: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await session.run(feeds);
    run.push(performance.now() - t);
  }
  await session.close();

  // The detector behind the real handler and router on a real server.
  const options = { modelsDir: modelsDir(), manifest, backend, inputSize: size };
  const detector = workers > 0
    ? await createWorkerDetector({ ...options, workers, logger: silentLogger })
    : await createDetector({ ...options, logger: silentLogger });
  // The same frame again and again: motion gating off so every POST is detected.
  const settings = loadConfig({ FESS_MOTION__ENABLED: "false" }, undefined);
  const eventLog = await Deno.makeTempFile({ suffix: ".jsonl" });
  const publisher = createPublisher({
    sink: createEventLogSink({ path: eventLog, logger: silentLogger, fsync: false }),
    wal: createWriteAheadLog({ dir: `${eventLog}.wal`, logger: silentLogger, fsync: "none" }),
    logger: silentLogger,
  });
  await publisher.start();
  const pipeline = createPipeline({
    settings,
    detector,
    publisher,
    cache: null,
    recognizer: null,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silentLogger,
  });
  const api = createApi({
    authenticator: createAuthenticator([]),
    logger: silentLogger,
    bodyLimitBytes: 16 * 1024 * 1024,
  });
  api.route(
    "/",
    createDetectHandler({ pipeline, timestampSkewSeconds: settings.server.timestamp_skew_seconds }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, api.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/detect/bench-cam`;
  for (const input of INPUTS) {
    const post = async () => {
      const res = await fetch(url, { method: "POST", headers: input.headers, body: input.body });
      return await res.json();
    };
    for (let i = 0; i < 5; i++) await post();
    const rt: number[] = [],
      pre: number[] = [],
      postp: number[] = [],
      dec: number[] = [],
      inf: number[] = [],
      srv: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      const body = await post();
      rt.push(performance.now() - t);
      pre.push(body.timing.preprocess_ms);
      postp.push(body.timing.postprocess_ms);
      dec.push(body.timing.decode_ms);
      inf.push(body.timing.inference_ms);
      srv.push(body.timing.total_ms);
    }
    write(
      `| ${label} | ${size} | ${input.name} | ${iterations} | ${f(pct(run, 50))} | ${
        f(pct(run, 95))
      } | ${f(pct(dec, 50))} | ${f(pct(pre, 50))} | ${f(pct(pre, 95))} | ${f(pct(postp, 50))} | ${
        f(pct(inf, 50))
      } | ${f(pct(srv, 50))} | ${f(pct(rt, 50))} | ${f(pct(rt, 95))} | ${
        (pct(rt, 50) / pct(run, 50)).toFixed(2)
      }x |`,
    );
  }
  await server.shutdown();
  await publisher.close();
  await Deno.remove(eventLog);
  await detector.close();
}
