/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`) into
 * the top functions by self time and by total (inclusive) time, as markdown tables. With
 * `--frames N` each row also shows ms per frame. Time in native code that V8 cannot see into
 * (onnxruntime-node, sharp/libvips, their thread pools) shows up as the JS function that called
 * it, or as `(program)` / `(idle)` when it runs on other threads.
 *
 *   deno run -A bench/cpuprofile_top.ts PROFILE.cpuprofile [--top 20] [--frames 240]
 *
 * @module
 */
import { parseArgs } from "node:util";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

/** The parts of a `.cpuprofile` this script reads. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Self and total time of one function, microseconds. */
export interface FunctionCost {
  readonly key: string;
  readonly self: number;
  readonly total: number;
}

function keyOf(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  const short = f.url.replace(/^file:\/\/.*?\/(node_modules|shared|functions|bench|main\.ts)/, "$1")
    .replace(/^.*\/node_modules\//, "node_modules/").replace(/^ext:/, "ext:");
  return `${name} ${short}:${f.lineNumber + 1}`;
}

/** Self and inclusive time per function, most self time first. */
export function summarise(profile: CpuProfile): FunctionCost[] {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const seen = new Set<string>();
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's delta is the time since the previous sample: charge it to this sample's stack.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    let id: number | undefined = profile.samples[i]!;
    const leaf = keyOf(byId.get(id)!.callFrame);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    seen.clear();
    while (id !== undefined) {
      const k = keyOf(byId.get(id)!.callFrame);
      if (!seen.has(k)) {
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  return [...total.keys()].map((key) => ({
    key,
    self: self.get(key) ?? 0,
    total: total.get(key)!,
  })).sort((a, b) => b.self - a.self);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { top: { type: "string", default: "20" }, frames: { type: "string" } },
  });
  if (positionals.length !== 1) throw new Error("usage: cpuprofile_top.ts FILE [--top N]");
  const profile = JSON.parse(Deno.readTextFileSync(positionals[0]!)) as CpuProfile;
  const costs = summarise(profile);
  const top = Number(values.top);
  const frames = values.frames ? Number(values.frames) : 0;
  const wall = profile.endTime - profile.startTime;
  const busy = costs.filter((c) => c.key !== "(idle)").reduce((a, c) => a + c.self, 0);
  const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
  const ms = (us: number) => (us / 1000).toFixed(1);
  const perFrame = (us: number) => (frames ? ` ${(us / 1000 / frames).toFixed(2)} |` : "");
  write(
    `profile ${positionals[0]}: ${ms(wall)} ms wall, ${ms(busy)} ms busy on the main thread` +
      (frames ? `, ${frames} frames` : ""),
  );
  for (const by of ["self", "total"] as const) {
    write(
      `\n| function (by ${by}) | self ms | total ms | % of busy |${frames ? " ms/frame |" : ""}`,
    );
    write(`|---|---|---|---|${frames ? "---|" : ""}`);
    const sorted = [...costs].filter((c) => c.key !== "(idle)").sort((a, b) => b[by] - a[by]);
    for (const c of sorted.slice(0, top)) {
      write(
        `| ${c.key.replaceAll("|", "\\|")} | ${ms(c.self)} | ${ms(c.total)} | ${
          ((100 * c[by]) / busy).toFixed(1)
        } |${perFrame(c[by])}`,
      );
    }
  }
}
