import assert from "node:assert/strict";
import { join } from "node:path";
import { getModelManifest, listModelManifests } from "../models/registry.ts";
import { ensureModel, extractZipMember, verifyFile } from "../shared/models/ensure.ts";
import { type ModelManifest, ModelManifestSchema } from "../shared/models/manifest.ts";
import { sha256Hex } from "../shared/onnx/model_file.ts";
import { modelsDir } from "./support/media.ts";

Deno.test("every shipped manifest validates and the defaults carry the documented contracts", () => {
  const all = listModelManifests();
  assert.deepEqual(all.map((m) => m.id).sort(), [
    "mobilefacenet-128",
    "rtmdet-nano-person",
    "rtmdet-s-coco",
    "rtmdet-tiny-coco",
    "yunet-face",
  ]);
  const nano = getModelManifest("rtmdet-nano-person");
  assert.deepEqual(nano.classes, ["person"]);
  assert.deepEqual(nano.preprocess.mean, [103.53, 116.28, 123.675]);
  assert.equal(nano.preprocess.channel_order, "bgr");
  assert.equal(nano.preprocess.pad_value, 114);
  const tiny = getModelManifest("rtmdet-tiny-coco");
  assert.equal(tiny.classes.length, 80);
  assert.deepEqual([tiny.classes[0], tiny.classes[2], tiny.classes[79]], [
    "person",
    "car",
    "toothbrush",
  ]);
  assert.equal(getModelManifest("mobilefacenet-128").preprocess.channel_order, "rgb");
  assert.throws(
    () => getModelManifest("nope"),
    /unknown model id "nope"; known: rtmdet-nano-person/,
  );
});

Deno.test("the schema rejects bad manifests with the offending field", () => {
  const base = structuredClone(getModelManifest("rtmdet-nano-person")) as Record<string, unknown>;
  const bad = ModelManifestSchema.safeParse({ ...base, sha256: "XYZ" });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error!.issues), /sha256/);
  assert.equal(ModelManifestSchema.safeParse({ ...base, file: "../escape.onnx" }).success, false);
  assert.equal(
    ModelManifestSchema.safeParse({
      ...base,
      output: { format: "rtmdet_raw_head", scores: ["a"], boxes: [] },
    }).success,
    false,
  );
});

Deno.test("the shared models present verify OK against their manifests' sha256", async () => {
  for (const id of ["rtmdet-nano-person", "yunet-face", "mobilefacenet-128"]) {
    const r = await ensureModel({
      manifest: getModelManifest(id),
      modelsDir: modelsDir(),
      checkOnly: true,
    });
    assert.equal(r.status, "ok", r.message);
    assert.equal(r.sha256, getModelManifest(id).sha256);
  }
  const tiny = await ensureModel({
    manifest: getModelManifest("rtmdet-tiny-coco"),
    modelsDir: modelsDir(),
    checkOnly: true,
  });
  assert.equal(tiny.status, "missing");
  assert.match(tiny.message, /no download URL/);
});

async function fakeManifest(
  bytes: Uint8Array,
  url: string | null,
  zipMember?: string,
): Promise<ModelManifest> {
  return ModelManifestSchema.parse({
    ...getModelManifest("rtmdet-nano-person"),
    id: "fake",
    file: "fake.onnx",
    sha256: await sha256Hex(bytes),
    download: url ? { url, ...(zipMember ? { zip_member: zipMember } : {}) } : null,
  });
}

Deno.test("sha256 verification: a matching file is ok, a changed byte is a mismatch naming both hashes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = new TextEncoder().encode("model bytes");
    const manifest = await fakeManifest(bytes, null);
    const path = join(dir, "fake.onnx");
    assert.equal(await verifyFile(path, manifest.sha256), null);
    await Deno.writeFile(path, bytes);
    assert.deepEqual(await verifyFile(path, manifest.sha256), {
      ok: true,
      sha256: manifest.sha256,
    });
    assert.equal((await ensureModel({ manifest, modelsDir: dir })).status, "ok");
    await Deno.writeFile(path, new TextEncoder().encode("model bytez"));
    const r = await ensureModel({ manifest, modelsDir: dir });
    assert.equal(r.status, "mismatch");
    assert.ok(
      r.message.includes(manifest.sha256!) && r.message.includes(r.sha256!) &&
        r.message.includes(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sha256 of known data matches the published test vector", async () => {
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("downloads are verified before install; a corrupt download leaves no file; unreachable URLs fail clearly", async () => {
  const dir = await Deno.makeTempDir();
  const good = new TextEncoder().encode("the real model");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/good.onnx") return new Response(good);
    if (path === "/evil.onnx") return new Response("tampered");
    return new Response("no", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const progress: number[] = [];
    const ok = await ensureModel({
      manifest: await fakeManifest(good, `${base}/good.onnx`),
      modelsDir: join(dir, "sub"),
      onProgress: (p) => progress.push(p.received),
    });
    assert.equal(ok.status, "downloaded", ok.message);
    assert.deepEqual(await Deno.readFile(join(dir, "sub", "fake.onnx")), good);
    assert.equal(progress.at(-1), good.length);

    const evilDir = join(dir, "evil");
    const evil = await ensureModel({
      manifest: await fakeManifest(good, `${base}/evil.onnx`),
      modelsDir: evilDir,
    });
    assert.equal(evil.status, "mismatch");
    assert.match(evil.message, /not installed/);
    await assert.rejects(Deno.stat(join(evilDir, "fake.onnx")), Deno.errors.NotFound);

    const missing = await ensureModel({
      manifest: await fakeManifest(good, `${base}/missing.onnx`),
      modelsDir: evilDir,
    });
    assert.equal(missing.status, "failed");
    assert.match(missing.message, /HTTP 404/);

    const unreachable = await ensureModel({
      manifest: await fakeManifest(good, "http://127.0.0.1:9/model.onnx"),
      modelsDir: evilDir,
    });
    assert.equal(unreachable.status, "failed");
    assert.match(
      unreachable.message,
      /cannot download fake from http:\/\/127\.0\.0\.1:9\/model\.onnx/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zip members (deflated, in a folder) are extracted like OpenMMLab's SDK zips", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const payload = new TextEncoder().encode("onnx ".repeat(1000));
    await Deno.mkdir(join(dir, "rtmdet_sdk"));
    await Deno.writeFile(join(dir, "rtmdet_sdk", "end2end.onnx"), payload);
    await Deno.writeFile(join(dir, "rtmdet_sdk", "pipeline.json"), new TextEncoder().encode("{}"));
    const zip = await new Deno.Command("zip", {
      args: ["-q", "-r", "sdk.zip", "rtmdet_sdk"],
      cwd: dir,
    }).output();
    assert.ok(zip.success, "the zip CLI is needed to build the archive");
    const archive = await Deno.readFile(join(dir, "sdk.zip"));
    assert.deepEqual(await extractZipMember(archive, "end2end.onnx"), payload);
    await assert.rejects(extractZipMember(archive, "other.onnx"), /no member other.onnx/);
    await assert.rejects(extractZipMember(payload, "end2end.onnx"), /not a zip archive/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
