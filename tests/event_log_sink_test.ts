/**
 * The embedded event-log sink used without Kafka: same publisher API, events land as JSON
 * lines with their topic, key and headers.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../shared/logger.ts";
import { createEventLogSink, readEventLog } from "../shared/events/event_log_sink.ts";
import { createPublisher } from "../shared/events/publisher.ts";
import { createWriteAheadLog } from "../shared/events/wal.ts";
import { alertEvent, faceEvent, motionEvent, statusEvent } from "./support/event_fixtures.ts";

Deno.test("without Kafka, published events go through the write-ahead log to the JSON-lines event log in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-event-log-test-" });
  try {
    const path = `${dir}/nested/events.jsonl`;
    const publisher = createPublisher({
      sink: createEventLogSink({ path, logger: silentLogger }),
      wal: createWriteAheadLog({ dir: `${dir}/wal`, logger: silentLogger }),
      logger: silentLogger,
    });
    await publisher.start();
    assert.equal(publisher.state, "connected");
    const events = [
      motionEvent("cam-1", 1),
      faceEvent("cam-2", 2),
      alertEvent("cam-1", 3),
      statusEvent("cam-3", 4),
    ];
    const receipts = await Promise.all(events.map((e) => publisher.publish(e)));
    const results = await Promise.all(receipts.map((r) => r.delivery));
    assert.deepEqual(results.map((r) => r.status === "delivered" ? r.offset : r.status), [
      "0",
      "1",
      "2",
      "3",
    ]);
    await publisher.close();

    const lines = await readEventLog(path);
    assert.deepEqual(lines.map((l) => l.event), events);
    assert.deepEqual(lines.map((l) => l.topic), receipts.map((r) => r.topic));
    assert.deepEqual(lines.map((l) => l.key), ["cam-1", "cam-2", "cam-1", "cam-3"]);
    assert.equal(lines[2]!.headers.event_type, "alert");
    assert.equal(lines[2]!.headers.schema_version, "1");
    await assert.rejects(publisher.publish(motionEvent()), { name: "ServiceUnavailableError" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
