/** The movable deadline behind the listener's idle timeout and the body guard's waits. */
import assert from "node:assert/strict";
import { createDeadline } from "../shared/server/deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a deadline moved later expires at its last value, once", async () => {
  const fired: number[] = [];
  const t0 = performance.now();
  const d = createDeadline(() => fired.push(performance.now() - t0));
  d.set(t0 + 40);
  for (let i = 1; i <= 5; i++) {
    await sleep(10);
    d.set(performance.now() + 40); // pushed on, as every chunk does
  }
  const last = performance.now() - t0 + 40;
  await sleep(200);
  assert.equal(fired.length, 1);
  assert.ok(fired[0]! >= last - 1, `expired at ${fired[0]} ms, last deadline ${last} ms`);
  d.dispose();
});

Deno.test("a deadline moved earlier expires early; cleared or disposed ones never fire", async () => {
  let fired = 0;
  const d = createDeadline(() => fired++);
  d.set(performance.now() + 10_000);
  d.set(performance.now() + 20);
  await sleep(80);
  assert.equal(fired, 1, "the earlier deadline re-armed the timer");
  d.set(performance.now() + 20);
  d.clear();
  await sleep(80);
  assert.equal(fired, 1, "cleared");
  d.set(performance.now() + 20);
  d.dispose();
  await sleep(80);
  assert.equal(fired, 1, "disposed");
});
