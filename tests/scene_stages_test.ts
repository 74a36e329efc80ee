/**
 * The scene stages in the order the pipeline runs them — tracker → faces per track → rules →
 * snapshots → Alert events — over synthetic frames, to show their typed interfaces fit
 * together: two strangers walking into a zone give one `enter` and one `unknown_face` alert
 * each, one FaceRecognition decision per track, and every alert's snapshot is served at its
 * `snapshot_url`.
 */
import assert from "node:assert/strict";
import { createSnapshotsHandler } from "../functions/snapshots.ts";
import { mountApi } from "./support/api.ts";
import { CameraSettingsSchema } from "../shared/camera_settings.ts";
import { AlertEventSchema, type Detection } from "../shared/events.ts";
import {
  assignFacesToTracks,
  createTrackIdentities,
  type RecognizedFace,
} from "../shared/faces/track_identity.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { createRuleAlertEvent } from "../shared/rules/alert_event.ts";
import { createRulesEngine } from "../shared/rules/rules_engine.ts";
import { createMemorySnapshotStore } from "../shared/snapshots/memory_snapshot_store.ts";
import { renderSnapshot } from "../shared/snapshots/render_snapshot.ts";
import { snapshotUrl } from "../shared/snapshots/snapshot_store.ts";
import { createTracker } from "../shared/tracking/tracker.ts";

const W = 320;
const H = 240;

function walker(x: number, feetY: number): Detection {
  return {
    class_id: 0,
    class_name: "person",
    score: 0.9,
    bbox: { x1: x - 15, y1: feetY - 80, x2: x + 15, y2: feetY },
  };
}

Deno.test("tracker → faces per track → rules → snapshots → alert events", async () => {
  const camera = CameraSettingsSchema.parse({
    zones: { yard: [[0, 0.6], [1, 0.6], [1, 1], [0, 1]] },
    rules: [
      { id: "yard-enter", zone: "yard", on: "enter", classes: ["person"] },
      { id: "stranger", on: "unknown_face", cooldown_seconds: 30 },
    ],
  });
  const tracker = createTracker({
    high_threshold: 0.5,
    low_threshold: 0.1,
    new_track_threshold: 0.6,
    match_iou: 0.2,
    low_match_iou: 0.5,
    max_missed: 10,
    min_hits: 2,
    max_tracks: 64,
  });
  const faces = createTrackIdentities({
    reverifySeconds: 10,
    retrySeconds: 1,
    maxSearchesPerFrame: 4,
  });
  const rules = createRulesEngine({ cameraId: "cam-1", settings: camera });
  const store = createMemorySnapshotStore({ ttlSeconds: 60, maxBytes: 1 << 22 });
  const frame: RawFrame = {
    data: new Uint8Array(W * H * 3).fill(90),
    width: W,
    height: H,
    channels: 3,
    layout: "rgb",
  };

  const alerts = [];
  let faceSearches = 0;
  let faceEvents = 0;
  for (let i = 0; i < 20; i++) {
    const ts = 1_700_000_000_000 + i * 100;
    // Two people walk down from y=100 to y=233 (the yard starts at y=144).
    const dets = [walker(80, 100 + 7 * i), walker(240, 100 + 7 * i)];
    const tracked = tracker.update(dets, ts);
    const ended = tracked.ended.map((t) => t.track_id);
    faces.forget(ended);
    const searches = faces.select(tracked.tracks, ts);
    faceSearches += searches.length;
    // The recognizer's answer: one unmatched face at the top of each searched box.
    const found: RecognizedFace[] = searches.map((s) => ({
      bbox: { x1: s.bbox.x1 + 5, y1: s.bbox.y1 + 2, x2: s.bbox.x2 - 5, y2: s.bbox.y1 + 22 },
      detection_score: 0.9,
      face_id: null,
      name: null,
      authorized: false,
      similarity: 0.1,
    }));
    const byTrack = assignFacesToTracks(searches, found);
    for (const s of searches) {
      if (faces.record(s.track_id, byTrack.get(s.track_id) ?? null, ts).changed) faceEvents++;
    }
    const fired = rules.evaluate({
      tracks: tracked.tracks,
      ended,
      identities: faces.identities,
      frameWidth: W,
      frameHeight: H,
      timestampMs: ts,
    });
    for (const alert of fired) {
      const event = createRuleAlertEvent(alert, {
        camera_id: "cam-1",
        frame_number: i,
        snapshotUrl: (id) => snapshotUrl(id),
      });
      await store.put(event.event_id, await renderSnapshot(frame, alert.bbox, { quality: 80 }));
      alerts.push(event);
    }
  }

  assert.deepEqual(
    alerts.map((a) => `${a.rule_id}:${a.track_id}`).sort(),
    ["stranger:1", "stranger:2", "yard-enter:1", "yard-enter:2"],
  );
  assert.equal(faceEvents, 2, "one FaceRecognition event per track, not per frame");
  assert.equal(faceSearches, 2, "each track searched once (re-verify after 10 s)");
  const handler = mountApi({}, createSnapshotsHandler({ store }));
  for (const a of alerts) {
    AlertEventSchema.parse(a);
    assert.equal(a.captured_at, a.timestamp);
    assert.equal(a.object_class, "person");
    const res = await handler(new Request(`http://fess${a.snapshot_url}`));
    assert.equal(res.status, 200);
    const jpeg = new Uint8Array(await res.arrayBuffer());
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
  }
  const enter = alerts.find((a) => a.rule_id === "yard-enter")!;
  assert.equal(enter.zone, "yard");
  assert.equal(enter.alert_type, "enter");
  assert.ok(enter.bbox!.y2 >= 0.6 * H, "fired once the feet were in the yard");
});
