import assert from "node:assert/strict";
import { PayloadTooLargeError } from "../shared/errors.ts";
import { readBodyBytes } from "../shared/http.ts";

const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://x/detect", { method: "POST", body, headers });

function stream(...chunks: number[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const n of chunks) c.enqueue(new Uint8Array(n).fill(7));
      c.close();
    },
  });
}

Deno.test("a body with Content-Length within the limit is read whole, byte for byte", async () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const got = await readBodyBytes(post(bytes, { "content-length": "1000" }), 1000);
  assert.deepEqual(got, bytes);
});

Deno.test("a chunked body is counted and refused with 413 once it passes the limit", async () => {
  assert.equal((await readBodyBytes(post(stream(10, 20, 30)), 60)).byteLength, 60);
  await assert.rejects(readBodyBytes(post(stream(10, 20, 31)), 60), PayloadTooLargeError);
});

Deno.test("a body longer than its declared Content-Length is still refused with 413", async () => {
  await assert.rejects(
    readBodyBytes(post(stream(40, 40), { "content-length": "50" }), 60),
    PayloadTooLargeError,
  );
  await assert.rejects(
    readBodyBytes(post("x".repeat(61), { "content-length": "61" }), 60),
    PayloadTooLargeError,
  );
});

Deno.test("an empty or bodiless request reads as zero bytes", async () => {
  const get = new Request("http://x/detect");
  assert.equal((await readBodyBytes(get, 10)).byteLength, 0);
  assert.equal((await readBodyBytes(post("", { "content-length": "0" }), 10)).byteLength, 0);
});
