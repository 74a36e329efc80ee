/** The chunked-body follower shared by the request and response framers, fed any way. */
import assert from "node:assert/strict";
import { createChunkedBody } from "../shared/server/chunked_body.ts";

const enc = new TextEncoder();

/** Feeds `text` in pieces of `step` bytes; returns the state and where the body ended. */
function follow(text: string, step: number): { state: string; end: number } {
  const bytes = enc.encode(text);
  const body = createChunkedBody();
  for (let at = 0; at < bytes.length; at += step) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + step));
    const stop = body.feed(piece, 0);
    if (body.state !== "open") return { state: body.state, end: at + stop };
  }
  return { state: body.state, end: -1 };
}

Deno.test("a chunked body ends after its last chunk and trailers, however the bytes arrive", () => {
  const message = "5;ext=1\r\nhello\r\n1A\r\n" + "x".repeat(26) + "\r\n0\r\nX-Sum: 7\r\n\r\n";
  for (const step of [1, 2, 3, 7, 64, message.length]) {
    assert.deepEqual(follow(message + "GET / HTTP/1.1\r\n", step), {
      state: "done",
      end: message.length,
    }, `pieces of ${step}`);
  }
  // Bare LF line endings are followed too; the next message's bytes are left alone.
  const bare = "3\nabc\n0\n\nNEXT";
  assert.deepEqual(follow(bare, 4), { state: "done", end: bare.indexOf("NEXT") });
});

Deno.test("a chunk size is read as a server reads it, however many zeros lead it", () => {
  // A framer that cut the line short would read 0 here and take the data for trailers, then
  // for a request head of its own: the relay and the server would disagree on framing.
  const data = "\r\n".repeat(30);
  const message = `${"0".repeat(1100)}3c;x=${"y".repeat(2000)}\r\n${data}\r\n0\r\n\r\n`;
  for (const step of [1, 5, 4096]) {
    assert.deepEqual(follow(message + "NEXT", step), { state: "done", end: message.length });
  }
  assert.equal(follow(`${"f".repeat(14)}\r\n`, 3).state, "lost", "a size no server accepts");
});

Deno.test("a chunk size that is not hexadecimal stops the tracking; an unfinished body stays open", () => {
  assert.equal(follow("zz\r\nabc\r\n0\r\n\r\n", 1).state, "lost");
  assert.equal(follow("5\r\nhel", 1).state, "open");
  assert.equal(follow("5\r\nhello\r\n0\r\n", 1).state, "open", "waiting for the trailer end");
});
