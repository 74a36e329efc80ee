/**
 * Cache and face-gallery benchmark on a real loopback redis-server. Prints a table.
 *
 *   deno run -A bench/cache_bench.ts            # needs redis-server on PATH
 *
 * Measures: single-command latency (GET/SET of a 512-byte encoding, HGETALL of a face), face
 * lookups, concurrent throughput with and without auto-pipelining and with a 4-connection
 * round-robin "pool" (to decide whether a pool is worth having), match latency over 10k and
 * 100k faces, enrolment throughput and gallery load time. Targets: lookup p99 < 5 ms, match
 * over 10k < 5 ms.
 *
 * @module
 */
import type { CacheStore } from "../shared/cache/cache_store.ts";
import { encodeFloat32LE } from "../shared/cache/codec.ts";
import { faceKey } from "../shared/cache/keys.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { createRedisCache } from "../shared/cache/redis_cache.ts";
import { createFaceGallery } from "../shared/faces/gallery.ts";
import { silentLogger } from "../shared/logger.ts";
import { startRedis } from "../tests/support/services.ts";

function vec(seed: number): Float32Array {
  const v = new Float32Array(128);
  let x = (seed * 2654435761) % 4294967296 || 1;
  for (let i = 0; i < 128; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v[i] = x / 4294967296 - 0.5;
  }
  return v;
}

const rows: string[][] = [];
const fmt = (ms: number) => (ms < 0.1 ? ms.toFixed(4) : ms.toFixed(3));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` sequentially `n` times after a warm-up; records p50/p99/mean in ms. */
async function latency(name: string, n: number, fn: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await fn(i);
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  const mean = t.reduce((a, b) => a + b, 0) / n;
  rows.push([name, String(n), fmt(percentile(t, 50)), fmt(percentile(t, 99)), fmt(mean), ""]);
}

/** Runs `total` calls with `concurrency` in flight; records ops/s. */
async function throughput(
  name: string,
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
) {
  let next = 0;
  const s = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await fn(next++);
  }));
  const secs = (performance.now() - s) / 1000;
  rows.push([
    name,
    String(total),
    "",
    "",
    "",
    `${Math.round(total / secs).toLocaleString("en")}/s`,
  ]);
}

if (import.meta.main) {
  const server = await startRedis();
  const caches: CacheStore[] = [];
  const open = async (opts: { autoPipelining?: boolean; keyPrefix?: string } = {}) => {
    const c = createRedisCache({ url: server.url, logger: silentLogger, ...opts });
    await c.connect();
    caches.push(c);
    return c;
  };
  try {
    const redis = await open();
    const bytes = encodeFloat32LE(vec(1));
    await redis.set("bench:enc", bytes);
    await latency(
      "redis SET 512 B (seq)",
      5000,
      (i) => redis.set(`bench:s:${i % 100}`, bytes, { ttlSeconds: 60 }),
    );
    await latency("redis GET 512 B (seq)", 5000, () => redis.get("bench:enc"));

    const g = createFaceGallery({ cache: redis, logger: silentLogger });
    await g.start();
    await throughput(
      "enrol via gallery, Redis (64 in flight)",
      10_000,
      64,
      (i) => g.enrol({ faceId: `f${i}`, encoding: vec(i), metadata: { name: `n${i}` } }),
    );
    const seqCache = await open({ keyPrefix: "seq:" });
    const gs = createFaceGallery({ cache: seqCache, logger: silentLogger });
    await gs.start();
    await throughput(
      "enrol via gallery, Redis (sequential)",
      2000,
      1,
      (i) => gs.enrol({ faceId: `s${i}`, encoding: vec(i) }),
    );
    const encCache = await open({ keyPrefix: "enc:" });
    const ge = createFaceGallery({
      cache: encCache,
      encryptionKey: "bench-key-0123456789",
      logger: silentLogger,
    });
    await ge.start();
    await throughput(
      "enrol via gallery, Redis, AES-GCM (64 in flight)",
      5000,
      64,
      (i) => ge.enrol({ faceId: `e${i}`, encoding: vec(i) }),
    );

    await latency(
      "face lookup: HGETALL face:{id} + decode",
      5000,
      (i) => redis.getHash(faceKey(`f${i % 10_000}`)),
    );
    await latency("face lookup: getEncoding (Redis)", 5000, (i) => g.getEncoding(`f${i % 10_000}`));
    await latency("face lookup: get (in-process index)", 20_000, (i) => g.get(`f${i % 10_000}`));

    const fresh = await open();
    const g2 = createFaceGallery({ cache: fresh, logger: silentLogger });
    const ls = performance.now();
    await g2.start();
    rows.push([
      "gallery load of 10k faces from Redis",
      "1",
      "",
      "",
      fmt(performance.now() - ls),
      "",
    ]);
    const encFresh = await open({ keyPrefix: "enc:" });
    const ge2 = createFaceGallery({
      cache: encFresh,
      encryptionKey: "bench-key-0123456789",
      logger: silentLogger,
    });
    const es = performance.now();
    await ge2.start();
    rows.push(["gallery load of 5k encrypted faces", "1", "", "", fmt(performance.now() - es), ""]);

    await latency("match over 10k faces", 2000, (i) => g.match(vec(i * 31 + 7)));

    // Pool decision: concurrent GETs on one auto-pipelined connection vs a 4-connection round robin.
    const plain = await open({ autoPipelining: false });
    const pool = [redis, await open(), await open(), await open()];
    await throughput(
      "GET x100 in flight, 1 conn, no pipelining",
      50_000,
      100,
      () => plain.get("bench:enc"),
    );
    await throughput(
      "GET x100 in flight, 1 conn, auto-pipelining",
      50_000,
      100,
      () => redis.get("bench:enc"),
    );
    await throughput(
      "GET x100 in flight, 4 conns round robin",
      50_000,
      100,
      (i) => pool[i % 4]!.get("bench:enc"),
    );

    const big = createFaceGallery({ cache: createMemoryCache(), logger: silentLogger });
    await big.start();
    for (let i = 0; i < 100_000; i++) await big.enrol({ faceId: `b${i}`, encoding: vec(i) });
    await latency("match over 100k faces", 500, (i) => big.match(vec(i * 31 + 7)));
    await Promise.all([g.close(), gs.close(), ge.close(), g2.close(), ge2.close(), big.close()]);
  } finally {
    await Promise.all(caches.map((c) => c.close()));
    await server.close();
  }

  const header = ["benchmark", "n", "p50 ms", "p99 ms", "mean ms", "throughput"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  const out = [
    line(header),
    "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...rows.map(line),
  ];
  const cpu = Deno.build.os === "linux"
    ? (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?"
    : "?";
  // deno-lint-ignore no-console
  console.log(
    `FESS cache bench — deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs (${cpu})\n`,
  );
  // deno-lint-ignore no-console
  console.log(out.join("\n"));
}
