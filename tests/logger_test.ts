import assert from "node:assert/strict";
import { createLogger, redactFields } from "../shared/logger.ts";

Deno.test("logger writes one JSON line per record with bound fields and respects the level", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", sink: (l) => lines.push(l), now: () => new Date(0) })
    .child({ request_id: "r1" });
  log.debug("hidden");
  log.info("hello", { camera_id: "c1" });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "hello",
    request_id: "r1",
    camera_id: "c1",
  });
});

Deno.test("secret-looking fields are redacted and encodings omitted, at any depth", () => {
  const out = redactFields({
    password: "p",
    nested: { api_key: "k", Authorization: "Bearer x", encryption_key: "e", ok: 1 },
    encoding: [0.1, 0.2],
    list: [{ token: "t" }],
  });
  assert.deepEqual(out, {
    password: "[redacted]",
    nested: {
      api_key: "[redacted]",
      Authorization: "[redacted]",
      encryption_key: "[redacted]",
      ok: 1,
    },
    encoding: "[omitted]",
    list: [{ token: "[redacted]" }],
  });
});

Deno.test("errors are logged as name and message", () => {
  const lines: string[] = [];
  createLogger({ sink: (l) => lines.push(l) }).error("failed", {
    error: new TypeError("bad thing"),
  });
  assert.deepEqual(JSON.parse(lines[0]!).error, { name: "TypeError", message: "bad thing" });
});
