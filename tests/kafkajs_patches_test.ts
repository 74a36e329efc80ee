/**
 * The kafkajs fixes: the record encoder writes exactly kafkajs' own bytes (key, value and
 * headers of every shape), and an idle request queue arms no timer.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { patchKafkajs } from "../shared/events/kafkajs_patches.ts";

const require = createRequire(import.meta.url);

interface Enc {
  buffer: Buffer;
  writeVarInt(n: number): Enc;
  writeInt8(n: number): Enc;
  writeVarLong(n: number): Enc;
  writeVarIntBytes(b: unknown): Enc;
  writeVarIntString(s: string): Enc;
  writeVarIntArray(a: Enc[]): Enc;
}
type EncoderClass = {
  new (): Enc;
  sizeOfVarInt(n: number): number;
  sizeOfVarLong(n: number): number;
  sizeOfVarIntBytes(b: unknown): number;
};

/** kafkajs 2.2.4's record v0 algorithm, written out (one encoder per record and header). */
function referenceRecord(
  Encoder: EncoderClass,
  r: {
    offsetDelta: number;
    timestampDelta: number;
    key: unknown;
    value: unknown;
    headers: Record<string, unknown>;
  },
): Buffer {
  const pairs = Object.keys(r.headers).flatMap((k) => {
    const v = r.headers[k];
    return Array.isArray(v) ? v.map((one) => ({ key: k, value: one })) : [{ key: k, value: v }];
  });
  let headersSize = Encoder.sizeOfVarInt(pairs.length);
  for (const h of pairs) {
    const keySize = Buffer.byteLength(h.key);
    const valueSize = Buffer.byteLength(h.value as string);
    headersSize += Encoder.sizeOfVarInt(keySize) + keySize + Encoder.sizeOfVarInt(valueSize) +
      valueSize;
  }
  const body = 1 + Encoder.sizeOfVarLong(r.timestampDelta) + Encoder.sizeOfVarInt(r.offsetDelta) +
    Encoder.sizeOfVarIntBytes(r.key) + Encoder.sizeOfVarIntBytes(r.value) + headersSize;
  return new Encoder()
    .writeVarInt(body)
    .writeInt8(0)
    .writeVarLong(r.timestampDelta)
    .writeVarInt(r.offsetDelta)
    .writeVarIntBytes(r.key)
    .writeVarIntBytes(r.value)
    .writeVarIntArray(
      pairs.map((h) => new Encoder().writeVarIntString(h.key).writeVarIntBytes(h.value)),
    ).buffer;
}

Deno.test("the single-buffer record encoder writes kafkajs' exact bytes", () => {
  patchKafkajs();
  const Encoder = require("kafkajs/src/protocol/encoder.js") as EncoderClass;
  const record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as (
    r: unknown,
  ) => Enc;
  const cases = [
    { offsetDelta: 0, timestampDelta: 0, key: "cam-1", value: "{}", headers: {} },
    {
      offsetDelta: 300,
      timestampDelta: 123_456,
      key: null,
      value: JSON.stringify({ é: "ü".repeat(500) }),
      headers: { event_type: "motion_detection", event_id: "id-1", schema_version: "1" },
    },
    {
      offsetDelta: 5,
      timestampDelta: 2,
      key: Buffer.from("k"),
      value: Buffer.from("x".repeat(70_000)),
      headers: { many: ["a", "bb"], bytes: Buffer.from([0, 1, 2]) },
    },
    { offsetDelta: 70_000, timestampDelta: -5, key: "", value: null, headers: { e: "" } },
    { offsetDelta: 1, timestampDelta: 2 ** 40, key: "k", value: "v", headers: {} },
    { offsetDelta: 2, timestampDelta: 2 ** 60, key: "k", value: "v", headers: {} },
  ];
  for (const c of cases) {
    assert.deepEqual(record(c).buffer, referenceRecord(Encoder, c));
  }
});

Deno.test("an idle kafkajs request queue arms no re-check timer (no negative timeout)", () => {
  patchKafkajs();
  const RequestQueue = require("kafkajs/src/network/requestQueue/index.js") as {
    prototype: { scheduleCheckPendingRequests(this: unknown): void };
  };
  const idle = { pending: [], throttledUntil: -1, throttleCheckTimeoutId: null };
  RequestQueue.prototype.scheduleCheckPendingRequests.call(idle);
  assert.equal(idle.throttleCheckTimeoutId, null);
  let checked = 0;
  const waiting = {
    pending: [{}],
    throttledUntil: -1,
    throttleCheckTimeoutId: null as ReturnType<typeof setTimeout> | null,
    checkPendingRequests: () => checked++,
  };
  RequestQueue.prototype.scheduleCheckPendingRequests.call(waiting);
  assert.notEqual(waiting.throttleCheckTimeoutId, null, "a waiting request is re-checked");
  clearTimeout(waiting.throttleCheckTimeoutId!);
  assert.equal(checked, 0);
});
