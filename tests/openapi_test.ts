/**
 * The OpenAPI document of the whole application (createApp): valid OpenAPI 3.1, every mounted
 * route in it with its error responses, and the documentation page served without a CDN.
 */
import assert from "node:assert/strict";
import SwaggerParser from "@apidevtools/swagger-parser";
import { startTestApp } from "./support/app.ts";

type Operation = {
  responses: Record<string, unknown>;
  security?: unknown[];
  "x-scope"?: string;
  parameters?: { name: string; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

Deno.test("GET /openapi.json is a valid OpenAPI 3.1 document listing every route and its errors", async () => {
  const t = await startTestApp({ FESS_SERVER__API_KEYS: "admin-key-0123456789" });
  try {
    const res = await fetch(`${t.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Document;
    assert.equal(doc.openapi, "3.1.0");
    // The parser dereferences and validates against the OpenAPI 3.1 schema; it throws if invalid.
    await SwaggerParser.validate(structuredClone(doc) as never);

    const listed = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)
    ).sort();
    assert.deepEqual(listed, [
      "DELETE /faces/{face_id}",
      "GET /",
      "GET /cameras",
      "GET /cameras/{camera_id}/frame.jpg",
      "GET /docs",
      "GET /events/stream",
      "GET /faces",
      "GET /faces/{face_id}",
      "GET /health",
      "GET /health/live",
      "GET /health/ready",
      "GET /metrics",
      "GET /openapi.json",
      "GET /snapshots/{event_id}",
      "GET /ui/{asset}",
      "POST /detect/{camera_id}",
      "POST /events",
      "POST /faces/match",
      "PUT /faces/{face_id}",
    ]);
    // The served routes are exactly the documented ones (no undocumented route but the assets).
    const served = t.app.routes.filter((r) => !r.path.startsWith("/docs/")).map((r) =>
      `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`
    ).sort();
    assert.deepEqual(served, listed);

    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const statuses = Object.keys(op.responses);
        const where = `${method} ${path}`;
        assert.ok(statuses.includes("500") && statuses.includes("503"), `${where}: 500/503`);
        if (op["x-scope"]) {
          assert.ok(statuses.includes("401") && statuses.includes("403"), `${where}: 401/403`);
          assert.ok(op.security && op.security.length > 0, `${where}: security`);
        }
        if (method === "post" || method === "put") {
          assert.ok(statuses.includes("413") && statuses.includes("408"), `${where}: 408/413`);
        }
      }
    }
    assert.equal(doc.paths["/detect/{camera_id}"]!.post!["x-scope"], "detect");
    assert.equal(doc.paths["/faces"]!.get!["x-scope"], "faces");
    assert.equal(doc.paths["/events"]!.post!["x-scope"], "events");
    assert.ok(
      "507" in doc.paths["/faces/{face_id}"]!.put!.responses,
      "a full gallery is documented",
    );
    // Numeric query parameters are documented with the bounds their schemas enforce.
    const param = (path: string, method: string, name: string) =>
      doc.paths[path]![method]!.parameters!.find((p) => p.name === name)!.schema;
    assert.deepEqual(param("/faces", "get", "limit"), {
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: 100,
      description: "Page size",
    });
    assert.deepEqual(
      [param("/faces", "get", "offset").type, param("/faces", "get", "offset").minimum],
      ["integer", 0],
    );
    const threshold = param("/faces/match", "post", "threshold");
    assert.deepEqual([threshold.type, threshold.minimum, threshold.maximum], ["number", -1, 1]);
    const frameNumber = param("/detect/{camera_id}", "post", "frame_number");
    assert.deepEqual(
      [frameNumber.type, frameNumber.minimum, frameNumber.maximum],
      ["integer", 0, Number.MAX_SAFE_INTEGER],
    );
    for (const side of ["width", "height"]) {
      const s = param("/detect/{camera_id}", "post", side);
      assert.deepEqual([s.type, s.minimum, s.maximum], ["integer", 1, 16384], side);
    }
    const encoding = (doc.paths["/faces/match"]!.post!.requestBody!.content["application/json"]!
      .schema.properties as Record<string, { anyOf: Record<string, unknown>[] }>).encoding;
    assert.deepEqual(
      [encoding.anyOf[0]!.minItems, encoding.anyOf[0]!.maxItems, encoding.anyOf[0]!.items],
      [128, 128, { type: "number" }],
    );
  } finally {
    await t.close();
  }
});

Deno.test("GET /docs serves Swagger UI and its assets from node_modules, no CDN", async () => {
  const t = await startTestApp();
  try {
    const page = await fetch(`${t.url}/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /\/openapi\.json/);
    assert.doesNotMatch(html, /https?:\/\//, "no external URL in the page");
    for (const asset of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
      const res = await fetch(`${t.url}/docs/${asset}`);
      assert.equal(res.status, 200, asset);
      assert.ok((await res.arrayBuffer()).byteLength > 10_000, `${asset} has content`);
    }
    const missing = await fetch(`${t.url}/docs/../../etc/passwd`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    // Sent as is (fetch would normalise it): a dot segment is a 400, not a 405 for /openapi.json.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    await conn.write(
      new TextEncoder().encode(
        "GET /docs/../openapi.json HTTP/1.1\r\nHost: fess\r\nConnection: close\r\n\r\n",
      ),
    );
    const raw = await new Response(conn.readable).text();
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(raw, /^allow:/im);
    assert.match(raw, /has a dot segment/);
  } finally {
    await t.close();
  }
});
