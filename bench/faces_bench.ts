/**
 * Face pipeline benchmark on the group photo (1024x707, 14 faces): YuNet detection, alignment,
 * MobileFaceNet embedding and the whole recognise step. Prints a table.
 *
 *   deno run -A bench/faces_bench.ts [native|wasm]
 *
 * @module
 */
import { alignFace } from "../shared/faces/align.ts";
import { createFaceGallery } from "../shared/faces/gallery.ts";
import { createMobileFaceNetEmbedder } from "../shared/faces/mobilefacenet.ts";
import { createFaceRecognizer } from "../shared/faces/recognizer.ts";
import { createYuNetDetector } from "../shared/faces/yunet.ts";
import { createMemoryCache } from "../shared/cache/memory_cache.ts";
import { decodeImage } from "../shared/image/decode.ts";
import { silentLogger } from "../shared/logger.ts";
import { createOnnxSession } from "../shared/onnx/session.ts";
import { mediaPath, modelPath } from "../tests/support/media.ts";

async function time(n: number, fn: () => Promise<unknown> | unknown): Promise<[number, number]> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return [t[Math.floor(n / 2)]!, t[Math.min(n - 1, Math.floor(n * 0.99))]!];
}

if (import.meta.main) {
  const backend = (Deno.args[0] ?? "native") as "native" | "wasm";
  const yunet = await createOnnxSession({
    modelPath: await modelPath("yunet-face.onnx"),
    backend,
    logger: silentLogger,
  });
  const mfn = await createOnnxSession({
    modelPath: await modelPath("mobilefacenet-128.onnx"),
    backend,
    logger: silentLogger,
  });
  const frame = await decodeImage(await Deno.readFile(await mediaPath("group-13-people.jpg")));
  const detector = createYuNetDetector({ session: yunet });
  const embedder = createMobileFaceNetEmbedder({ session: mfn });
  const gallery = createFaceGallery({ cache: createMemoryCache(), logger: silentLogger });
  const recognizer = createFaceRecognizer({
    faceDetector: detector,
    embedder,
    gallery,
    logger: silentLogger,
  });
  const faces = await detector.detect(frame);
  const aligned = alignFace(frame, faces[0]!.landmarks);
  const rows: [string, [number, number]][] = [
    [`YuNet detect 1024x707 (${faces.length} faces)`, await time(20, () => detector.detect(frame))],
    ["align one face to 112x112", await time(200, () => alignFace(frame, faces[0]!.landmarks))],
    ["MobileFaceNet embed one face", await time(100, () => embedder.embed(aligned))],
    [
      "recognise whole frame (detect+align+embed+match)",
      await time(10, () => recognizer.recognize(frame, { cameraId: "bench", frameNumber: 0 })),
    ],
  ];
  // deno-lint-ignore no-console
  console.log(`FESS faces bench — backend ${backend}, ${navigator.hardwareConcurrency} CPUs\n`);
  // deno-lint-ignore no-console
  console.log(
    "| step | p50 ms | p99 ms |\n|---|---|---|\n" +
      rows.map(([n, [p50, p99]]) => `| ${n} | ${p50.toFixed(2)} | ${p99.toFixed(2)} |`).join("\n"),
  );
  await yunet.close();
  await mfn.close();
}
