/**
 * Where a native onnxruntime run spends its time: runs a model on a real vtest frame with
 * onnxruntime's own profiler on, then sums the profile's node events by operator type and
 * prints the top operators per run, plus the session-level run time and the process CPU per
 * run (which shows what intra-op threads and spinning cost beyond the run's wall time).
 *
 *   deno run -A bench/ort_profile.ts [--model PATH] [--size 320] [--runs 50] [--batch 1]
 *     [--intra 0] [--spin true]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import process from "node:process";
import { silentLogger } from "../shared/logger.ts";
import { createOnnxSession } from "../shared/onnx/session.ts";
import { modelsDir } from "../tests/support/media.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string" },
    size: { type: "string", default: "320" },
    runs: { type: "string", default: "50" },
    batch: { type: "string", default: "1" },
    intra: { type: "string", default: "0" },
    spin: { type: "string", default: "true" },
  },
});

interface TraceEvent {
  readonly cat: string;
  readonly name: string;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

if (import.meta.main) {
  const model = values.model ?? join(modelsDir(), "rtmdet-nano-person.onnx");
  const size = Number(values.size);
  const runs = Number(values.runs);
  const batch = Number(values.batch);
  const dir = await Deno.makeTempDir({ prefix: "fess-ort-profile-" });
  const prefix = join(dir, "ort");
  const session = await createOnnxSession({
    modelPath: model,
    backend: "native",
    logger: silentLogger,
    tuning: {
      intraOpThreads: Number(values.intra),
      allowSpinning: values.spin !== "false",
      profilePrefix: prefix,
    },
  });
  // A mid-grey frame normalised like a real one; the in-graph NMS sees few candidates.
  const data = new Float32Array(batch * 3 * size * size).fill(0.2);
  const feeds = { [session.inputNames[0]!]: { data, dims: [batch, 3, size, size] } };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  const wall = (performance.now() - t0) / runs;
  const cpu = process.cpuUsage(cpu0);
  await session.close();
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".json"));
  if (!file) throw new Error(`onnxruntime wrote no profile in ${dir}`);
  const events = JSON.parse(Deno.readTextFileSync(join(dir, file.name))) as TraceEvent[];
  await Deno.remove(dir, { recursive: true });
  const total = runs + 3;
  const byOp = new Map<string, number>();
  let modelRun = 0;
  for (const e of events) {
    if (e.cat === "Session" && e.name === "model_run") modelRun += e.dur;
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
    const op = e.args?.op_name ?? "?";
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  }
  const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
  const ms = (us: number) => (us / 1000 / total).toFixed(3);
  write(
    `${model} at ${size}, batch ${batch}, intra ${values.intra}, spinning ${values.spin}; ` +
      `${runs} runs: wall ${wall.toFixed(2)} ms/run, process CPU ${
        ((cpu.user + cpu.system) / 1000 / runs).toFixed(2)
      } ms/run, profiled model_run ${ms(modelRun)} ms/run`,
  );
  write("\n| operator | ms/run | % of kernels |");
  write("|---|---|---|");
  const kernels = [...byOp.values()].reduce((a, b) => a + b, 0);
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    write(`| ${op} | ${ms(us)} | ${((100 * us) / kernels).toFixed(1)} |`);
  }
}
