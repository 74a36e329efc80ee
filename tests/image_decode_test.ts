import assert from "node:assert/strict";
import sharp from "sharp";
import { BadRequestError } from "../shared/errors.ts";
import { decodeImage, sniffImageFormat } from "../shared/image/decode.ts";
import { readJpegSize, readPngSize } from "../shared/image/image_header.ts";
import { FrameTooLargeError, wrapRawFrame } from "../shared/image/raw_frame.ts";
import { vtestFramesJpeg } from "./support/media.ts";

Deno.test("a real vtest JPEG decodes to a 768x576 RGB frame", async () => {
  const [jpeg] = await vtestFramesJpeg([100]);
  const frame = await decodeImage(jpeg!);
  assert.deepEqual([frame.width, frame.height, frame.channels, frame.layout], [768, 576, 3, "rgb"]);
  assert.equal(frame.data.length, 768 * 576 * 3);
  assert.ok(frame.data.some((v) => v > 0));
});

Deno.test("PNG with alpha and grayscale PNG both decode to 3-channel RGB", async () => {
  const rgba = await sharp(Uint8Array.from([10, 20, 30, 128, 40, 50, 60, 255]), {
    raw: { width: 2, height: 1, channels: 4 },
  })
    .png().toBuffer();
  const a = await decodeImage(new Uint8Array(rgba));
  assert.deepEqual([a.width, a.height, a.channels], [2, 1, 3]);
  assert.deepEqual([...a.data.slice(3, 6)], [40, 50, 60]);
  const gray = await sharp(new Uint8Array(4).fill(77), {
    raw: { width: 2, height: 2, channels: 1 },
  }).png().toBuffer();
  const g = await decodeImage(new Uint8Array(gray));
  assert.deepEqual([...g.data.slice(0, 3)], [77, 77, 77]);
});

Deno.test("non-image bytes, an empty body and a wrong content type are 400s with a reason", async () => {
  await assert.rejects(
    decodeImage(new TextEncoder().encode("hello, not an image")),
    (e: unknown) => e instanceof BadRequestError && /not a JPEG or PNG/.test(e.message),
  );
  await assert.rejects(decodeImage(new Uint8Array(0)), /empty/);
  const [jpeg] = await vtestFramesJpeg([100]);
  await assert.rejects(
    decodeImage(jpeg!, { expect: "png" }),
    /jpeg image but the content type says png/,
  );
});

Deno.test("a truncated JPEG is rejected instead of decoding half a grey frame", async () => {
  const [jpeg] = await vtestFramesJpeg([100]);
  const cut = jpeg!.subarray(0, Math.floor(jpeg!.length / 2));
  assert.equal(sniffImageFormat(cut), "jpeg");
  await assert.rejects(
    decodeImage(cut),
    (e: unknown) =>
      e instanceof BadRequestError && /cannot decode jpeg image: .*premature end/i.test(e.message),
  );
});

Deno.test("a corrupt PNG is a 400 and an image over the pixel limit a 413", async () => {
  const png = new Uint8Array(
    await sharp(new Uint8Array(300), { raw: { width: 10, height: 10, channels: 3 } }).png()
      .toBuffer(),
  );
  const corrupt = png.slice();
  corrupt.fill(0, 20, 60);
  await assert.rejects(decodeImage(corrupt), BadRequestError);
  await assert.rejects(decodeImage(png, { maxPixels: 50 }), FrameTooLargeError);
});

Deno.test("raw frames are wrapped without copying when the byte count matches the format", () => {
  const data = new Uint8Array(4 * 2 * 3);
  const f = wrapRawFrame({ data, width: 4, height: 2, format: "bgr24" });
  assert.equal(f.data, data);
  assert.deepEqual([f.layout, f.channels], ["bgr", 3]);
  assert.equal(
    wrapRawFrame({ data: new Uint8Array(8), width: 4, height: 2, format: "gray8" }).layout,
    "gray",
  );
  assert.equal(
    wrapRawFrame({ data: new Uint8Array(32), width: 4, height: 2, format: "rgba" }).channels,
    4,
  );
});

Deno.test("raw frames with a wrong size or bad dimensions are 400s naming the numbers", () => {
  assert.throws(
    () => wrapRawFrame({ data: new Uint8Array(23), width: 4, height: 2, format: "rgb24" }),
    (e: unknown) => e instanceof BadRequestError && /needs 24 bytes, got 23/.test(e.message),
  );
  assert.throws(
    () => wrapRawFrame({ data: new Uint8Array(0), width: 0, height: 2, format: "rgb24" }),
    /width must be an integer/,
  );
  assert.throws(
    () => wrapRawFrame({ data: new Uint8Array(0), width: 1.5, height: 2, format: "rgb24" }),
    /width/,
  );
  assert.throws(
    () =>
      wrapRawFrame({
        data: new Uint8Array(300),
        width: 10,
        height: 10,
        format: "rgb24",
        maxPixels: 99,
      }),
    /exceeds the limit/,
  );
});

Deno.test("image headers give the size before decoding: JPEG SOF and PNG IHDR", async () => {
  const [jpeg] = await vtestFramesJpeg([100]);
  assert.deepEqual(readJpegSize(jpeg!), { width: 768, height: 576 });
  const png = new Uint8Array(
    await sharp(new Uint8Array(7 * 5 * 3), { raw: { width: 7, height: 5, channels: 3 } }).png()
      .toBuffer(),
  );
  assert.deepEqual(readPngSize(png), { width: 7, height: 5 });
  assert.equal(readJpegSize(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 2])), null);
  assert.equal(readPngSize(png.subarray(0, 20)), null);
  // Only the header is read: a JPEG cut right after its frame header is still refused as too big.
  const sof = jpeg!.findIndex((v, i) => v === 0xff && jpeg![i + 1] === 0xc0);
  assert.ok(sof > 0);
  const headerOnly = jpeg!.slice(0, sof + 12);
  await assert.rejects(decodeImage(headerOnly, { maxPixels: 1000 }), FrameTooLargeError);
  await assert.rejects(decodeImage(headerOnly), BadRequestError);
});

Deno.test("grey+alpha PNG expands to RGB dropping alpha", async () => {
  const ga = await sharp(Uint8Array.from([90, 10, 200, 255]), {
    raw: { width: 2, height: 1, channels: 2 },
  }).png().toBuffer();
  const f = await decodeImage(new Uint8Array(ga));
  assert.deepEqual([f.channels, f.layout, [...f.data]], [3, "rgb", [90, 90, 90, 200, 200, 200]]);
});

Deno.test("a JPEG's EXIF orientation is applied, as OpenCV's imdecode does: tag 6 turns it 90° clockwise", async () => {
  const [w, h] = [24, 16];
  const px = new Uint8Array(w * h * 3).map((_, i) => (i * 7) % 251);
  const plain = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toBuffer();
  const tagged = new Uint8Array(await sharp(plain).withMetadata({ orientation: 6 }).toBuffer());
  const stored = await sharp(tagged).raw().toBuffer({ resolveWithObject: true });
  const [sw, sh] = [stored.info.width, stored.info.height];
  assert.deepEqual([sw, sh], [w, h], "the stored pixels keep their landscape size");

  const frame = await decodeImage(tagged);
  assert.deepEqual([frame.width, frame.height], [sh, sw]);
  // 90° clockwise: output row y, column x comes from stored row (sh - 1 - x), column y.
  for (let y = 0; y < frame.height; y++) {
    for (let x = 0; x < frame.width; x++) {
      const from = ((sh - 1 - x) * sw + y) * 3;
      const to = (y * frame.width + x) * 3;
      assert.deepEqual(
        [...frame.data.subarray(to, to + 3)],
        [...stored.data.subarray(from, from + 3)],
        `pixel (${x}, ${y})`,
      );
    }
  }
});
