/**
 * The real face pipeline (YuNet -> ArcFace alignment -> MobileFaceNet -> gallery) on the group
 * photo: every face is cropped out and enrolled through the HTTP API from a JPEG, then a
 * transformed view of the whole photo (mirrored, rescaled, brighter) is recognised: each face
 * matches its own id, and none matches another person's id at the configured threshold.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { createFacesHandler } from "../functions/faces.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { FaceRecognitionEventSchema } from "../shared/events.ts";
import type { EncodedFace } from "../shared/faces/face_types.ts";
import { createFaceGallery, DEFAULT_MATCH_THRESHOLD } from "../shared/faces/gallery.ts";
import { createMobileFaceNetEmbedder } from "../shared/faces/mobilefacenet.ts";
import { createFaceRecognizer, type FaceRecognizer } from "../shared/faces/recognizer.ts";
import { createYuNetDetector } from "../shared/faces/yunet.ts";
import { decodeImage } from "../shared/image/decode.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import { createMetrics } from "../shared/metrics.ts";
import { createOnnxSession, type OnnxSession } from "../shared/onnx/session.ts";
import { mediaPath, modelPath } from "./support/media.ts";
import { mountApi } from "./support/api.ts";

const BACKEND = (Deno.env.get("FESS_TEST_ONNX_BACKEND") ?? "native") as "native" | "wasm";

async function loadModels(): Promise<{ yunet: OnnxSession; mfn: OnnxSession }> {
  const yunet = await createOnnxSession({
    modelPath: await modelPath("yunet-face.onnx"),
    backend: BACKEND,
    logger: silentLogger,
  });
  const mfn = await createOnnxSession({
    modelPath: await modelPath("mobilefacenet-128.onnx"),
    backend: BACKEND,
    logger: silentLogger,
  });
  return { yunet, mfn };
}

/** Mirrors, rescales and brightens a frame; returns it with a map back to original pixels. */
async function transformed(
  frame: RawFrame,
  scale: number,
  gain: number,
): Promise<{ frame: RawFrame; back: (x: number, y: number) => [number, number] }> {
  const w = Math.round(frame.width * scale), h = Math.round(frame.height * scale);
  const { data } = await sharp(frame.data, {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  })
    .flop()
    .resize(w, h)
    .linear(gain, 0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    frame: { data: new Uint8Array(data), width: w, height: h, channels: 3, layout: "rgb" },
    back: (x, y) => [frame.width - x / scale, y / scale],
  };
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const centre = (f: EncodedFace) => [(f.bbox.x1 + f.bbox.x2) / 2, (f.bbox.y1 + f.bbox.y2) / 2];

Deno.test("faces cropped from the group photo are enrolled from JPEGs and recognised in transformed views", async () => {
  const { yunet, mfn } = await loadModels();
  try {
    const metrics = createMetrics({ defaultMetrics: false });
    const gallery = createFaceGallery({
      cache: createMemoryCache(),
      metrics,
      logger: silentLogger,
    });
    await gallery.start();
    const recognizer: FaceRecognizer = createFaceRecognizer({
      faceDetector: createYuNetDetector({ session: yunet }),
      embedder: createMobileFaceNetEmbedder({ session: mfn }),
      gallery,
      metrics,
      logger: silentLogger,
    });
    const handler = mountApi(
      { bodyLimitBytes: 10 << 20 },
      createFacesHandler({ gallery, faceEncoder: recognizer, logger: silentLogger }),
    );
    const photoPath = await mediaPath("group-13-people.jpg");
    const photo = await decodeImage(await Deno.readFile(photoPath));
    const faces = await recognizer.encodeFrame(photo);
    // 13 standing people plus one face partly hidden behind the front row.
    assert.ok(faces.length >= 13, `expected at least 13 faces, found ${faces.length}`);

    // Enrol each face from a JPEG crop of it, through PUT /faces/{id}.
    const enrolled: { id: string; cx: number; cy: number }[] = [];
    for (const [i, f] of faces.entries()) {
      const w = f.bbox.x2 - f.bbox.x1, h = f.bbox.y2 - f.bbox.y1;
      const left = Math.max(0, Math.round(f.bbox.x1 - 0.25 * w));
      const top = Math.max(0, Math.round(f.bbox.y1 - 0.2 * h));
      const width = Math.min(photo.width - left, Math.round(w * 1.5));
      const height = Math.min(photo.height - top, Math.round(h * 1.4));
      const jpeg = await sharp(photoPath).extract({ left, top, width, height }).jpeg({
        quality: 95,
      }).toBuffer();
      const id = `person-${String(i).padStart(2, "0")}`;
      const res = await handler(
        new Request(`http://x/faces/${id}?name=P${i}&authorized=${i % 2 === 0}`, {
          method: "PUT",
          headers: { "content-type": "image/jpeg" },
          body: new Uint8Array(jpeg),
        }),
      );
      const body = await res.json();
      assert.equal(res.status, 201, `${id}: ${JSON.stringify(body)}`);
      assert.equal(body.source, "image");
      assert.equal(body.metadata.authorized, i % 2 === 0);
      const [cx, cy] = centre(f);
      enrolled.push({ id, cx: cx!, cy: cy! });
    }
    assert.equal(gallery.size, faces.length);
    const stored = new Map<string, Float32Array>();
    for (const p of enrolled) stored.set(p.id, (await gallery.getEncoding(p.id))!);

    // A whole-photo image with many faces is refused for enrolment, saying how many.
    const many = await handler(
      new Request("http://x/faces/crowd", {
        method: "PUT",
        headers: { "content-type": "image/jpeg" },
        body: await Deno.readFile(photoPath),
      }),
    );
    assert.equal(many.status, 422);
    assert.match((await many.json()).error, new RegExp(`exactly one face.*found ${faces.length}`));

    for (const [scale, gain] of [[1, 1], [0.9, 1.1], [1.1, 0.9]] as const) {
      const view = await transformed(photo, scale, gain);
      const events = await recognizer.recognize(view.frame, {
        cameraId: "cam-test",
        frameNumber: 7,
      });
      const seen = new Set<string>();
      for (const e of events) {
        FaceRecognitionEventSchema.parse(e);
        const [ox, oy] = view.back((e.bbox.x1 + e.bbox.x2) / 2, (e.bbox.y1 + e.bbox.y2) / 2);
        const own = enrolled.reduce((best, p) =>
          Math.hypot(p.cx - ox, p.cy - oy) < Math.hypot(best.cx - ox, best.cy - oy) ? p : best
        );
        const label = `view x${scale} gain ${gain}, face of ${own.id}`;
        assert.ok(
          e.face_id === null || e.face_id === own.id,
          `${label} matched another person: ${e.face_id}`,
        );
        assert.equal(
          e.face_id,
          own.id,
          `${label} not recognised (similarity ${e.similarity.toFixed(3)})`,
        );
        assert.ok(e.similarity >= DEFAULT_MATCH_THRESHOLD);
        assert.equal(e.authorized, Number(own.id.slice(-2)) % 2 === 0);
        assert.equal(e.landmarks?.length, 5);
        seen.add(own.id);
      }
      assert.equal(seen.size, enrolled.length, `view x${scale}: every enrolled face is recognised`);
      // Not just the best match: every other person stays below the threshold.
      for (const f of await recognizer.encodeFrame(view.frame)) {
        const [ox, oy] = view.back(...(centre(f) as [number, number]));
        for (const p of enrolled) {
          if (Math.hypot(p.cx - ox, p.cy - oy) < 15) continue;
          const sim = dot(f.encoding, stored.get(p.id)!);
          assert.ok(
            sim < DEFAULT_MATCH_THRESHOLD,
            `a face scored ${sim.toFixed(3)} against ${p.id}`,
          );
        }
      }
    }
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /fess_face_recognitions_total\{camera_id="cam-test",authorized="true"\} \d+/,
    );
    assert.match(
      text,
      /fess_face_recognitions_total\{camera_id="cam-test",authorized="false"\} \d+/,
    );

    // POST /faces/match with an image reports every face with its match.
    const res = await handler(
      new Request("http://x/faces/match", {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: await Deno.readFile(photoPath),
      }),
    );
    const body = await res.json();
    assert.equal(res.status, 200);
    assert.equal(body.count, faces.length);
    assert.ok(body.faces.every((f: { matched: boolean }) => f.matched));
    assert.ok(!JSON.stringify(body).includes("encoding"), "no encodings in match responses");
  } finally {
    await yunet.close();
    await mfn.close();
  }
});

Deno.test("searching only inside person boxes finds the same faces as the whole frame", async () => {
  const { yunet, mfn } = await loadModels();
  try {
    const detector = createYuNetDetector({ session: yunet });
    const photo = await decodeImage(await Deno.readFile(await mediaPath("group-13-people.jpg")));
    const whole = await detector.detect(photo);
    // Person-like boxes around three faces (head and shoulders down to the waist).
    const regions = whole.slice(0, 3).map((f) => {
      const w = f.bbox.x2 - f.bbox.x1;
      return {
        x1: f.bbox.x1 - w,
        y1: f.bbox.y1 - w * 0.3,
        x2: f.bbox.x2 + w,
        y2: f.bbox.y2 + 4 * w,
      };
    });
    const inRegions = await detector.detect(photo, { regions });
    assert.ok(inRegions.length >= 3);
    for (const f of whole.slice(0, 3)) {
      const twin = inRegions.find((g) =>
        Math.hypot(g.bbox.x1 - f.bbox.x1, g.bbox.y1 - f.bbox.y1) < 6
      );
      assert.ok(
        twin,
        `face at ${Math.round(f.bbox.x1)},${Math.round(f.bbox.y1)} found in its region`,
      );
    }
    void mfn;
  } finally {
    await yunet.close();
    await mfn.close();
  }
});
