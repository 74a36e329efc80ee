/**
 * CPU time and memory of a process tree from /proc (Linux only). CPU is utime + stime of the
 * root and every live descendant (a process's figures already include all its threads) plus
 * cutime + cstime (children it has reaped), so ORT's thread pools and any helper processes are
 * all counted. RSS is the sum of VmRSS over the tree at the moment of sampling. The
 * per-process readers serve benchmarks that split a run's cost by process.
 *
 * @module
 */

/** One sample of a process tree. */
export interface TreeSample {
  /** CPU seconds used so far by the tree (user + system). */
  readonly cpuSeconds: number;
  /** Resident memory of the tree now, bytes. */
  readonly rssBytes: number;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).outputSync();
      ticksPerSecond = Number(new TextDecoder().decode(out.stdout).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null; // the process or thread ended meanwhile
  }
}

/** Pids of the live children of `pid` (of every one of its threads). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return out;
  }
  for (const t of tasks) {
    const children = readText(`/proc/${pid}/task/${t.name}/children`);
    if (!children) continue;
    for (const c of children.trim().split(/\s+/)) if (c) out.push(Number(c));
  }
  return out;
}

/** Pids of `pid` and all its live descendants. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...childPids(p));
  }
  return out;
}

/** utime, stime, cutime, cstime ticks of one process (0 when it is gone). */
function statTicks(pid: number): [number, number, number, number] {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return [0, 0, 0, 0];
  // Fields after the parenthesised command name (which may contain spaces); utime, stime,
  // cutime, cstime are fields 14..17 of the full line, 11..14 here (0-based).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(f[11]), Number(f[12]), Number(f[13]), Number(f[14])];
}

/** CPU seconds used so far by `pid` itself (all its threads, not its children). */
export function processCpuSeconds(pid: number): number {
  const [utime, stime] = statTicks(pid);
  return (utime + stime) / clockTicks();
}

/** Resident memory of `pid` alone now, bytes (0 when it is gone). */
export function processRssBytes(pid: number): number {
  const m = readText(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU seconds and RSS of the tree rooted at `pid`. */
export function sampleTree(pid: number): TreeSample {
  let ticks = 0;
  let rssBytes = 0;
  for (const p of processTree(pid)) {
    for (const t of statTicks(p)) ticks += t;
    rssBytes += processRssBytes(p);
  }
  return { cpuSeconds: ticks / clockTicks(), rssBytes };
}
