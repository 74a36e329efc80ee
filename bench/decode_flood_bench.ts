/**
 * Decode flood: 16 concurrent small PNGs that each decode to 7680x4320 (100 MB of RGB) POSTed
 * to `/detect` on a real Deno.serve, with the default decode admission and then with admission
 * effectively off (16 slots). Prints peak RSS over the run, the RSS kept afterwards, and the
 * answers (200 / 429 with Retry-After). Run it alone: RSS is the whole process's.
 *
 *   deno run -A bench/decode_flood_bench.ts
 *
 * @module
 */
import sharp from "sharp";
import { createDetectHandler } from "../functions/detect.ts";
import { createApi } from "../functions/api.ts";
import { getModelManifest } from "../models/registry.ts";
import { createAuthenticator } from "../shared/auth.ts";
import { loadConfig } from "../shared/config.ts";
import { createDetector } from "../shared/detector/detector.ts";
import { createFrameDecoder } from "../shared/image/frame_decoder.ts";
import { silentLogger } from "../shared/logger.ts";
import { FessEventSchema } from "../shared/events.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createPipeline } from "../shared/pipeline/pipeline.ts";
import { modelsDir } from "../tests/support/media.ts";

const WIDTH = 7680, HEIGHT = 4320, CONCURRENT = 16;
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0).padStart(6);

// Distinct images (a different colour each) so no cache can serve one from another.
const pngs = await Promise.all(
  Array.from({ length: CONCURRENT }, async (_, i) =>
    new Uint8Array(
      await sharp({
        create: {
          width: WIDTH,
          height: HEIGHT,
          channels: 3,
          background: { r: i * 9, g: 80, b: 200 },
        },
      }).png({ compressionLevel: 9 }).toBuffer(),
    )),
);
const settings = loadConfig(
  { FESS_MOTION__ENABLED: "false", FESS_FACES__ENABLED: "false" },
  undefined,
);
const server = settings.server;
const detector = await createDetector({
  modelsDir: modelsDir(),
  manifest: getModelManifest("rtmdet-nano-person"),
  backend: "native",
  logger: silentLogger,
});
// Events are not what this measures: a publisher that accepts and forgets.
const pipeline = createPipeline({
  settings,
  detector,
  publisher: {
    publish: (input) => {
      const event = FessEventSchema.parse(input);
      return Promise.resolve({
        event,
        event_id: event.event_id,
        event_type: event.event_type,
        topic: "bench",
        delivery: Promise.resolve({ status: "retained", topic: "bench" }),
      });
    },
  },
  cache: null,
  recognizer: null,
  metrics: createMetrics({ defaultMetrics: false }),
  logger: silentLogger,
});

async function flood(label: string, slots: number, queued: number): Promise<string> {
  const frameDecoder = createFrameDecoder({
    maxFramePixels: server.max_frame_pixels,
    maxConcurrentDecodes: slots,
    maxDecodePixels: slots === CONCURRENT ? WIDTH * HEIGHT * CONCURRENT : server.max_decode_pixels,
    maxQueuedDecodes: queued,
  });
  const api = createApi({
    logger: silentLogger,
    authenticator: createAuthenticator([]),
    bodyLimitBytes: 16 * 1024 * 1024,
  });
  api.route(
    "/",
    createDetectHandler({
      pipeline,
      frameDecoder,
      timestampSkewSeconds: server.timestamp_skew_seconds,
    }),
  );
  const router = (req: Request) => api.fetch(req);
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, router);
  const url = `http://127.0.0.1:${srv.addr.port}/detect/flood`;
  const before = Deno.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 10);
  const t0 = performance.now();
  const statuses = await Promise.all(pngs.map(async (body) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body,
    });
    const retry = res.headers.get("retry-after");
    await res.body?.cancel();
    return retry ? `${res.status} (Retry-After ${retry})` : String(res.status);
  }));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  await srv.shutdown();
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  const answers = [...counts].map(([s, n]) => `${n}x ${s}`).join(", ");
  return `| ${label} | ${slots} | ${queued} | ${mb(before)} | ${mb(peak)} | ${
    mb(Deno.memoryUsage().rss)
  } | ${seconds.toFixed(1)} | ${answers} |`;
}

write(
  `${CONCURRENT} concurrent PNGs of ${WIDTH}x${HEIGHT} (${
    pngs[0]!.length
  } bytes each), ${navigator.hardwareConcurrency} cores; RSS in MB\n`,
);
write("| admission | slots | queue | RSS before | RSS peak | RSS after | seconds | answers |");
write("|---|---|---|---|---|---|---|---|");
write(await flood("defaults", server.max_concurrent_decodes, server.max_queued_decodes));
if (!Deno.args.includes("--defaults-only")) write(await flood("off", CONCURRENT, CONCURRENT));
await detector.close();
