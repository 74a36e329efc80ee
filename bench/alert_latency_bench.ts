/**
 * Alert latency with N cameras: capture timestamp -> Alert on Kafka. One FESS (real Kafka
 * broker, real models) gets N cameras from the intake sidecar (half from a real RTSP server,
 * half looped files of vtest.avi at --fps); every camera has a whole-frame `enter` rule for
 * people and a `dwell` rule (2 s, cooldown 5 s), so pedestrians keep raising alerts. A kafkajs
 * consumer on the alert topic takes, for each Alert, its arrival time minus its `captured_at`
 * (the sidecar's capture time): an upper bound of "acknowledged by Kafka" (it adds the
 * consumer's fetch, at most `maxWaitTimeInMs` 10 ms).
 *
 *   deno run -A bench/alert_latency_bench.ts [--seconds 60] [--cameras 10] [--fps 10]
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
import { parseArgs } from "node:util";
import { mediaPath, modelsDir } from "../tests/support/media.ts";
import { startRtspServer } from "../tests/support/rtsp_server.ts";
import { freePort, startKafka } from "../tests/support/services.ts";
import { waitReady } from "./support/fess_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "60" },
      cameras: { type: "string", default: "10" },
      fps: { type: "string", default: "10" },
    },
  });
  const seconds = Number(values.seconds);
  const n = Number(values.cameras);
  const fps = Number(values.fps);
  const video = await mediaPath("vtest.avi");
  const [broker, rtsp] = await Promise.all([startKafka(), startRtspServer(video)]);
  const tmp = await Deno.makeTempDir({ prefix: "fess-alertbench-" });
  const topic = `bench.alert.${crypto.randomUUID().slice(0, 8)}`;
  const ids = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `rtsp-${i}` : `file-${i}`));
  const rules = {
    rules: [
      { id: "person-in", classes: ["person"], on: "enter", cooldown_seconds: 0 },
      { id: "loiter", classes: ["person"], on: "dwell", min_dwell_seconds: 2, cooldown_seconds: 5 },
    ],
  };
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const service = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--host", "127.0.0.1", "--port", String(port)],
    cwd: ROOT,
    env: {
      FESS_MODELS_DIR: modelsDir(),
      FESS_KAFKA__BROKERS: broker.brokers.join(","),
      FESS_KAFKA__TOPICS__ALERT: topic,
      FESS_KAFKA__SPOOL_DIR: `${tmp}/spool`,
      FESS_KAFKA__EVENT_LOG_PATH: `${tmp}/events.jsonl`,
      FESS_HEALTH__DISK_PATH: tmp,
      FESS_LOG_LEVEL: "warn",
      FESS_CAMERAS: JSON.stringify(Object.fromEntries(ids.map((id) => [id, rules]))),
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const kafka = new Kafka({
    brokers: broker.brokers,
    clientId: "alert-bench",
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `alert-bench-${topic}`, maxWaitTimeInMs: 10 });
  const latencies: number[] = [];
  const byRule = new Map<string, number>();
  try {
    await waitReady(url, service);
    await consumer.connect();
    // The service creates the topic on its first alert; subscribing waits for it.
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }).catch(() => false);
    await admin.disconnect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const arrived = Date.now();
        const e = JSON.parse(message.value!.toString()) as {
          captured_at?: string;
          rule_id?: string;
        };
        if (e.captured_at) latencies.push(arrived - Date.parse(e.captured_at));
        byRule.set(e.rule_id ?? "-", (byRule.get(e.rule_id ?? "-") ?? 0) + 1);
        return Promise.resolve();
      },
    });
    const cameras = ids.map((id) =>
      id.startsWith("rtsp") ? { id, url: rtsp.url, fps } : { id, url: video, fps, loop: true }
    );
    const configPath = `${tmp}/cameras.yaml`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({ server: url, duration_seconds: seconds, cameras }),
    );
    const sidecar = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cameras/main.ts", "--config", configPath, "--json"],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await sidecar.status;
    await new Promise((r) => setTimeout(r, 2000)); // the last alerts reach the consumer
    const sorted = [...latencies].sort((a, b) => a - b);
    const f = (v: number | null) => (v === null ? "-" : v.toFixed(0));
    const text = [
      `alert latency: ${n} cameras at ${fps} fps for ${seconds} s, ${navigator.hardwareConcurrency} CPUs; ` +
      `capture -> consumed from Kafka (upper bound of broker ack)`,
      `alerts  ${sorted.length}  (${[...byRule].map(([r, c]) => `${r}: ${c}`).join(", ")})`,
      `p50 ms  ${f(percentile(sorted, 50))}`,
      `p99 ms  ${f(percentile(sorted, 99))}`,
      `max ms  ${f(sorted.at(-1) ?? null)}`,
    ].join("\n");
    Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
  } finally {
    await consumer.disconnect().catch(() => {});
    try {
      service.kill("SIGTERM");
    } catch {
      // exited
    }
    await service.status;
    await rtsp.close();
    await broker.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
