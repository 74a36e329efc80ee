/**
 * End to end through {@link createApp} with real Redis and a real Kafka broker
 * (tests/support/services.ts), served over real HTTP on loopback: health, face enrolment from
 * JPEG crops of the group photo, detection of the whole photo, the events consumed back from
 * Kafka, the detection cache in Redis, the motion gate on a repeated frame, alert snapshots
 * behind the API key until their TTL, the metrics, and a flushing shutdown.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { Redis } from "ioredis";
import sharp from "sharp";
import { createApp } from "../app.ts";
import { getModelManifest } from "../models/registry.ts";
import { loadConfig } from "../shared/config.ts";
import { silentLogger } from "../shared/logger.ts";
import { mediaPath, modelPath, modelsDir } from "./support/media.ts";
import { requireService, startKafka, startRedis } from "./support/services.ts";
import { consumeEvents } from "./support/kafka_consume.ts";
import type { FessEvent } from "../shared/events.ts";
import { find, parseExposition } from "./support/prometheus_text.ts";

const integration = {
  // Either service missing ignores the test (outside CI); spreading both would let the second
  // `ignore: false` override the first `ignore: true`.
  ...requireService("redis", "kafka"),
  sanitizeOps: false,
  sanitizeResources: false,
};

const API_KEY = "integration-test-key-0123456789";

/** Records on each topic (sum of partition high watermarks). */
async function topicSizes(brokers: string[], topics: string[]): Promise<Record<string, number>> {
  const admin = new Kafka({ brokers, clientId: "fess-app-test", logLevel: logLevel.NOTHING })
    .admin();
  await admin.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of topics) {
      const offsets = await admin.fetchTopicOffsets(t);
      out[t] = offsets.reduce((s, p) => s + Number(p.high), 0);
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Value of the Prometheus sample `name{labels...}` (label order ignored), or null. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  return find(parseExposition(text), name, labels)[0]?.value ?? null;
}

/** FaceRecognition events of a frame (faces of a track: its first identity) and its alerts. */
function expectedEvents(body: DetectBody): { faces: number; alerts: number } {
  const tracked = body.faces.filter((f) => f.track_id !== null);
  return { faces: tracked.length, alerts: tracked.filter((f) => !f.authorized).length };
}

interface FaceBox {
  bbox: { x1: number; y1: number; x2: number; y2: number };
  detection_score: number;
}

interface DetectBody {
  camera_id: string;
  frame_number: number;
  detection_ran: boolean;
  width: number;
  height: number;
  motion: { detected: boolean; score: number };
  model: { id: string; backend: string };
  detections: { class_name: string; score: number }[];
  cached: boolean | null;
  faces: {
    face_id: string | null;
    authorized: boolean;
    similarity: number | null;
    track_id: number | null;
  }[];
  events: { published: string[]; rejected: unknown[] };
}

Deno.test({
  name:
    "createApp over real Redis and Kafka: enrol, detect, events on Kafka, detection cache, motion gate, metrics",
  ...integration,
  async fn(t) {
    // Fail loudly, naming the path, when the shared assets are missing.
    for (const id of ["rtmdet-nano-person", "yunet-face", "mobilefacenet-128"]) {
      await modelPath(getModelManifest(id).file);
    }
    const photoPath = await mediaPath("group-13-people.jpg");
    const photo = await Deno.readFile(photoPath);

    const [redisServer, broker] = await Promise.all([startRedis(), startKafka()]);
    const run = crypto.randomUUID().slice(0, 8);
    const topics = {
      motion: `app.motion.${run}`,
      face: `app.face.${run}`,
      alert: `app.alert.${run}`,
      system: `app.status.${run}`,
    };
    const cam = `cam-app-${run}`;
    const spoolDir = await Deno.makeTempDir({ prefix: "fess-app-spool-" });
    const config = loadConfig({
      FESS_ENVIRONMENT: "test",
      FESS_REDIS__URL: redisServer.url,
      FESS_KAFKA__BROKERS: broker.brokers.join(","),
      FESS_KAFKA__ACKS: "all",
      FESS_KAFKA__SPOOL_DIR: spoolDir,
      FESS_KAFKA__EVENT_LOG_PATH: `${spoolDir}/events.jsonl`,
      FESS_KAFKA__TOPIC_PARTITIONS: "1",
      FESS_KAFKA__TOPICS__MOTION: topics.motion,
      FESS_KAFKA__TOPICS__FACE: topics.face,
      FESS_KAFKA__TOPICS__ALERT: topics.alert,
      FESS_KAFKA__TOPICS__SYSTEM: topics.system,
      FESS_MODELS_DIR: modelsDir(),
      FESS_DETECTOR__BACKEND: "native",
      FESS_DETECTOR__WARMUP: "false",
      // The frame waits this long for its cache write, so `cached: true` is deterministic on a
      // busy box (the default bound is short; cache_write_test covers a stalled Redis).
      FESS_CACHE__DETECTION_WRITE_WAIT_MS: "5000",
      FESS_SERVER__API_KEYS: API_KEY,
      // One photo, one frame: every person a track confirmed on it (the nano model scores some
      // people below the default new-track bar) and every face searched in it.
      FESS_TRACKER__MIN_HITS: "1",
      FESS_TRACKER__HIGH_THRESHOLD: "0.3",
      FESS_TRACKER__NEW_TRACK_THRESHOLD: "0.3",
      FESS_FACES__MAX_SEARCHES_PER_FRAME: "64",
      // Long enough to outlive the later steps on a busy box; the expiry step waits it out.
      FESS_SNAPSHOTS__TTL_SECONDS: "10",
      // A busy 2-core CI box must not turn the system check (and the status) degraded.
      FESS_HEALTH__CPU_THRESHOLD_PERCENT: "100",
      FESS_HEALTH__MEMORY_THRESHOLD_PERCENT: "100",
      FESS_HEALTH__DISK_THRESHOLD_PERCENT: "100",
    }, undefined);

    const app = await createApp({ config, logger: silentLogger });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => app.fetch(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const auth = { authorization: `Bearer ${API_KEY}` };
    const redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    let closed = false;

    try {
      await t.step("GET /health is healthy with redis, kafka and the native detector", async () => {
        // Component details need a key; without one /health shows only the status.
        const res = await fetch(`${base}/health`, { headers: auth });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(body.status, "healthy", JSON.stringify(body.components));
        const { redis: r, kafka: k, detector: d } = body.components;
        assert.equal(r.healthy, true);
        assert.equal(r.mode, "redis");
        assert.equal(k.healthy, true);
        assert.equal(k.mode, "kafka");
        assert.deepEqual(k.brokers, broker.brokers);
        assert.equal(d.healthy, true);
        assert.equal(d.backend, "native");
        assert.equal(d.model, "rtmdet-nano-person");
        assert.equal(d.faces, "enabled");
      });

      await t.step("protected routes answer 401 without the API key", async () => {
        for (
          const [method, path] of [["PUT", "/faces/anyone"], ["POST", `/detect/${cam}`]] as const
        ) {
          const res = await fetch(`${base}${path}`, {
            method,
            headers: { "content-type": "image/jpeg" },
            body: photo,
          });
          const body = await res.json();
          assert.equal(res.status, 401, `${method} ${path}`);
          assert.equal(body.code, "unauthorized");
        }
        const wrong = await fetch(`${base}/faces`, { headers: { "x-api-key": "x".repeat(24) } });
        await wrong.body?.cancel();
        assert.equal(wrong.status, 401);
      });

      // The app's own face pipeline finds the faces to crop; three are enrolled from JPEGs.
      const enrolled = [
        { id: `staff-a-${run}`, authorized: true },
        { id: `visitor-${run}`, authorized: false },
        { id: `staff-b-${run}`, authorized: true },
      ];
      await t.step(
        "faces cropped from the group photo are enrolled via PUT /faces/{id}",
        async () => {
          const res = await fetch(`${base}/faces/match`, {
            method: "POST",
            headers: { ...auth, "content-type": "image/jpeg" },
            body: photo,
          });
          const body = await res.json() as { faces: FaceBox[]; count: number };
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.ok(body.count >= 13, `faces found in the group photo: ${body.count}`);
          // The most confident faces, cropped with a margin like tests/recognition_test.ts.
          const faces = [...body.faces].sort((a, b) => b.detection_score - a.detection_score);
          const meta = await sharp(photoPath).metadata();
          for (const [i, who] of enrolled.entries()) {
            const b = faces[i]!.bbox;
            const w = b.x2 - b.x1, h = b.y2 - b.y1;
            const left = Math.max(0, Math.round(b.x1 - 0.25 * w));
            const top = Math.max(0, Math.round(b.y1 - 0.2 * h));
            const width = Math.min(meta.width! - left, Math.round(w * 1.5));
            const height = Math.min(meta.height! - top, Math.round(h * 1.4));
            const jpeg = await sharp(photoPath).extract({ left, top, width, height })
              .jpeg({ quality: 95 }).toBuffer();
            const put = await fetch(
              `${base}/faces/${who.id}?name=${who.id}&authorized=${who.authorized}`,
              {
                method: "PUT",
                headers: { ...auth, "content-type": "image/jpeg" },
                body: new Uint8Array(jpeg),
              },
            );
            const rec = await put.json();
            assert.equal(put.status, 201, `${who.id}: ${JSON.stringify(rec)}`);
            assert.equal(rec.face_id, who.id);
            assert.equal(rec.metadata.authorized, who.authorized);
            assert.equal(rec.source, "image");
            // Stored in the real Redis, not only in the process.
            assert.equal(await redis.exists(`face:${who.id}`), 1);
            assert.equal(await redis.sismember("faces:ids", who.id), 1);
          }
          assert.equal(app.gallery.size, enrolled.length);
        },
      );

      let first: DetectBody | undefined;
      await t.step(
        "POST /detect/{cam} detects the people and matches the enrolled faces",
        async () => {
          const res = await fetch(`${base}/detect/${cam}?frame_number=1`, {
            method: "POST",
            headers: { ...auth, "content-type": "image/jpeg" },
            body: photo,
          });
          const body = await res.json() as DetectBody;
          assert.equal(res.status, 200, JSON.stringify(body));
          first = body;
          assert.equal(body.camera_id, cam);
          assert.equal(body.frame_number, 1);
          assert.equal(body.detection_ran, true);
          assert.deepEqual(body.motion, { detected: true, score: 1 });
          assert.deepEqual([body.width, body.height], [1024, 707]);
          assert.equal(body.model.backend, "native");
          const people = body.detections.filter((d) => d.class_name === "person");
          assert.ok(people.length >= 11, `person detections: ${people.length}`);
          assert.equal(body.cached, true);
          const faces = body.faces ?? [];
          assert.ok(faces.length >= 11, `faces recognised in person boxes: ${faces.length}`);
          for (const who of enrolled) {
            const hits = faces.filter((f) => f.face_id === who.id);
            assert.equal(hits.length, 1, `${who.id} recognised once: ${JSON.stringify(faces)}`);
            assert.equal(hits[0]!.authorized, who.authorized);
          }
          assert.ok(faces.some((f) => f.face_id === null), "the other people are unknown");
          assert.ok(faces.filter((f) => f.face_id === null).every((f) => !f.authorized));
          assert.ok(
            faces.every((f) => (f.face_id === null) === (f.similarity === null)),
            "similarity is null exactly when no face matched",
          );
          const events = body.events!;
          assert.deepEqual(events.rejected, []);
          // Motion + one per person track's face + an alert per track whose face is unknown or
          // not authorised (the visitor, and every stranger: cooldown per track).
          const want = expectedEvents(body);
          assert.ok(want.faces >= 11 && want.alerts >= 9, JSON.stringify(want));
          assert.equal(events.published.length, 1 + want.faces + want.alerts);
        },
      );

      await t.step(
        "the detections of frame 1 are cached in Redis under detection:{cam}:1",
        async () => {
          const raw = await redis.get(`detection:${cam}:1`);
          assert.ok(raw, "key exists");
          const cached = JSON.parse(raw) as { detections: unknown[]; timestamp: string };
          assert.deepEqual(cached.detections, first!.detections);
          assert.ok(!Number.isNaN(Date.parse(cached.timestamp)));
          const ttl = await redis.ttl(`detection:${cam}:1`);
          assert.ok(ttl > 0 && ttl <= config.cache.detection_ttl_seconds, `ttl ${ttl}`);
        },
      );

      await t.step(
        "the same frame again is not detected: no motion, nothing published",
        async () => {
          const res = await fetch(`${base}/detect/${cam}?frame_number=2`, {
            method: "POST",
            headers: { ...auth, "content-type": "image/jpeg" },
            body: photo,
          });
          const body = await res.json() as DetectBody;
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.equal(body.frame_number, 2);
          assert.equal(body.detection_ran, false);
          assert.equal(body.motion.detected, false);
          assert.equal(body.motion.score, 0);
          assert.deepEqual(body.detections, []);
          assert.deepEqual(body.events, { published: [], rejected: [] }, "no events");
          assert.deepEqual(body.faces, []);
          assert.equal(body.cached, null);
          assert.equal(await redis.exists(`detection:${cam}:2`), 0, "nothing cached");
        },
      );

      await t.step("alert snapshots are served behind the API key until their TTL", async () => {
        await app.pipeline.settled();
        const keys = await redis.keys("snapshot:*");
        assert.equal(keys.length, expectedEvents(first!).alerts, "one snapshot per alert");
        // The youngest snapshot: it is the one surest to be there for the fetch below.
        const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
        const youngest = ttls.indexOf(Math.max(...ttls));
        const id = keys[youngest]!.slice("snapshot:".length);
        const ttl = ttls[youngest]!;
        assert.ok(ttl > 0 && ttl <= 10_000, `snapshot TTL ${ttl} ms`);
        const noKey = await fetch(`${base}/snapshots/${id}`);
        assert.equal(noKey.status, 401);
        await noKey.body?.cancel();
        const res = await fetch(`${base}/snapshots/${id}`, { headers: auth });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "image/jpeg");
        const meta = await sharp(new Uint8Array(await res.arrayBuffer())).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 1024, 707]);
        await new Promise((r) => setTimeout(r, ttl + 200));
        const gone = await fetch(`${base}/snapshots/${id}`, { headers: auth });
        assert.equal(gone.status, 404, "expired with its TTL");
        await gone.body?.cancel();
      });

      await t.step("GET /metrics counts detections, recognitions and sent events", async () => {
        await app.publisher.flush();
        const res = await fetch(`${base}/metrics`);
        assert.equal(res.status, 200);
        const text = await res.text();
        const people = first!.detections.filter((d) => d.class_name === "person").length;
        assert.equal(
          sample(text, "fess_detections_total", { camera_id: cam, object_class: "person" }),
          people,
        );
        const faces = first!.faces!;
        const authorized = faces.filter((f) => f.authorized).length;
        assert.equal(
          sample(text, "fess_face_recognitions_total", { camera_id: cam, authorized: "true" }),
          authorized,
        );
        assert.equal(
          sample(text, "fess_face_recognitions_total", { camera_id: cam, authorized: "false" }),
          faces.length - authorized,
        );
        const sent = (topic: string) =>
          sample(text, "fess_kafka_events_sent_total", { topic, status: "sent" });
        const want = expectedEvents(first!);
        assert.equal(sent(topics.motion), 1);
        assert.equal(sent(topics.face), want.faces);
        assert.equal(sent(topics.alert), want.alerts);
        assert.equal(
          sample(text, "fess_kafka_events_sent_total", {
            topic: topics.motion,
            status: "dead_lettered",
          }),
          null,
          "nothing dead-lettered",
        );
        assert.equal(sample(text, "fess_active_cameras", {}), 1);
      });

      await t.step("app.close() flushes everything", async () => {
        await app.close();
        closed = true;
        assert.equal(app.publisher.queued, 0);
      });

      await t.step("the events come back from Kafka, keyed by camera and valid", async () => {
        const want = expectedEvents(first!);
        const expected = 1 + want.faces + want.alerts;
        const all = [topics.motion, topics.face, topics.alert];
        const got = await consumeEvents(broker.brokers, all, (g) => g.length >= expected, 30_000);
        assert.equal(got.length, expected);
        // Exactly what was published, nothing for the still frame 2.
        assert.deepEqual(await topicSizes(broker.brokers, all), {
          [topics.motion]: 1,
          [topics.face]: want.faces,
          [topics.alert]: want.alerts,
        });
        assert.deepEqual(
          got.map((c) => c.event.event_id).sort(),
          [...first!.events!.published].sort(),
        );
        for (const c of got) {
          assert.equal(c.key, cam);
          assert.equal(c.event.camera_id, cam);
          assert.equal(c.event.frame_number, 1);
        }

        const motion = got.filter((c) => c.event.event_type === "motion_detection");
        assert.equal(motion.length, 1);
        assert.equal(motion[0]!.topic, topics.motion);
        const m = motion[0]!.event as Extract<FessEvent, { event_type: "motion_detection" }>;
        assert.equal(m.detections.length, first!.detections.length);
        assert.deepEqual(m.detections, first!.detections);
        assert.deepEqual([m.frame_width, m.frame_height], [1024, 707]);
        assert.equal(m.motion_score, 1);

        const faceEvents = got.filter((c) => c.event.event_type === "face_recognition")
          .map((c) => {
            assert.equal(c.topic, topics.face);
            return c.event as Extract<FessEvent, { event_type: "face_recognition" }>;
          });
        assert.equal(faceEvents.length, want.faces);
        assert.ok(faceEvents.every((f) => f.track_id! >= 1), "each names its person track");
        for (const who of enrolled) {
          const e = faceEvents.find((f) => f.face_id === who.id);
          assert.ok(e, `face_recognition event for ${who.id}`);
          assert.equal(e.authorized, who.authorized);
          assert.equal(e.name, who.id);
          assert.ok(e.similarity >= config.faces.match_threshold);
        }
        assert.ok(faceEvents.some((f) => f.face_id === null));
        assert.ok(!JSON.stringify(got.map((c) => c.raw)).includes("encoding"), "no encodings");

        const alerts = got.filter((c) => c.event.event_type === "alert").map((c) => {
          assert.equal(c.topic, topics.alert);
          return c.event as Extract<FessEvent, { event_type: "alert" }>;
        });
        const visitor = alerts.filter((a) => a.alert_type === "unauthorized_face");
        assert.deepEqual(visitor.map((a) => a.face_id), [`visitor-${run}`]);
        assert.equal(visitor[0]!.severity, "critical");
        const strangers = alerts.filter((a) => a.alert_type === "unknown_face");
        assert.equal(strangers.length, want.alerts - 1, "one alert per stranger's track");
        assert.equal(new Set(alerts.map((a) => a.track_id)).size, alerts.length);
        assert.ok(strangers.every((a) => a.severity === "warning" && a.face_id === null));
        for (const a of alerts) {
          assert.equal(a.snapshot_url, `/snapshots/${a.event_id}`);
          assert.equal(a.captured_at, a.timestamp);
          assert.equal(a.object_class, "person");
        }
      });
    } finally {
      if (!closed) await app.close();
      await server.shutdown();
      redis.disconnect();
      await redisServer.close();
      await broker.close();
      await Deno.remove(spoolDir, { recursive: true }).catch(() => {});
    }
  },
});
