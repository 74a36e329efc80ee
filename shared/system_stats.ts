/**
 * Host resource readings for `/health`: CPU busy share since the previous reading (across all
 * cores), memory in use (total - available) and disk use of one path.
 *
 * @module
 */
import { statfsSync } from "node:fs";
import os from "node:os";

/** One reading, in percent. */
export interface SystemStats {
  readonly cpu_percent: number;
  readonly memory_percent: number;
  readonly disk_percent: number;
}

/** Reads {@link SystemStats}. */
export type SystemStatsReader = () => SystemStats;

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq;
    busy += t;
    total += t + c.times.idle;
  }
  return { busy, total };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Creates a reader; CPU is measured between successive calls (first: load average based). */
export function createSystemStatsReader(diskPath: string): SystemStatsReader {
  let last = cpuTimes();
  return () => {
    const now = cpuTimes();
    const dTotal = now.total - last.total;
    const cpu = dTotal > 0
      ? ((now.busy - last.busy) / dTotal) * 100
      : Math.min(100, (Deno.loadavg()[0]! / (os.cpus().length || 1)) * 100);
    last = now;
    const mem = Deno.systemMemoryInfo();
    const memory = mem.total > 0 ? ((mem.total - mem.available) / mem.total) * 100 : 0;
    let disk = 0;
    try {
      const fs = statfsSync(diskPath);
      disk = fs.blocks > 0 ? (1 - fs.bavail / fs.blocks) * 100 : 0;
    } catch {
      disk = 0;
    }
    return { cpu_percent: round1(cpu), memory_percent: round1(memory), disk_percent: round1(disk) };
  };
}
