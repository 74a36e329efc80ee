/**
 * Cost of the public listener (header deadline and idle timeout relay) on uploads: the same
 * handler served by Deno.serve directly and behind the relay, POST bodies of several sizes on
 * one kept-alive connection, p50/p95 round trip.
 *
 *   deno run -A bench/listener_bench.ts [requests per size, default 200]
 *
 * @module
 */
import { silentLogger } from "../shared/logger.ts";
import { startServer } from "../shared/server/serve.ts";

const N = Number(Deno.args[0] ?? 200);
const SIZES = [16 * 1024, 256 * 1024, 2 * 1024 * 1024];

const handler = async (req: Request) =>
  Response.json({ bytes: (await req.arrayBuffer()).byteLength });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(url: string, size: number): Promise<{ p50: number; p95: number }> {
  const body = new Uint8Array(size);
  const times: number[] = [];
  for (let i = 0; i < N + 10; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: "POST", body });
    await res.arrayBuffer();
    if (i >= 10) times.push(performance.now() - t0); // first ones warm up the connection
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95) };
}

const direct = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
const guarded = startServer({
  hostname: "127.0.0.1",
  port: 0,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  shutdownGraceMs: 1_000,
  handler,
  logger: silentLogger,
});

const rows: string[][] = [];
for (const size of SIZES) {
  const d = await measure(`http://127.0.0.1:${direct.addr.port}/`, size);
  const g = await measure(`http://127.0.0.1:${guarded.addr.port}/`, size);
  rows.push([
    `${size / 1024} KiB`,
    d.p50.toFixed(2),
    d.p95.toFixed(2),
    g.p50.toFixed(2),
    g.p95.toFixed(2),
    `${(g.p50 - d.p50).toFixed(2)}`,
  ]);
}
await direct.shutdown();
await guarded.shutdown();

const header = [
  "body",
  "direct p50 ms",
  "direct p95 ms",
  "relay p50 ms",
  "relay p95 ms",
  "added p50 ms",
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
const out = [`listener relay cost, ${N} POSTs per size, one kept-alive connection`, line(header)];
for (const r of rows) out.push(line(r));
await Deno.stdout.write(new TextEncoder().encode(out.join("\n") + "\n"));
