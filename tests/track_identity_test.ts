import assert from "node:assert/strict";
import {
  assignFacesToTracks,
  createTrackIdentities,
  type IdentityTrack,
  type RecognizedFace,
} from "../shared/faces/track_identity.ts";

const OPTIONS = { reverifySeconds: 10, retrySeconds: 1, maxSearchesPerFrame: 4 };

function person(id: number, extra: Partial<IdentityTrack> = {}): IdentityTrack {
  return {
    track_id: id,
    class_name: "person",
    phase: "update",
    bbox: { x1: id * 100, y1: 0, x2: id * 100 + 80, y2: 200 },
    ...extra,
  };
}

function face(faceId: string | null, extra: Partial<RecognizedFace> = {}): RecognizedFace {
  return {
    bbox: { x1: 0, y1: 0, x2: 10, y2: 10 },
    detection_score: 0.9,
    face_id: faceId,
    name: faceId === null ? null : faceId.toUpperCase(),
    authorized: faceId === "alice",
    similarity: faceId === null ? 0.2 : 0.8,
    ...extra,
  };
}

const ids = (searches: { track_id: number }[]) => searches.map((s) => s.track_id);

Deno.test("only person tracks seen in this frame are searched", () => {
  const policy = createTrackIdentities(OPTIONS);
  const chosen = policy.select([
    person(1),
    person(2, { phase: "lost" }),
    person(3, { class_name: "car" }),
    person(4, { phase: "new" }),
  ], 0);
  assert.deepEqual(ids(chosen), [1, 4]);
  assert.deepEqual(chosen[0]!.bbox, person(1).bbox, "searched inside the track's own box");
});

Deno.test("a track is searched while it has no face, at most once per retry interval", () => {
  const policy = createTrackIdentities(OPTIONS);
  const searchedAt: number[] = [];
  for (let ms = 0; ms <= 3_000; ms += 100) {
    if (policy.select([person(1)], ms).length > 0) {
      searchedAt.push(ms);
      assert.deepEqual(policy.record(1, null, ms), { identity: null, changed: false });
    }
  }
  assert.deepEqual(searchedAt, [0, 1_000, 2_000, 3_000]);
});

Deno.test("an identified track is re-verified every reverify_seconds, not every frame", () => {
  const policy = createTrackIdentities(OPTIONS);
  policy.select([person(1)], 0);
  const first = policy.record(1, face("alice"), 0);
  assert.equal(first.changed, true, "first identity: publish");
  assert.equal(first.identity!.status, "known");
  const searchedAt: number[] = [];
  for (let ms = 100; ms <= 25_000; ms += 100) {
    if (policy.select([person(1)], ms).length > 0) {
      searchedAt.push(ms);
      assert.equal(policy.record(1, face("alice"), ms).changed, false, "same face: no event");
    }
  }
  assert.deepEqual(searchedAt, [10_000, 20_000]);
  assert.equal(policy.identities.get(1)!.verified_ms, 20_000);
});

Deno.test("a changed identity is news: other face, unknown to known, authorisation change", () => {
  const policy = createTrackIdentities(OPTIONS);
  assert.equal(policy.record(1, face(null), 0).changed, true, "unknown face seen");
  assert.equal(policy.record(1, face(null), 1).changed, false, "still unknown");
  assert.equal(policy.record(1, face("bob"), 2).changed, true, "unknown -> bob");
  assert.equal(policy.record(1, face("bob", { authorized: true }), 3).changed, true);
  assert.equal(policy.record(1, face("alice"), 4).changed, true, "bob -> alice");
  assert.equal(policy.record(1, null, 5).changed, false, "no face: identity kept");
  assert.equal(policy.identities.get(1)!.face_id, "alice");
});

Deno.test("searches per frame are capped; never-searched and longest-waiting tracks first", () => {
  const policy = createTrackIdentities({ ...OPTIONS, maxSearchesPerFrame: 2 });
  const crowd = [1, 2, 3, 4, 5].map((id) => person(id));
  assert.deepEqual(ids(policy.select(crowd, 0)), [1, 2]);
  assert.deepEqual(ids(policy.select(crowd, 100)), [3, 4]);
  assert.deepEqual(ids(policy.select(crowd, 200)), [5]);
  assert.deepEqual(ids(policy.select(crowd, 300)), [], "all searched within the retry interval");
  // A newcomer goes before the tracks waiting for their retry.
  assert.deepEqual(ids(policy.select([...crowd, person(6, { phase: "new" })], 1_000)), [6, 1]);
});

Deno.test("ended tracks are forgotten and state stays bounded", () => {
  const policy = createTrackIdentities({ ...OPTIONS, maxTracks: 3 });
  for (let id = 1; id <= 5; id++) policy.record(id, face(null), id);
  assert.equal(policy.size, 3);
  assert.deepEqual([...policy.identities.keys()].sort(), [3, 4, 5]);
  policy.forget([4, 5]);
  assert.equal(policy.size, 1);
  assert.deepEqual([...policy.identities.keys()], [3]);
});

Deno.test("faces go to the track whose box holds them, highest in the box when boxes overlap", () => {
  const searches = [
    { track_id: 1, bbox: { x1: 0, y1: 0, x2: 100, y2: 300 } },
    { track_id: 2, bbox: { x1: 50, y1: 100, x2: 150, y2: 400 } }, // overlaps 1's lower half
    { track_id: 3, bbox: { x1: 500, y1: 0, x2: 600, y2: 300 } },
  ];
  const at = (x: number, y: number, score = 0.9) => ({
    bbox: { x1: x - 10, y1: y - 10, x2: x + 10, y2: y + 10 },
    detection_score: score,
  });
  const faces = [
    at(75, 120), // inside both: near 2's top, near 1's middle -> 2
    at(40, 30, 0.8), // 1's head
    at(45, 40, 0.95), // 1 again, more confident: kept
    at(900, 50), // nobody's
  ];
  const out = assignFacesToTracks(searches, faces);
  assert.deepEqual([...out.keys()].sort(), [1, 2]);
  assert.equal(out.get(1), faces[2]);
  assert.equal(out.get(2), faces[0]);
});
