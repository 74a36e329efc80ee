/**
 * Accept means durable, and nothing blocks the line, against a real Kafka broker:
 *
 * - a real FESS process (`deno run main.ts`) is SIGKILLed while events are posted to
 *   `POST /events`, once during normal delivery and once during a broker outage; after a
 *   restart every event that got a 202 is in Kafka (lost must be 0; duplicates are legal);
 * - an event over the size limits is refused with a 4xx (never 202) and the next one flows;
 * - a record the broker refuses (a topic with a small `max.message.bytes`) is dead-lettered
 *   with its reason, to the file and the dead-letter topic, while later events are delivered.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createKafkaClient } from "../shared/events/kafka_client.ts";
import { ensureTopics } from "../shared/events/topics.ts";
import { consumeEvents } from "./support/kafka_consume.ts";
import { motionEvent, statusEvent } from "./support/event_fixtures.ts";
import { freePort, requireService, startKafka } from "./support/services.ts";
import { startTestApp } from "./support/app.ts";
import { Kafka, logLevel } from "kafkajs";

const kafkaTest = { ...requireService("kafka"), sanitizeOps: false, sanitizeResources: false };
const REPO = new URL("../", import.meta.url).pathname;

function tag(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** A `deno run main.ts` child process, killable like a real deployment. */
interface FessProcess {
  readonly url: string;
  kill(signal: Deno.Signal): Promise<void>;
}

async function startFess(env: Record<string, string>, log: string): Promise<FessProcess> {
  const port = freePort();
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `exec "$0" run -A main.ts --host 127.0.0.1 --port ${port} >>"$1" 2>&1`,
      Deno.execPath(),
      log,
    ],
    cwd: REPO,
    env: { ...env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  let exited = false;
  child.status.then(() => (exited = true));
  for (;;) {
    try {
      // The port opens before the app is built; /health lists components once it is.
      const res = await fetch(`${url}/health`);
      if ((await res.json()).components) break;
    } catch {
      // not listening yet
    }
    if (exited || Date.now() > deadline) {
      const text = await Deno.readTextFile(log).catch(() => "");
      throw new Error(`FESS did not start:\n${text.split("\n").slice(-20).join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    kill: async (signal) => {
      child.kill(signal);
      await child.status;
    },
  };
}

/** Posts events from `lanes` concurrent clients until `stop()`; records ids answered 202. */
function postEvents(url: string, accepted: Set<string>, lanes = 4) {
  let running = true;
  let refused = 0;
  const lane = async (k: number) => {
    for (let frame = 0; running; frame++) {
      const e = motionEvent(`cam-${k}`, frame);
      try {
        const res = await fetch(`${url}/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(e),
        });
        await res.body?.cancel();
        if (res.status === 202) accepted.add(e.event_id);
        else refused++;
      } catch {
        return; // the process is gone
      }
    }
  };
  const all = Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  return {
    get refused() {
      return refused;
    },
    stop: async () => {
      running = false;
      await all;
    },
    /** Resolves when the lanes ended by themselves (the server died). */
    ended: all,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads `topic` until every id in `wanted` was seen or `ms` pass; returns the missing ids. */
async function missingFromKafka(
  brokers: string[],
  topic: string,
  wanted: Set<string>,
  ms: number,
): Promise<{ missing: string[]; consumed: number }> {
  const seen = new Set<string>();
  let consumed = 0;
  await consumeEvents(brokers, [topic], (got) => {
    const last = got[got.length - 1]!;
    consumed = got.length;
    if (wanted.has(last.event.event_id)) seen.add(last.event.event_id);
    return seen.size >= wanted.size;
  }, ms).catch(() => {});
  return { missing: [...wanted].filter((id) => !seen.has(id)), consumed };
}

Deno.test({
  name:
    "SIGKILL of a real FESS process during delivery and during a broker outage loses no accepted (202) event",
  ...kafkaTest,
  async fn() {
    const broker = await startKafka({ dedicated: true });
    const dir = await Deno.makeTempDir({ prefix: "fess-kill-test-" });
    const log = `${dir}/fess.log`;
    const topic = `motion.kill.${tag()}`;
    const kafka = createKafkaClient({ brokers: broker.brokers, logger: silentLogger });
    await ensureTopics({ kafka, logger: silentLogger, topics: [topic], partitions: 3 });
    const env = {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      FESS_ENVIRONMENT: "test",
      FESS_LOG_LEVEL: "warn",
      FESS_MODELS_DIR: `${dir}/no-models`, // no detector: /events is all this test needs
      FESS_FACES__ENABLED: "false",
      FESS_HEALTH__DISK_PATH: dir,
      FESS_KAFKA__BROKERS: broker.brokers.join(","),
      FESS_KAFKA__TOPICS__MOTION: topic,
      FESS_KAFKA__TOPICS__DEAD_LETTER: `dead.${topic}`,
      FESS_KAFKA__SPOOL_DIR: `${dir}/wal`,
      FESS_KAFKA__RETRIES: "2",
    };
    const accepted = new Set<string>();
    let fess: FessProcess | null = null;
    try {
      // 1. Normal delivery: killed while requests are in flight to the broker.
      fess = await startFess(env, log);
      const normal = postEvents(fess.url, accepted);
      await sleep(1_500);
      await fess.kill("SIGKILL");
      await normal.ended;
      const afterNormal = accepted.size;
      assert.ok(afterNormal > 20, `${afterNormal} events accepted before the first kill`);

      // 2. Broker outage: events pile up in the log; killed while the broker is down.
      fess = await startFess(env, log);
      const outage = postEvents(fess.url, accepted);
      await sleep(500);
      await broker.stop();
      await sleep(2_000);
      const health = await (await fetch(`${fess.url}/health`)).json();
      assert.ok(health.components.kafka.queued > 0, "undelivered events are queued in the log");
      assert.equal(health.components.kafka.healthy, false, "a 2 s old backlog is degraded");
      await fess.kill("SIGKILL");
      await outage.ended;
      assert.ok(accepted.size > afterNormal + 20, "events were accepted during the outage");

      // 3. Broker back, FESS restarted: the log is delivered.
      await broker.start();
      fess = await startFess(env, log);
      const deadline = Date.now() + 90_000;
      for (;;) {
        const h = await (await fetch(`${fess.url}/health`)).json();
        if (h.components.kafka.queued === 0 && h.components.kafka.state === "connected") break;
        if (Date.now() > deadline) throw new Error(`log not drained: ${JSON.stringify(h)}`);
        await sleep(250);
      }
      const { missing, consumed } = await missingFromKafka(broker.brokers, topic, accepted, 60_000);
      // deno-lint-ignore no-console
      console.log(
        `    kill test: ${accepted.size} accepted (202), ${consumed} consumed, ` +
          `${consumed - (accepted.size - missing.length)} duplicates or unacknowledged, ` +
          `${missing.length} lost`,
      );
      assert.equal(missing.length, 0, `lost ${missing.length} accepted events`);
    } finally {
      await fess?.kill("SIGKILL").catch(() => {});
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

async function post(
  url: string,
  body: unknown,
  query = "",
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${url}/events${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test({
  name:
    "an event over the size limits is refused with 4xx (never 202) and the next one is delivered",
  ...kafkaTest,
  async fn() {
    const broker = await startKafka();
    const topics = { system: `status.size.${tag()}`, motion: `motion.size.${tag()}` };
    const t = await startTestApp({
      FESS_KAFKA__BROKERS: broker.brokers.join(","),
      FESS_KAFKA__TOPICS__SYSTEM: topics.system,
      FESS_KAFKA__TOPICS__MOTION: topics.motion,
      FESS_KAFKA__MAX_EVENT_BYTES: "50000",
      FESS_FACES__ENABLED: "false",
    }, "error");
    try {
      // Over the detail field's 64 KiB (under the 1 MiB body limit): the per-field limit.
      const huge = { ...statusEvent("cam-1", 1), detail: { blob: "x".repeat(100_000) } };
      const a = await post(t.url, huge);
      assert.equal(a.status, 422);
      assert.match(JSON.stringify(a.body), /detail is 1000\d\d bytes as JSON; the limit is 65536/);
      // Under every field limit but over kafka.max_event_bytes: 413 with size and limit.
      const wide = motionEvent("cam-1", 2, 60_000);
      const b = await post(t.url, wide);
      assert.equal(b.status, 413);
      assert.equal(b.body.code, "event_too_large");
      assert.equal(b.body.detail.limit_bytes, 50_000);
      assert.ok(b.body.detail.size_bytes > 50_000);
      // The line is not blocked.
      const next = motionEvent("cam-1", 3);
      const c = await post(t.url, next, "?wait=true");
      assert.equal(c.status, 200, JSON.stringify(c.body));
      assert.equal(c.body.status, "delivered");
      const got = await consumeEvents(broker.brokers, [topics.motion], (g) => g.length >= 1);
      assert.deepEqual(got.map((g) => g.event.event_id), [next.event_id]);
    } finally {
      await t.close();
      await broker.close();
    }
  },
});

Deno.test({
  name:
    "a record the broker refuses (topic max.message.bytes) is dead-lettered with its reason while later ones flow",
  ...kafkaTest,
  async fn() {
    const broker = await startKafka();
    const topic = `motion.small.${tag()}`;
    const deadTopic = `dead.${tag()}`;
    const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{
        topic,
        numPartitions: 1,
        configEntries: [{ name: "max.message.bytes", value: "4096" }],
      }],
    });
    await admin.disconnect();
    const t = await startTestApp({
      FESS_KAFKA__BROKERS: broker.brokers.join(","),
      FESS_KAFKA__TOPICS__MOTION: topic,
      FESS_KAFKA__TOPICS__DEAD_LETTER: deadTopic,
      FESS_KAFKA__ACKS: "1",
      FESS_FACES__ENABLED: "false",
    }, "error");
    try {
      const before = motionEvent("cam-1", 1);
      const big = motionEvent("cam-1", 2, 8_000); // under our 900 KB cap, over the topic's 4 KB
      const after = [3, 4, 5, 6].map((i) => motionEvent("cam-1", i));
      // Posted back to back, so the refused record shares a batch with the others.
      for (const e of [before, big, ...after]) assert.equal((await post(t.url, e)).status, 202);
      const again = await post(t.url, motionEvent("cam-1", 7, 8_000), "?wait=true");
      assert.equal(again.status, 202);
      assert.equal(again.body.status, "dead_lettered");
      assert.equal(again.body.reason, "MESSAGE_TOO_LARGE");
      const last = await post(t.url, motionEvent("cam-1", 8), "?wait=true");
      assert.equal(last.status, 200);

      const got = await consumeEvents(broker.brokers, [topic], (g) => g.length >= 6);
      assert.deepEqual(
        got.map((g) => g.event.frame_number),
        [1, 3, 4, 5, 6, 8],
        "later events delivered, in order",
      );
      const health = await (await fetch(`${t.url}/health`)).json();
      assert.equal(health.components.kafka.dead_letters, 2);
      assert.equal(health.components.kafka.queued, 0, "refused records do not hold the log");

      // The dead-letter topic has a summary with the reason.
      const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `dl-${tag()}` });
      await consumer.connect();
      await consumer.subscribe({ topics: [deadTopic], fromBeginning: true });
      const summary = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no dead-letter summary")), 30_000);
        consumer.run({
          eachMessage: ({ message }) => {
            clearTimeout(timer);
            resolve(JSON.parse(message.value!.toString()));
            return Promise.resolve();
          },
        });
      });
      await consumer.disconnect();
      assert.equal(summary.event_id, big.event_id);
      assert.equal(summary.reason, "MESSAGE_TOO_LARGE");
      assert.equal(summary.topic, topic);
    } finally {
      await t.close();
      await broker.close();
    }
  },
});
