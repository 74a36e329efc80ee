import assert from "node:assert/strict";
import { DETECTION_LATENCY_BUCKETS } from "../shared/metrics.ts";
import { mediaPath, vtestFramesJpeg } from "./support/media.ts";
import { startTestApp } from "./support/app.ts";
import { find, parseExposition } from "./support/prometheus_text.ts";
import { createMotionDetectionEvent } from "../shared/events.ts";

const KEY = "metrics-test-key-0123456789";

Deno.test("/metrics exposes every FESS metric with its type, labels and buckets after real work", async () => {
  // Every person a track confirmed on its first frame, every track searched for its face at
  // once: the group photo's faces are recognised in one frame.
  const t = await startTestApp({
    FESS_SERVER__API_KEYS: KEY,
    FESS_TRACKER__MIN_HITS: "1",
    FESS_TRACKER__HIGH_THRESHOLD: "0.3",
    FESS_TRACKER__NEW_TRACK_THRESHOLD: "0.3",
    FESS_FACES__MAX_SEARCHES_PER_FRAME: "64",
  });
  try {
    const auth = { authorization: `Bearer ${KEY}` };
    // Real detections: two moving vtest frames on one camera, the group photo on another.
    const frames = await vtestFramesJpeg([100, 140]);
    for (const [i, jpeg] of frames.entries()) {
      const res = await fetch(`${t.url}/detect/plaza?frame_number=${i}`, {
        method: "POST",
        headers: { ...auth, "content-type": "image/jpeg" },
        body: jpeg,
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    }
    const group = await Deno.readFile(await mediaPath("group-13-people.jpg"));
    const g = await fetch(`${t.url}/detect/lobby`, {
      method: "POST",
      headers: { ...auth, "content-type": "image/jpeg" },
      body: group,
    });
    const gBody = await g.json();
    const persons = gBody.detections.length;
    assert.ok(persons >= 11, `group photo: ${persons} detections`);

    // Cache operations: enrol, a hit and a miss.
    const encoding = Array.from({ length: 128 }, (_, i) => Math.sin(i + 1));
    const put = await fetch(`${t.url}/faces/alice`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ encoding, metadata: { name: "Alice", authorized: true } }),
    });
    assert.equal(put.status, 201);
    await put.body?.cancel();
    for (const id of ["alice", "nobody"]) {
      (await fetch(`${t.url}/faces/${id}`, { headers: auth })).body?.cancel();
    }

    // A publish through the API.
    const ev = createMotionDetectionEvent({
      camera_id: "ext",
      frame_number: 1,
      motion_score: 0.5,
      detections: [],
      frame_width: 10,
      frame_height: 10,
    });
    const pub = await fetch(`${t.url}/events?wait=true`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(ev),
    });
    assert.ok(pub.status === 200 || pub.status === 202, `publish status ${pub.status}`);
    await pub.body?.cancel();
    await t.app.publisher.flush();

    const res = await fetch(`${t.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const e = parseExposition(await res.text());

    const expectType = (name: string, type: string) =>
      assert.equal(e.types.get(name), type, `${name} type`);
    expectType("fess_detections_total", "counter");
    expectType("fess_detection_latency_seconds", "histogram");
    expectType("fess_face_recognitions_total", "counter");
    expectType("fess_face_cache_hits_total", "counter");
    expectType("fess_face_cache_misses_total", "counter");
    expectType("fess_kafka_events_sent_total", "counter");
    expectType("fess_active_cameras", "gauge");
    expectType("fess_fps", "gauge");
    expectType("fess_cpu_usage_percent", "gauge");
    expectType("fess_memory_usage_bytes", "gauge");
    assert.ok(
      [...e.types.keys()].some((n) => n === "fess_process_cpu_user_seconds_total"),
      "default process metrics under fess_",
    );
    assert.ok(
      ![...e.types.keys()].some((n) => n.startsWith("process_")),
      "no unprefixed default metrics",
    );

    const lobby = find(e, "fess_detections_total", { camera_id: "lobby", object_class: "person" });
    assert.equal(lobby.length, 1);
    assert.equal(lobby[0]!.value, persons);
    assert.ok(
      find(e, "fess_detections_total", { camera_id: "plaza", object_class: "person" })[0]!.value >=
        1,
    );

    const buckets = find(e, "fess_detection_latency_seconds_bucket", { camera_id: "lobby" }).map((
      s,
    ) => s.labels.le);
    assert.deepEqual(buckets, [...DETECTION_LATENCY_BUCKETS.map(String), "+Inf"]);
    assert.equal(
      find(e, "fess_detection_latency_seconds_count", { camera_id: "plaza" })[0]!.value,
      2,
    );

    // Faces in the group photo were recognised (none enrolled from it: all unauthorised).
    const faces = find(e, "fess_face_recognitions_total", {
      camera_id: "lobby",
      authorized: "false",
    });
    assert.ok(
      faces.length === 1 && faces[0]!.value >= 10,
      `face recognitions ${JSON.stringify(faces)}`,
    );
    assert.ok(find(e, "fess_face_cache_hits_total")[0]!.value >= 1);
    assert.ok(find(e, "fess_face_cache_misses_total")[0]!.value >= 1);

    const sent = find(e, "fess_kafka_events_sent_total", { status: "sent" });
    assert.ok(
      sent.some((s) => s.labels.topic === "motion.detection.events" && s.value >= 4),
      JSON.stringify(sent),
    );
    assert.ok(sent.some((s) => s.labels.topic === "face.recognition.events"));

    assert.equal(find(e, "fess_active_cameras")[0]!.value, 2);
    assert.equal(find(e, "fess_fps", { camera_id: "plaza" }).length, 1);
    assert.ok(find(e, "fess_memory_usage_bytes")[0]!.value > 10_000_000);
    assert.ok(find(e, "fess_cpu_usage_percent")[0]!.value >= 0);
  } finally {
    await t.close();
  }
});

Deno.test("camera ids that would explode label cardinality are refused before any metric is touched", async () => {
  const t = await startTestApp({});
  try {
    const res = await fetch(`${t.url}/detect/${"x".repeat(65)}`, {
      method: "POST",
      headers: { "content-type": "image/jpeg" },
      body: "x",
    });
    assert.equal(res.status, 400);
    await res.body?.cancel();
    const text = await (await fetch(`${t.url}/metrics`)).text();
    assert.doesNotMatch(text, /x{65}/);
  } finally {
    await t.close();
  }
});
