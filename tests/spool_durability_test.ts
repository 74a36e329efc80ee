/**
 * The on-disk spool: durable FIFO semantics, resume from the persisted offset after a restart,
 * truncation once drained, and recovery from a torn or corrupt line.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createSpool } from "../shared/events/spool.ts";
import type { OutgoingMessage } from "../shared/events/types.ts";

function rec(i: number): OutgoingMessage {
  return {
    topic: "t",
    key: `cam-${i % 2}`,
    value: JSON.stringify({ i }),
    headers: { n: String(i) },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fess-spool-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("spooled records come back in append order and are consumed only when committed", () =>
  withDir(async (dir) => {
    const spool = createSpool({ dir, logger: silentLogger });
    await spool.open();
    await spool.append([rec(0), rec(1)]);
    await spool.append([rec(2)]);
    assert.equal(spool.size, 3);
    const head = await spool.peek(2);
    assert.deepEqual(head, [rec(0), rec(1)]);
    assert.deepEqual(await spool.peek(10), [rec(0), rec(1), rec(2)], "peek does not consume");
    await spool.peek(2);
    await spool.commit(1);
    assert.equal(spool.size, 2);
    assert.deepEqual(await spool.peek(10), [rec(1), rec(2)]);
    await spool.close();
  }));

Deno.test("a reopened spool resumes after the last committed record", () =>
  withDir(async (dir) => {
    const first = createSpool({ dir, logger: silentLogger });
    await first.open();
    await first.append([0, 1, 2, 3].map(rec));
    await first.peek(2);
    await first.commit(2);
    await first.close();

    const second = createSpool({ dir, logger: silentLogger });
    await second.open();
    assert.equal(second.size, 2);
    assert.deepEqual(await second.peek(10), [rec(2), rec(3)]);
    await second.close();
  }));

Deno.test("a fully drained spool truncates its file and forgets the offset", () =>
  withDir(async (dir) => {
    const spool = createSpool({ dir, logger: silentLogger });
    await spool.open();
    await spool.append([rec(0), rec(1)]);
    await spool.peek(10);
    await spool.commit(2);
    assert.equal(spool.size, 0);
    assert.equal((await Deno.stat(spool.path)).size, 0);
    await assert.rejects(Deno.stat(`${spool.path}.offset`), Deno.errors.NotFound);
    await spool.append([rec(5)]);
    assert.deepEqual(await spool.peek(10), [rec(5)]);
    await spool.close();
  }));

Deno.test("a torn last line (crash mid-write) is cut off and a corrupt line is skipped", () =>
  withDir(async (dir) => {
    const spool = createSpool({ dir, logger: silentLogger });
    await spool.open();
    await spool.append([rec(0)]);
    await spool.close();
    const line = (m: OutgoingMessage) => JSON.stringify(m) + "\n";
    await Deno.writeTextFile(spool.path, "not json\n" + line(rec(1)) + '{"topic":"t","ke', {
      append: true,
    });

    const reopened = createSpool({ dir, logger: silentLogger });
    await reopened.open();
    assert.equal(reopened.size, 2);
    const records = await reopened.peek(10);
    assert.deepEqual(records, [rec(0), rec(1)]);
    assert.ok((await Deno.readTextFile(reopened.path)).endsWith("\n"), "torn tail removed");
    await reopened.commit(2);
    assert.equal(reopened.size, 0);
    await reopened.close();
  }));
