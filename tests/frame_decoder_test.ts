import assert from "node:assert/strict";
import sharp from "sharp";
import { TooManyRequestsError } from "../shared/errors.ts";
import { createFrameDecoder, DecodeQueueFullError } from "../shared/image/frame_decoder.ts";
import { FrameTooLargeError } from "../shared/image/raw_frame.ts";

async function png(width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(new Uint8Array(width * height * 3).fill(77), {
      raw: { width, height, channels: 3 },
    }).png().toBuffer(),
  );
}

Deno.test("decodes beyond the slots wait in order; beyond the queue they are 429s with Retry-After", async () => {
  const decoder = createFrameDecoder({
    maxFramePixels: 1_000_000,
    maxConcurrentDecodes: 1,
    maxDecodePixels: 1_000_000,
    maxQueuedDecodes: 1,
    retryAfterSeconds: 2,
  });
  const body = await png(64, 48);
  const first = decoder.decode(body, "png", null);
  const second = decoder.decode(body, "png", null);
  assert.deepEqual([decoder.active, decoder.queued], [1, 1]);
  await assert.rejects(decoder.decode(body, "png", null), (e: unknown) => {
    assert.ok(e instanceof DecodeQueueFullError && e instanceof TooManyRequestsError);
    assert.equal(e.status, 429);
    assert.equal(e.retryAfterSeconds, 2);
    return true;
  });
  const frames = await Promise.all([first, second]);
  assert.deepEqual(frames.map((f) => [f.width, f.height]), [[64, 48], [64, 48]]);
  assert.deepEqual([decoder.active, decoder.queued], [0, 0]);
  assert.equal((await decoder.decode(body, "png", null)).width, 64, "slots are given back");
});

Deno.test("the pixel budget makes large frames decode one after another while small ones share it", async () => {
  const decoder = createFrameDecoder({
    maxFramePixels: 1_000_000,
    maxConcurrentDecodes: 4,
    maxDecodePixels: 64 * 48,
    maxQueuedDecodes: 8,
  });
  const big = await png(64, 48), small = await png(8, 8);
  const a = decoder.decode(big, "png", null);
  const b = decoder.decode(big, "png", null);
  assert.deepEqual([decoder.active, decoder.queued], [1, 1], "the second large frame waits");
  await Promise.all([a, b]);
  const smalls = [1, 2, 3].map(() => decoder.decode(small, "png", null));
  assert.deepEqual([decoder.active, decoder.queued], [3, 0], "small frames decode together");
  await Promise.all(smalls);
});

Deno.test("oversized frames are 413s from their declared size even when every slot is busy", async () => {
  const decoder = createFrameDecoder({
    maxFramePixels: 100,
    maxConcurrentDecodes: 1,
    maxDecodePixels: 100,
    maxQueuedDecodes: 0,
  });
  const busy = decoder.decode(await png(10, 10), "png", null);
  await assert.rejects(decoder.decode(await png(11, 10), "png", null), FrameTooLargeError);
  await assert.rejects(
    decoder.decode(new Uint8Array(11 * 10 * 3), null, { width: 11, height: 10, format: "bgr24" }),
    (e: unknown) => e instanceof FrameTooLargeError && /11x10/.test(e.message),
  );
  await busy;
  const raw = await decoder.decode(new Uint8Array(10 * 10 * 3 / 2), null, {
    width: 10,
    height: 10,
    format: "nv12",
  });
  assert.deepEqual([raw.layout, raw.channels, raw.data.length], ["bgr", 3, 300]);
});
