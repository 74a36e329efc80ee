/**
 * Key scopes through the whole application: a camera's `detect` key posts frames but cannot
 * read or change the gallery nor publish events; a `faces` key manages the gallery only.
 */
import assert from "node:assert/strict";
import { startTestApp } from "./support/app.ts";

const CAMERA = "camera-key-0123456789";
const GALLERY = "gallery-key-012345678";

Deno.test("a detect key cannot read the gallery (403) or publish events; a faces key can only use the gallery", async () => {
  const t = await startTestApp({
    FESS_SERVER__API_KEYS: `cam-1:detect:${CAMERA},ops:faces:${GALLERY}`,
  });
  const call = async (
    method: string,
    path: string,
    key: string,
    body?: BodyInit,
    type?: string,
  ) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (type) headers["content-type"] = type;
    const res = await fetch(`${t.url}${path}`, { method, headers, body });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  try {
    const list = await call("GET", "/faces?include_encoding=true", CAMERA);
    assert.equal(list.status, 403);
    assert.equal(list.body.code, "forbidden");
    assert.match(list.body.error, /cam-1 lacks the faces scope/);
    assert.equal((await call("DELETE", "/faces/alice", CAMERA)).status, 403);
    assert.equal((await call("POST", "/events", CAMERA, "{}", "application/json")).status, 403);

    // The camera key reaches the detector (an empty body is refused by the handler, not auth).
    const frame = await call("POST", "/detect/cam-1", CAMERA, "", "image/jpeg");
    assert.notEqual(frame.status, 403);
    assert.notEqual(frame.status, 401);

    assert.equal((await call("GET", "/faces", GALLERY)).status, 200);
    assert.equal((await call("POST", "/detect/cam-1", GALLERY, "", "image/jpeg")).status, 403);
    assert.equal((await call("GET", "/faces", "not-a-configured-key")).status, 401);

    // A valid key under another scheme is not accepted, and the 401 says why.
    const token = await fetch(`${t.url}/faces`, { headers: { authorization: `Token ${GALLERY}` } });
    assert.equal(token.status, 401);
    assert.match((await token.json()).error, /unsupported Authorization scheme "Token"/);
  } finally {
    await t.close();
  }
});
