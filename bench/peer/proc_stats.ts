/**
 * CPU time and memory of a process tree from /proc (Linux only). CPU is utime + stime of the
 * root and every live descendant (a process's figures already include all its threads) plus
 * cutime + cstime (children it has reaped), so ORT's thread pools and any helper processes are
 * all counted. RSS is the sum of VmRSS over the tree at the moment of sampling.
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

/** Pids of `pid` and all its live descendants. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    let tasks: Deno.DirEntry[];
    try {
      tasks = [...Deno.readDirSync(`/proc/${p}/task`)];
    } catch {
      continue;
    }
    for (const t of tasks) {
      const children = readText(`/proc/${p}/task/${t.name}/children`);
      if (!children) continue;
      for (const c of children.trim().split(/\s+/)) if (c) stack.push(Number(c));
    }
  }
  return out;
}

/** CPU seconds and RSS of the tree rooted at `pid`. */
export function sampleTree(pid: number): TreeSample {
  let ticks = 0;
  let rssBytes = 0;
  for (const p of processTree(pid)) {
    const stat = readText(`/proc/${p}/stat`);
    if (stat) {
      // Fields after the parenthesised command name (which may contain spaces).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime, stime, cutime, cstime are fields 14..17 of the full line, 11..14 here (0-based).
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    }
    const status = readText(`/proc/${p}/status`);
    const m = status?.match(/^VmRSS:\s+(\d+) kB/m);
    if (m) rssBytes += Number(m[1]) * 1024;
  }
  return { cpuSeconds: ticks / clockTicks(), rssBytes };
}
