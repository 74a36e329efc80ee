/**
 * Real backing services for integration tests: Redis, Kafka and Prometheus, each started on a
 * free loopback port with its data in a temp dir and killed when the test process ends.
 *
 * Processes are started detached through `sh` (the shell exits at once, printing the pid), so
 * no Deno child-process resource outlives the call that started it and Deno's resource/op
 * sanitizers stay quiet. Each process also gets a tiny shell watchdog that kills it when this
 * Deno process disappears, so a crashed or killed `deno test` cannot leak servers; on a normal
 * exit the `unload` handler kills them at once.
 *
 * Outside CI a test whose service cannot run here is ignored (with one loud line naming the
 * install command); with `CI=true` it is never ignored, so a missing service fails the build.
 *
 * @module
 */

/** The services this harness can start. */
export type ServiceName = "redis" | "kafka" | "prometheus";

/** Kafka version fetched by `scripts/kafka.sh` (keep in sync with its KAFKA_VERSION). */
export const KAFKA_VERSION = "3.9.1";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
export const KAFKA_SCRIPT = `${REPO_ROOT}scripts/kafka.sh`;

function installHint(name: ServiceName): string {
  switch (name) {
    case "redis":
      return "sudo apt-get install -y redis-server";
    case "prometheus":
      return "sudo apt-get install -y prometheus";
    case "kafka": {
      const apt = [
        onPath("java") ? "" : "openjdk-17-jre-headless",
        onPath("mvn") ? "" : "maven",
      ].filter(Boolean);
      const fetch = "deno task kafka:install   (same as: scripts/kafka.sh install)";
      return apt.length ? `sudo apt-get install -y ${apt.join(" ")} && ${fetch}` : fetch;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// availability
// ---------------------------------------------------------------------------------------------

/** Whether an executable named `bin` is on PATH. */
export function onPath(bin: string): boolean {
  const path = Deno.env.get("PATH") ?? "";
  for (const dir of path.split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${bin}`);
      if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Cache directory shared with `scripts/kafka.sh`. */
export function fessCacheDir(): string {
  return Deno.env.get("FESS_CACHE_DIR") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache/fess`;
}

/** Whether the Kafka jars are in the cache (what `deno task kafka:install` produces). */
export function kafkaInstalled(): boolean {
  return exists(`${fessCacheDir()}/kafka-${KAFKA_VERSION}/.complete`);
}

/** Why `name` cannot be started here, or `null` when it can. */
export function serviceUnavailableReason(name: ServiceName): string | null {
  switch (name) {
    case "redis":
      return onPath("redis-server") ? null : "redis-server is not on PATH";
    case "kafka":
      if (Deno.env.get("TEST_KAFKA_BROKERS")) return null;
      if (!onPath("java")) return "java (17+) is not on PATH";
      if (!kafkaInstalled()) {
        // Without the cache, CI can still fetch it (mvn); outside CI the fetch is opt-in.
        return onPath("mvn") && isCi()
          ? null
          : `Kafka ${KAFKA_VERSION} is not in ${fessCacheDir()}`;
      }
      return null;
    case "prometheus":
      return onPath("prometheus") ? null : "prometheus is not on PATH";
  }
}

/** Whether CI=true (missing services and tools then fail instead of skipping). */
export function isCi(): boolean {
  const ci = (Deno.env.get("CI") ?? "").toLowerCase();
  return ci === "true" || ci === "1";
}

const warned = new Set<ServiceName>();

/**
 * Deno.test option fragment for a test that needs `names`. Outside CI it ignores the test
 * (printing each missing service's install command once) when any of them cannot be started
 * here; with `CI=true` it never ignores, so a missing service fails the test instead of
 * passing silently.
 */
export function requireService(...names: ServiceName[]): { ignore: boolean } {
  if (isCi()) return { ignore: false };
  let ignore = false;
  for (const name of names) {
    const reason = serviceUnavailableReason(name);
    if (reason === null) continue;
    ignore = true;
    if (warned.has(name)) continue;
    warned.add(name);
    const bar = "!".repeat(100);
    // deno-lint-ignore no-console
    console.error(
      `\n${bar}\n!!! SKIPPING ${name.toUpperCase()} INTEGRATION TESTS: ${reason}.\n` +
        `!!! Install it with:  ${installHint(name)}\n` +
        `!!! (with CI=true these tests fail instead of being skipped)\n${bar}\n`,
    );
  }
  return { ignore };
}

// ---------------------------------------------------------------------------------------------
// process plumbing
// ---------------------------------------------------------------------------------------------

const livePids = new Set<number>();
const tempDirs = new Set<string>();
let unloadInstalled = false;

function installUnload(): void {
  if (unloadInstalled) return;
  unloadInstalled = true;
  globalThis.addEventListener("unload", () => {
    for (const pid of livePids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    livePids.clear();
    for (const dir of tempDirs) {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // best effort
      }
    }
  });
}

// The watchdog polls once a second and kills the child when the Deno process is gone.
const DAEMON_SCRIPT = `
log="$1"; parent="$2"; shift 2
"$@" >>"$log" 2>&1 </dev/null &
child=$!
( while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
  kill -9 "$child" 2>/dev/null ) >/dev/null 2>&1 </dev/null &
echo "$child"
`;

/** Starts `cmd args...` detached, output appended to `logFile`; returns its pid. */
export async function spawnDetached(
  cmd: string,
  args: readonly string[],
  logFile: string,
  env?: Record<string, string>,
): Promise<number> {
  installUnload();
  const out = await new Deno.Command("sh", {
    args: ["-c", DAEMON_SCRIPT, "fess-daemon", logFile, String(Deno.pid), cmd, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(`could not start ${cmd}: ${new TextDecoder().decode(out.stderr)}`);
  }
  livePids.add(pid);
  return pid;
}

/** Whether process `pid` is running (not a zombie). */
export function alive(pid: number): boolean {
  try {
    // A zombie still accepts signals; /proc tells the truth.
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL; resolves once the process is gone. */
export async function killAndWait(pid: number, graceMs: number): Promise<void> {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    livePids.delete(pid);
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // raced with exit
    }
    while (alive(pid)) await sleep(20);
  }
  livePids.delete(pid);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A temp dir removed when the test process exits (or by {@link removeTempDir}). */
export async function makeTempDir(prefix: string): Promise<string> {
  installUnload();
  const dir = await Deno.makeTempDir({ prefix });
  tempDirs.add(dir);
  return dir;
}

/** Removes a dir made by {@link makeTempDir}. */
export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

async function tail(path: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Polls `probe` until it returns true, the process dies, or `timeoutMs` passes. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; pid?: number; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const dead = opts.pid !== undefined && !alive(opts.pid);
    if (dead || Date.now() > deadline) {
      const log = opts.logFile ? `\n--- ${opts.logFile} ---\n${await tail(opts.logFile)}` : "";
      throw new Error(`${what} ${dead ? "exited" : `not ready after ${opts.timeoutMs} ms`}${log}`);
    }
    await sleep(100);
  }
}

/** Sends `request` on a fresh TCP connection and returns what comes back first. */
async function tcpExchange(port: number, request: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(request);
    const buf = new Uint8Array(512);
    const n = await conn.read(buf);
    return n === null ? new Uint8Array(0) : buf.subarray(0, n);
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/** A private redis-server on a loopback port. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills the server (data is lost: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after {@link RedisServer.stop}). */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open but nothing answers, like a hung server. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

/** Starts a fresh redis-server (no persistence) on a free loopback port. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await makeTempDir("fess-redis-");
  const port = freePort();
  const logFile = `${dir}/redis.log`;
  let pid: number | null = null;
  const pong = new TextEncoder().encode("PING\r\n");

  const start = async () => {
    if (pid !== null) return;
    const args = [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--protected-mode",
      "no",
    ];
    pid = await spawnDetached("redis-server", args, logFile);
    const started = pid;
    await waitUntil("redis-server", async () => {
      const reply = new TextDecoder().decode(await tcpExchange(port, pong));
      return reply.startsWith("+PONG");
    }, { timeoutMs: 10_000, pid: started, logFile });
  };
  const stop = async () => {
    if (pid === null) return;
    const p = pid;
    pid = null;
    await killAndWait(p, 5_000);
  };
  await start();
  return {
    host: "127.0.0.1",
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => {
      if (pid !== null) Deno.kill(pid, "SIGSTOP");
    },
    resume: () => {
      if (pid !== null) Deno.kill(pid, "SIGCONT");
    },
    close: async () => {
      if (pid !== null) Deno.kill(pid, "SIGCONT");
      await stop();
      await removeTempDir(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------------------------

/** A Kafka broker for tests. */
export interface KafkaBroker {
  /** Bootstrap servers, `host:port`. */
  readonly brokers: string[];
  /** Whether it came from `TEST_KAFKA_BROKERS` (then stop/start are not available). */
  readonly external: boolean;
  /** Stops the broker (graceful, SIGKILL after 20 s); its data stays for {@link start}. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Releases this handle. The shared broker keeps running until the process exits. */
  close(): Promise<void>;
}

/** Options of {@link startKafka}. */
export interface StartKafkaOptions {
  /**
   * A private broker instead of the process-wide shared one (and never the external one):
   * for tests that stop and restart it. `close()` then really stops it.
   */
  readonly dedicated?: boolean;
}

let sharedKafka: Promise<KafkaBroker> | null = null;

/**
 * The process-wide broker (startup takes seconds, so tests share it), or the one named by
 * `TEST_KAFKA_BROKERS`. With `{ dedicated: true }` a private broker on its own ports.
 * Installs Kafka first (`scripts/kafka.sh install`, cached) when it is not in the cache.
 */
export function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  if (options.dedicated) return launchKafka(true);
  const external = Deno.env.get("TEST_KAFKA_BROKERS");
  if (external) {
    const brokers = external.split(",").map((b) => b.trim()).filter(Boolean);
    const refuse = () =>
      Promise.reject(new Error("cannot stop/start the external broker in TEST_KAFKA_BROKERS"));
    return Promise.resolve({
      brokers,
      external: true,
      stop: refuse,
      start: refuse,
      close: () => Promise.resolve(),
    });
  }
  if (sharedKafka === null) {
    sharedKafka = launchKafka(false);
    sharedKafka.catch(() => (sharedKafka = null));
  }
  return sharedKafka;
}

async function runKafkaScript(args: string[], env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: [KAFKA_SCRIPT, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`scripts/kafka.sh ${args.join(" ")} failed:\n${text}`);
  }
}

/** A raw ApiVersions v0 request: proves the broker is accepting Kafka requests. */
function apiVersionsRequest(): Uint8Array {
  const clientId = new TextEncoder().encode("fess-harness");
  const body = new Uint8Array(4 + 2 + 2 + 4 + 2 + clientId.length);
  const view = new DataView(body.buffer);
  view.setInt32(0, body.length - 4);
  view.setInt16(4, 18); // ApiVersions
  view.setInt16(6, 0);
  view.setInt32(8, 4242);
  view.setInt16(12, clientId.length);
  body.set(clientId, 14);
  return body;
}

async function kafkaAnswers(port: number): Promise<boolean> {
  const reply = await tcpExchange(port, apiVersionsRequest());
  if (reply.length < 10) return false;
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  return view.getInt32(4) === 4242 && view.getInt16(8) === 0;
}

async function launchKafka(dedicated: boolean): Promise<KafkaBroker> {
  if (!kafkaInstalled()) await runKafkaScript(["install"], {});
  const dir = await makeTempDir("fess-kafka-");
  const port = freePort();
  let controllerPort = freePort();
  while (controllerPort === port) controllerPort = freePort();
  const logFile = `${dir}/kafka.log`;
  const env = {
    LOCAL_KAFKA_DATA_DIR: `${dir}/data`,
    LOCAL_KAFKA_PORT: String(port),
    LOCAL_KAFKA_CONTROLLER_PORT: String(controllerPort),
    LOCAL_KAFKA_HEAP: Deno.env.get("LOCAL_KAFKA_HEAP") ?? "384m",
  };
  let pid: number | null = null;

  const start = async () => {
    if (pid !== null) return;
    pid = await spawnDetached("bash", [KAFKA_SCRIPT, "run"], logFile, env);
    const started = pid;
    await waitUntil("kafka broker", () => kafkaAnswers(port), {
      timeoutMs: 120_000,
      pid: started,
      logFile,
    });
  };
  const stop = async () => {
    if (pid === null) return;
    const p = pid;
    pid = null;
    await killAndWait(p, 20_000);
  };
  await start();
  const broker: KafkaBroker = {
    brokers: [`127.0.0.1:${port}`],
    external: false,
    stop,
    start,
    close: async () => {
      if (!dedicated) {
        // Shared: later tests in this process reuse it; the unload handler kills it.
        return;
      }
      await stop();
      await removeTempDir(dir);
    },
  };
  return broker;
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

/** A private Prometheus scraping the given targets. */
export interface PrometheusServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

/** Options of {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** `host:port` scrape targets. */
  readonly targets: string[];
  /** Scrape interval; default 1 s so tests see samples quickly. */
  readonly scrapeIntervalSeconds?: number;
  /** Default `/metrics`. */
  readonly metricsPath?: string;
}

/** Starts Prometheus on a free loopback port, scraping `targets`, and waits until ready. */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusServer> {
  const dir = await makeTempDir("fess-prometheus-");
  const port = freePort();
  const interval = opts.scrapeIntervalSeconds ?? 1;
  const config = [
    "global:",
    `  scrape_interval: ${interval}s`,
    // As long as Prometheus allows (the interval): a slow scrape on a busy box is not a miss.
    `  scrape_timeout: ${Math.round(interval * 1000)}ms`,
    "scrape_configs:",
    "  - job_name: fess",
    `    metrics_path: ${JSON.stringify(opts.metricsPath ?? "/metrics")}`,
    "    static_configs:",
    `      - targets: ${JSON.stringify(opts.targets)}`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
  const logFile = `${dir}/prometheus.log`;
  const pid = await spawnDetached("prometheus", [
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ], logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil("prometheus", async () => {
    const res = await fetch(`${url}/-/ready`);
    await res.body?.cancel();
    return res.ok;
  }, { timeoutMs: 30_000, pid, logFile });
  return {
    url,
    close: async () => {
      await killAndWait(pid, 10_000);
      await removeTempDir(dir);
    },
  };
}
