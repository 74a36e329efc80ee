/**
 * Replica-independent alert keys: a face alert is keyed by its face id, any other by the
 * grid cell of its box's bottom-centre, with the neighbouring cells to consult.
 */
import assert from "node:assert/strict";
import { alertKeys, GRID } from "../shared/alerts/alert_keys.ts";

const base = {
  cameraId: "cam-1",
  ruleId: "stranger",
  className: "person",
  frameWidth: 240,
  frameHeight: 240,
};

Deno.test("a face alert is keyed by camera, rule and face id, whatever the box", () => {
  const a = alertKeys({ ...base, faceId: "bob", bbox: { x1: 0, y1: 0, x2: 10, y2: 10 } });
  const b = alertKeys({ ...base, faceId: "bob", bbox: { x1: 100, y1: 0, x2: 200, y2: 90 } });
  assert.deepEqual(a, { kind: "face", claim: "cam-1:stranger:face:bob" });
  assert.deepEqual(a, b);
});

Deno.test("other alerts mark the cell of the box's bottom-centre and consult its neighbours", () => {
  // Bottom-centre (55, 100) of 240 px: cell (5, 10) on a 24 grid.
  const k = alertKeys({ ...base, faceId: null, bbox: { x1: 40, y1: 20, x2: 70, y2: 100 } });
  assert.equal(GRID, 24);
  assert.ok(k.kind === "cell");
  assert.equal(k.mark, "cam-1:stranger:person:cell:5.10");
  assert.equal(k.around.length, 9);
  assert.ok(k.around.includes("cam-1:stranger:person:cell:4.9"));
  assert.ok(k.around.includes("cam-1:stranger:person:cell:6.11"));
  // A corner cell has only the neighbours inside the grid.
  const corner = alertKeys({ ...base, faceId: null, bbox: { x1: 0, y1: 0, x2: 2, y2: 240 } });
  assert.ok(corner.kind === "cell");
  assert.equal(corner.mark, "cam-1:stranger:person:cell:0.23");
  assert.equal(corner.around.length, 4);
});
