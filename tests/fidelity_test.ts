/**
 * Fidelity against the real reference: OpenCV (cv2.imdecode / cvtColor / resize) and Python
 * onnxruntime, on frames of vtest.avi (as ffmpeg JPEGs, raw bgr24, yuv420p and nv12) and the
 * group photo, at input sizes 320 and 640:
 * - the decoded frame equals OpenCV's byte for byte (JPEG decode with its EXIF orientation,
 *   4:2:0 -> BGR);
 * - the letterboxed uint8 image equals `cv2.resize` + pad byte for byte, and the float tensor
 *   equals numpy's float32 normalisation;
 * - detections are within 1 px and 0.005 score of Python onnxruntime on the same model.
 * The max differences per image set are printed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { getModelManifest } from "../models/registry.ts";
import { createDetector, type Detector } from "../shared/detector/detector.ts";
import { createLetterboxer, letterboxImage } from "../shared/detector/letterbox.ts";
import { decodeImage } from "../shared/image/decode.ts";
import { type RawFrame, wrapRawFrame } from "../shared/image/raw_frame.ts";
import { silentLogger } from "../shared/logger.ts";
import {
  mediaPath,
  modelsDir,
  VTEST_HEIGHT,
  VTEST_WIDTH,
  vtestFramesBgr,
  vtestFramesJpeg,
  vtestFramesYuv420,
} from "./support/media.ts";
import {
  type ReferenceImage,
  referencePython,
  type ReferenceResult,
  runReference,
} from "./support/opencv_reference.ts";

const FRAMES = [10, 200, 400, 600];
const SIZES = [320, 640] as const;
const PX_TOLERANCE = 1;
const SCORE_TOLERANCE = 0.005;
const manifest = getModelManifest("rtmdet-nano-person");
const ref = await referencePython();

interface Case {
  /** Image set, e.g. `vtest-jpeg`. */
  readonly set: string;
  readonly image: ReferenceImage;
  /** Decodes the case's bytes as the service does. */
  readonly decode: () => Promise<RawFrame>;
}

async function buildCases(dir: string): Promise<Case[]> {
  const cases: Case[] = [];
  const jpegs = await vtestFramesJpeg(FRAMES);
  const bgrs = await vtestFramesBgr(FRAMES);
  const yuvs = await vtestFramesYuv420(FRAMES, "yuv420p");
  const nv12s = await vtestFramesYuv420(FRAMES, "nv12");
  const dims = { width: VTEST_WIDTH, height: VTEST_HEIGHT };
  for (const [i, n] of FRAMES.entries()) {
    const jpegPath = join(dir, `vtest${n}.jpg`);
    await Deno.writeFile(jpegPath, jpegs[i]!);
    cases.push({
      set: "vtest-jpeg",
      image: { name: `vtest${n}-jpeg`, file: jpegPath },
      decode: () => decodeImage(jpegs[i]!),
    });
    for (
      const [format, bytes] of [["bgr24", bgrs[i]!], ["yuv420p", yuvs[i]!], [
        "nv12",
        nv12s[i]!,
      ]] as const
    ) {
      const rawPath = join(dir, `vtest${n}.${format}`);
      await Deno.writeFile(rawPath, bytes);
      cases.push({
        set: `vtest-${format}`,
        image: { name: `vtest${n}-${format}`, raw: rawPath, format, ...dims },
        decode: () => Promise.resolve(wrapRawFrame({ data: bytes, format, ...dims })),
      });
    }
  }
  const group = await mediaPath("group-13-people.jpg");
  const groupBytes = await Deno.readFile(group);
  cases.push({
    set: "group-jpeg",
    image: { name: "group-jpeg", file: group },
    decode: () => decodeImage(groupBytes),
  });
  // Phone photos carry their rotation in EXIF; OpenCV's imdecode applies it (6: 90° clockwise,
  // 3: 180°, 5: transposed), and so must the service.
  for (const orientation of [3, 5, 6]) {
    const bytes = new Uint8Array(
      await sharp(groupBytes).jpeg({ quality: 90 }).withMetadata({ orientation }).toBuffer(),
    );
    const path = join(dir, `group-exif${orientation}.jpg`);
    await Deno.writeFile(path, bytes);
    cases.push({
      set: "group-exif-jpeg",
      image: { name: `group-exif${orientation}`, file: path },
      decode: () => decodeImage(bytes),
    });
  }
  return cases;
}

function toBgr(frame: RawFrame): Uint8Array {
  const n = frame.width * frame.height;
  const out = new Uint8Array(n * 3);
  const [b, g, r] = frame.layout === "bgr" ? [0, 1, 2] : frame.layout === "gray" ? [0, 0, 0] : [
    2,
    1,
    0,
  ];
  for (let i = 0, p = 0; i < n; i++, p += frame.channels) {
    out[3 * i] = frame.data[p + b]!;
    out[3 * i + 1] = frame.data[p + g]!;
    out[3 * i + 2] = frame.data[p + r]!;
  }
  return out;
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

let prepared:
  | Promise<{ cases: Case[]; reference: Record<string, ReferenceResult>; dir: string }>
  | null = null;

function prepare() {
  prepared ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "fess-fidelity-" });
    const cases = await buildCases(dir);
    const reference = await runReference(ref.python!, {
      model: join(modelsDir(), manifest.file),
      mean: manifest.preprocess.mean,
      std: manifest.preprocess.std,
      pad: manifest.preprocess.pad_value,
      threshold: manifest.default_score_threshold,
      sizes: SIZES,
      outDir: dir,
      images: cases.map((c) => c.image),
    });
    return { cases, reference, dir };
  })();
  return prepared;
}

function requirePython(): void {
  assert.ok(
    ref.python,
    "no Python with OpenCV + onnxruntime: run `bash scripts/python_env.sh` and set FESS_PYTHON",
  );
}

Deno.test({
  name: "decoded frames, letterboxed bytes and float tensors equal OpenCV's byte for byte",
  ignore: ref.ignore,
  async fn() {
    requirePython();
    const { cases, dir } = await prepare();
    const norm = {
      channelOrder: manifest.preprocess.channel_order,
      mean: manifest.preprocess.mean,
      std: manifest.preprocess.std,
      padValue: manifest.preprocess.pad_value,
    };
    const letterboxer = createLetterboxer(norm);
    for (const c of cases) {
      const frame = await c.decode();
      const refBgr = await Deno.readFile(join(dir, `${c.image.name}.bgr`));
      const at = firstDifference(toBgr(frame), refBgr);
      assert.equal(at, -1, `${c.image.name}: decoded BGR differs from OpenCV at byte ${at}`);
      for (const size of SIZES) {
        const { image } = letterboxImage(frame, size, size, "bgr", norm.padValue);
        const refU8 = await Deno.readFile(join(dir, `${c.image.name}_${size}.u8`));
        const u8At = firstDifference(image, refU8);
        assert.equal(u8At, -1, `${c.image.name}@${size}: letterbox differs at byte ${u8At}`);
        const tensor = new Float32Array(3 * size * size);
        letterboxer.letterboxInto(frame, size, size, tensor);
        const refF32 = new Float32Array(
          (await Deno.readFile(join(dir, `${c.image.name}_${size}.f32`))).buffer,
        );
        const fAt = firstDifference(tensor, refF32);
        assert.equal(fAt, -1, `${c.image.name}@${size}: tensor differs at index ${fAt}`);
      }
    }
  },
});

Deno.test({
  name: "detections are within 1 px and 0.005 score of Python onnxruntime at 320 and 640",
  ignore: ref.ignore,
  async fn() {
    requirePython();
    const { cases, reference } = await prepare();
    const rows: string[] = [];
    for (const size of SIZES) {
      const detector: Detector = await createDetector({
        modelsDir: modelsDir(),
        manifest,
        backend: "native",
        inputSize: size,
        logger: silentLogger,
        warmup: false,
      });
      try {
        const stats = new Map<
          string,
          { frames: number; boxes: number; px: number; score: number }
        >();
        for (const c of cases) {
          const frame = await c.decode();
          const [mine] = await detector.detect([frame]);
          const theirs = reference[c.image.name]!.sizes[String(size)]!;
          const s = stats.get(c.set) ?? { frames: 0, boxes: 0, px: 0, score: 0 };
          assert.equal(
            mine!.detections.length,
            theirs.length,
            `${c.image.name}@${size}: ${
              mine!.detections.length
            } detections, Python has ${theirs.length}`,
          );
          const used = new Set<number>();
          for (const d of mine!.detections) {
            // The reference row nearest this detection (same order unless scores tie).
            let best = -1, bestPx = Infinity;
            theirs.forEach((t, i) => {
              if (used.has(i)) return;
              const px = Math.max(
                Math.abs(d.bbox.x1 - t[0]),
                Math.abs(d.bbox.y1 - t[1]),
                Math.abs(d.bbox.x2 - t[2]),
                Math.abs(d.bbox.y2 - t[3]),
              );
              if (px < bestPx) best = i, bestPx = px;
            });
            used.add(best);
            const scoreDiff = Math.abs(d.score - theirs[best]![4]);
            s.px = Math.max(s.px, bestPx);
            s.score = Math.max(s.score, scoreDiff);
            assert.ok(
              bestPx <= PX_TOLERANCE && scoreDiff <= SCORE_TOLERANCE,
              `${c.image.name}@${size}: ${JSON.stringify(d)} vs Python ${
                JSON.stringify(theirs[best])
              }`,
            );
          }
          s.frames++;
          s.boxes += theirs.length;
          stats.set(c.set, s);
        }
        for (const [set, s] of stats) {
          rows.push(
            `| ${set} | ${size} | ${s.frames} | ${s.boxes} | ${s.px.toFixed(3)} | ${
              s.score.toFixed(4)
            } |`,
          );
        }
      } finally {
        await detector.close();
      }
    }
    // deno-lint-ignore no-console
    console.log(
      [
        "\nfidelity vs Python onnxruntime + OpenCV (boxes rounded to 0.01 px, scores to 1e-4):",
        "| image set | size | frames | boxes | max px diff | max score diff |",
        "|---|---|---|---|---|---|",
        ...rows,
      ].join("\n"),
    );
  },
});

Deno.test({
  name: "remove the fidelity temp files",
  ignore: ref.ignore,
  async fn() {
    if (prepared) await Deno.remove((await prepared).dir, { recursive: true });
  },
});
