/**
 * FESS against a Python peer (bench/peer/peer_server.py: aiohttp + onnxruntime + OpenCV, same
 * model, same mmdeploy preprocessing, detection only), each server started as its own process
 * and measured in turn with the same client process (bench/peer/load_client.ts: N cameras
 * posting moving vtest frames concurrently, JPEG and raw bgr24). For each server and input it
 * prints frames/s, latency p50/p95/p99, CPU ms per frame of the server's process tree (from
 * /proc, every thread and child included), peak RSS sampled during the run, and the ratio of
 * each to the peer on the same input.
 *
 *   deno run -A bench/peer_bench.ts [--frames 60] [--cameras 4] [--servers peer,fess,defaults]
 *     [--inputs jpeg,raw] [--fess-env FESS_DETECTOR__INTRA_OP_THREADS=1 ...]
 *     [--cpu-prof DIR] [--peer-threads N] [--plain-memory]
 *
 * FESS runs with the Docker image's memory environment (malloc arenas, V8
 * young generation; see the Dockerfile); `--plain-memory` runs it without.
 * `--cpu-prof DIR` starts FESS with `deno run --cpu-prof` and leaves one .cpuprofile per FESS
 * server in DIR (summarise with `deno run -A bench/cpuprofile_top.ts FILE`). The Python
 * interpreter comes from FESS_PYTHON, else from `bash scripts/python_env.sh`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { modelsDir, repoRoot, vtestFramesBgr, vtestFramesJpeg } from "../tests/support/media.ts";
import { sampleTree } from "./support/proc_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    frames: { type: "string", default: "60" },
    cameras: { type: "string", default: "4" },
    servers: { type: "string", default: "peer,fess,defaults" },
    inputs: { type: "string", default: "jpeg,raw" },
    "fess-env": { type: "string", multiple: true, default: [] },
    "cpu-prof": { type: "string" },
    "peer-threads": { type: "string", default: "0" },
    warmup: { type: "string", default: "8" },
    "plain-memory": { type: "boolean", default: false },
  },
});

/** The memory settings the Docker image gives FESS (Dockerfile); `--plain-memory` drops them. */
const IMAGE_MEMORY_ENV: Record<string, string> = {
  MALLOC_ARENA_MAX: "2",
  DENO_V8_FLAGS: "--max-semi-space-size=2",
};

const FRAMES = Array.from({ length: 40 }, (_, i) => 100 + i * 3);
const WIDTH = 768;
const HEIGHT = 576;
const cameras = Number(values.cameras);
const framesPerCamera = Number(values.frames);
const root = repoRoot();
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));

interface ServerSpec {
  readonly id: string;
  readonly label: string;
  /** Command and arguments; `{port}` is replaced. */
  readonly cmd: (
    port: number,
  ) => { command: string; args: string[]; env: Record<string, string> };
}

interface Row {
  readonly server: string;
  readonly input: string;
  readonly frames: number;
  readonly fps: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly cpuMs: number;
  readonly rssMb: number;
  readonly errors: number;
  /** Mean server-reported stage times, ms (`timing.*_ms` of the responses). */
  readonly timing: Record<string, number>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function pythonPath(): Promise<string> {
  const fromEnv = Deno.env.get("FESS_PYTHON");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command("bash", {
    args: [join(root, "scripts/python_env.sh")],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("scripts/python_env.sh failed");
  return new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
}

/** The caller's environment without FESS_* settings, so only the bench's settings apply. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("FESS_")) env[k] = v;
  }
  return env;
}

async function writeFrames(dir: string): Promise<void> {
  const [jpegs, bgrs] = await Promise.all([
    vtestFramesJpeg(FRAMES),
    vtestFramesBgr(FRAMES),
  ]);
  jpegs.forEach((b, i) => Deno.writeFileSync(join(dir, `${String(i).padStart(3, "0")}.jpg`), b));
  bgrs.forEach((b, i) => Deno.writeFileSync(join(dir, `${String(i).padStart(3, "0")}.bgr`), b));
}

async function waitHealthy(
  url: string,
  child: Deno.ChildProcess,
  seconds = 120,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let exited = false;
  child.status.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited before it was healthy (${url})`);
    try {
      // The peer listens once its model is loaded; FESS opens its port at once and answers
      // /health 200 once the app (detector included) is built (503 or no components before).
      const res = await fetch(`${url}/health`);
      const body = await res.json().catch(() => null);
      // The peer's /health has no components; FESS's lists the detector.
      if (res.ok && (!body?.components || body.components.detector?.healthy)) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${url} not healthy within ${seconds}s`);
}

async function runClient(
  url: string,
  dir: string,
  input: string,
  frames: number,
  offset: number,
): Promise<
  {
    frames: number;
    seconds: number;
    latencies: number[];
    errors: number;
    firstError: string | null;
    timing: Record<string, number>;
  }
> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(root, "bench/peer/load_client.ts"),
      "--url",
      url,
      "--dir",
      dir,
      "--input",
      input,
      "--cameras",
      String(cameras),
      "--frames",
      String(frames),
      "--width",
      String(WIDTH),
      "--height",
      String(HEIGHT),
      "--camera_offset",
      String(offset),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("load client failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const pct = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[
    Math.min(
      sorted.length - 1,
      Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
    )
  ]!;

async function measure(
  spec: ServerSpec,
  inputs: string[],
  dir: string,
): Promise<Row[]> {
  const port = freePort();
  const { command, args, env } = spec.cmd(port);
  const child = new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Keep the tail of stderr for a readable failure; drain it so the server never blocks.
  let stderrTail = "";
  const drained = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      stderrTail = (stderrTail + chunk).slice(-4000);
    }
  })();
  const url = `http://127.0.0.1:${port}`;
  const rows: Row[] = [];
  try {
    await waitHealthy(url, child).catch((err) => {
      throw new Error(
        `${spec.label}: ${(err as Error).message}\n${stderrTail}`,
      );
    });
    let offset = 0;
    for (const input of inputs) {
      // Warm-up (not measured): first-frame kernel set-up, JIT, allocator growth.
      await runClient(url, dir, input, Number(values.warmup), offset += 100);
      let rssPeak = 0;
      const sampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, sampleTree(child.pid).rssBytes);
      }, 50);
      const before = sampleTree(child.pid);
      const r = await runClient(
        url,
        dir,
        input,
        framesPerCamera,
        offset += 100,
      );
      const after = sampleTree(child.pid);
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, after.rssBytes);
      if (r.errors > 0) {
        write(
          `  ${spec.label} ${input}: ${r.errors} errors, first: ${r.firstError}`,
        );
      }
      rows.push({
        server: spec.label,
        input,
        frames: r.frames,
        fps: r.frames / r.seconds,
        p50: pct(r.latencies, 50),
        p95: pct(r.latencies, 95),
        p99: pct(r.latencies, 99),
        cpuMs: ((after.cpuSeconds - before.cpuSeconds) * 1000) /
          Math.max(1, r.frames),
        rssMb: rssPeak / 2 ** 20,
        errors: r.errors,
        timing: r.timing,
      });
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 15_000);
    await child.status;
    clearTimeout(timer);
    await drained.catch(() => {});
  }
  return rows;
}

if (import.meta.main) {
  const tmp = await Deno.makeTempDir({ prefix: "fess-peer-bench-" });
  const framesDir = join(tmp, "frames");
  await Deno.mkdir(framesDir);
  await writeFrames(framesDir);
  const model = join(modelsDir(), "rtmdet-nano-person.onnx");
  const wanted = values.servers.split(",");
  const inputs = values.inputs.split(",");
  const extraEnv = Object.fromEntries(
    (values["fess-env"] as string[]).map((kv) => {
      const i = kv.indexOf("=");
      if (i < 1) throw new Error(`--fess-env wants NAME=VALUE, got ${kv}`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
  const profDir = values["cpu-prof"];

  const fess = (
    id: string,
    label: string,
    settings: Record<string, string>,
  ): ServerSpec => ({
    id,
    label,
    cmd: (port) => ({
      command: Deno.execPath(),
      args: [
        "run",
        "-A",
        ...(profDir
          ? [
            "--cpu-prof",
            `--cpu-prof-dir=${profDir}`,
            `--cpu-prof-name=${id}.cpuprofile`,
          ]
          : []),
        "main.ts",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
      ],
      env: {
        ...baseEnv(),
        ...(values["plain-memory"] ? {} : IMAGE_MEMORY_ENV),
        FESS_MODELS_DIR: modelsDir(),
        FESS_KAFKA__SPOOL_DIR: join(tmp, id, "spool"),
        FESS_KAFKA__EVENT_LOG_PATH: join(tmp, id, "events.jsonl"),
        FESS_HEALTH__DISK_PATH: tmp,
        ...settings,
        ...extraEnv,
      },
    }),
  });
  const specs: ServerSpec[] = [];
  if (wanted.includes("peer")) {
    const python = await pythonPath();
    specs.push({
      id: "peer",
      label: "python peer, detection only",
      cmd: (port) => ({
        command: python,
        args: [
          join(root, "bench/peer/peer_server.py"),
          "--model",
          model,
          "--port",
          String(port),
          "--intra-op-threads",
          values["peer-threads"],
        ],
        env: baseEnv(),
      }),
    });
  }
  if (wanted.includes("fess")) {
    specs.push(
      fess("fess-detect", "FESS faces off, motion off", {
        FESS_FACES__ENABLED: "false",
        FESS_MOTION__ENABLED: "false",
      }),
    );
  }
  if (wanted.includes("defaults")) {
    specs.push(fess("fess-defaults", "FESS defaults", {}));
  }

  write(
    `vtest.avi ${WIDTH}x${HEIGHT}, ${FRAMES.length} distinct frames; ${cameras} cameras x ${framesPerCamera} frames ` +
      `each, one request in flight per camera; rtmdet-nano-person 320; ${navigator.hardwareConcurrency} cores`,
  );
  if (Object.keys(extraEnv).length) {
    write(`FESS extra settings: ${JSON.stringify(extraEnv)}`);
  }
  write("");
  const rows: Row[] = [];
  for (const spec of specs) {
    rows.push(...await measure(spec, inputs, framesDir));
  }

  const peer = (input: string) =>
    rows.find((r) => r.server.startsWith("python") && r.input === input);
  const ratio = (v: number, base: number | undefined) =>
    base === undefined ? "-" : `${(v / base).toFixed(2)}x`;
  write(
    "| server | input | frames | frames/s | p50 ms | p95 ms | p99 ms | CPU ms/frame | RSS peak MB | frames/s ÷ peer | CPU ÷ peer | RSS ÷ peer |",
  );
  write("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const p = peer(r.input);
    write(
      `| ${r.server} | ${r.input} | ${r.frames}${r.errors ? ` (${r.errors} errors)` : ""} | ${
        r.fps.toFixed(1)
      } | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${
        r.cpuMs.toFixed(1)
      } | ${r.rssMb.toFixed(0)} | ${ratio(r.fps, p?.fps)} | ${ratio(r.cpuMs, p?.cpuMs)} | ${
        ratio(r.rssMb, p?.rssMb)
      } |`,
    );
  }
  const stages = [
    "decode_ms",
    "preprocess_ms",
    "inference_ms",
    "postprocess_ms",
    "total_ms",
  ];
  write(
    "\nServer-reported stage times, mean ms per frame (inference includes batch-mates):\n",
  );
  write(
    `| server | input | ${stages.map((s) => s.replace("_ms", "")).join(" | ")} | batch |`,
  );
  write(`|---|---|${stages.map(() => "---|").join("")}---|`);
  for (const r of rows) {
    const v = (
      k: string,
    ) => (r.timing[k] === undefined ? "-" : r.timing[k]!.toFixed(2));
    write(
      `| ${r.server} | ${r.input} | ${stages.map(v).join(" | ")} | ${v("batch_size")} |`,
    );
  }
  if (profDir) write(`\nCPU profiles in ${profDir}`);
  await Deno.remove(tmp, { recursive: true });
}
