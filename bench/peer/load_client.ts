/**
 * The load client of bench/peer_bench.ts, run as its own process so its CPU never counts
 * against the server measured: `cameras` concurrent loops, each posting `frames` frames from a
 * folder of vtest frames (`NNN.jpg` or `NNN.bgr`) to `POST {url}/detect/cam-{i}`, one request
 * in flight per camera. Each camera starts at another frame so consecutive frames move. Prints
 * one JSON line: frames, seconds, sorted latencies in ms, errors, and the mean of each numeric
 * `timing.*_ms` field and `timing.batch_size` the servers report.
 *
 *   deno run -A bench/peer/load_client.ts --url http://127.0.0.1:8090 --dir /tmp/frames \
 *     --input jpeg --cameras 4 --frames 60 [--width 768 --height 576]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    dir: { type: "string" },
    input: { type: "string", default: "jpeg" },
    cameras: { type: "string", default: "4" },
    frames: { type: "string", default: "60" },
    width: { type: "string", default: "768" },
    height: { type: "string", default: "576" },
    camera_offset: { type: "string", default: "0" },
  },
});
if (!values.url || !values.dir) throw new Error("--url and --dir are required");
const raw = values.input === "raw";
const ext = raw ? ".bgr" : ".jpg";
const names = [...Deno.readDirSync(values.dir)].map((e) => e.name).filter((n) => n.endsWith(ext))
  .sort();
if (names.length === 0) throw new Error(`no ${ext} frames in ${values.dir}`);
const bodies = names.map((n) => Deno.readFileSync(`${values.dir}/${n}`));
const cameras = Number(values.cameras);
const frames = Number(values.frames);
const offset = Number(values.camera_offset);
const headers: Record<string, string> = raw
  ? {
    "content-type": "application/octet-stream",
    "x-frame-width": values.width,
    "x-frame-height": values.height,
    "x-pixel-format": "bgr24",
  }
  : { "content-type": "image/jpeg" };

const latencies: number[] = [];
const timingSums: Record<string, number> = {};
let errors = 0;
let firstError: string | null = null;

async function camera(cam: number): Promise<void> {
  for (let i = 0; i < frames; i++) {
    const body = bodies[(i + cam * 7) % bodies.length]!;
    const t0 = performance.now();
    const res = await fetch(
      `${values.url}/detect/cam-${cam + offset}?frame_number=${i}`,
      {
        method: "POST",
        headers,
        body,
      },
    );
    const text = await res.text();
    if (res.status !== 200) {
      errors++;
      firstError ??= `${res.status} ${text.slice(0, 200)}`;
      continue;
    }
    latencies.push(performance.now() - t0);
    const timing = (JSON.parse(text) as { timing?: Record<string, unknown> }).timing ?? {};
    for (const [k, v] of Object.entries(timing)) {
      if ((k.endsWith("_ms") || k === "batch_size") && typeof v === "number") {
        timingSums[k] = (timingSums[k] ?? 0) + v;
      }
    }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: cameras }, (_, i) => camera(i)));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const timing = Object.fromEntries(
  Object.entries(timingSums).map((
    [k, v],
  ) => [k, v / Math.max(1, latencies.length)]),
);
Deno.stdout.writeSync(
  new TextEncoder().encode(
    JSON.stringify({
      frames: latencies.length,
      seconds,
      latencies,
      errors,
      firstError,
      timing,
    }) + "\n",
  ),
);
