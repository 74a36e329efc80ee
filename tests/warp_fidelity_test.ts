/**
 * Face alignment against the real reference (`tests/support/opencv_warp_reference.py`):
 * - `warpAffineLinear` equals `cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0)` byte for byte, on
 *   the group photo and on seeded noise (every rounding case shows there), grey and colour, for
 *   rotations, scales up and down, reflections, shears, integer shifts and crops that run off
 *   the image;
 * - `estimateSimilarity` equals Umeyama's least squares (skimage's estimate) to 1e-9;
 * - `alignFace` is that warp of that transform: the crop insightface's `norm_crop` makes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { alignFace, ARCFACE_TEMPLATE_112, estimateSimilarity } from "../shared/faces/align.ts";
import type { Point } from "../shared/faces/face_types.ts";
import { decodeImage } from "../shared/image/decode.ts";
import type { RawFrame } from "../shared/image/raw_frame.ts";
import { type AffineMatrix, warpAffineLinear } from "../shared/image/warp_affine_linear.ts";
import { mediaPath } from "./support/media.ts";
import { referencePython, runReferenceScript } from "./support/opencv_reference.ts";

const ref = await referencePython();

/** A deterministic noise image (LCG), so neighbouring pixels differ as much as they can. */
function noise(width: number, height: number, channels: 1 | 3, seed: number): RawFrame {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels, layout: channels === 1 ? "gray" : "bgr" };
}

/** Source-to-destination matrix of a rotation by `angle` and `scale` about `centre`, moved. */
function rotation(angle: number, scale: number, centre: Point, to: Point): AffineMatrix {
  const a = scale * Math.cos(angle), b = scale * Math.sin(angle);
  return [a, -b, to.x - (a * centre.x - b * centre.y), b, a, to.y - (b * centre.x + a * centre.y)];
}

interface WarpCase {
  readonly name: string;
  readonly image: string;
  readonly matrix: AffineMatrix;
  readonly width: number;
  readonly height: number;
}

function warpCases(images: Record<string, RawFrame>): WarpCase[] {
  const cases: WarpCase[] = [];
  for (const [image, frame] of Object.entries(images)) {
    const c = { x: frame.width / 2, y: frame.height / 2 };
    const matrices: [string, AffineMatrix][] = [
      ["identity", [1, 0, 0, 0, 1, 0]],
      ["shift-int", [1, 0, -7, 0, 1, 5]],
      ["shift-frac", [1, 0, 3.37, 0, 1, -2.61]],
      ["rot30-down", rotation(Math.PI / 6, 0.43, c, { x: 56, y: 56 })],
      ["rot-112deg-up", rotation(-1.95, 2.7, c, { x: 56, y: 60 })],
      ["rot90", rotation(Math.PI / 2, 1, c, { x: 40, y: 70 })],
      ["rot180-half", rotation(Math.PI, 0.5, c, { x: 56, y: 56 })],
      ["off-left-edge", rotation(0.2, 1.3, { x: 4, y: c.y }, { x: 56, y: 56 })],
      [
        "off-bottom-right",
        rotation(-0.4, 0.8, { x: frame.width - 3, y: frame.height - 2 }, {
          x: 50,
          y: 50,
        }),
      ],
      ["mirror", [-0.9, 0.05, frame.width * 0.7, 0.05, 0.9, -3]],
      ["shear", [1.1, 0.35, -20, -0.2, 0.95, 11]],
      ["all-outside", [1, 0, -frame.width - 50, 0, 1, 0]],
    ];
    for (const [kind, matrix] of matrices) {
      cases.push({ name: `${image}-${kind}`, image, matrix, width: 112, height: 112 });
    }
  }
  return cases;
}

/** Landmarks of a face: the template turned, scaled and placed at `at`, with a little jitter. */
function faceLandmarks(angle: number, scale: number, at: Point, jitter: number): Point[] {
  const [m0, m1, m2, m3, m4, m5] = rotation(angle, scale, { x: 56, y: 56 }, at);
  return ARCFACE_TEMPLATE_112.map((p, i) => ({
    x: m0 * p.x + m1 * p.y + m2 + jitter * Math.sin(3 * i + 1),
    y: m3 * p.x + m4 * p.y + m5 + jitter * Math.cos(5 * i + 2),
  }));
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

Deno.test({
  name:
    "face alignment equals OpenCV: warpAffine byte for byte, the similarity fit to 1e-9, alignFace both",
  ignore: ref.ignore,
  async fn() {
    assert.ok(
      ref.python,
      "no Python with OpenCV + onnxruntime: run `bash scripts/python_env.sh` and set FESS_PYTHON",
    );
    const dir = await Deno.makeTempDir({ prefix: "fess-warp-fidelity-" });
    try {
      const group = await decodeImage(await Deno.readFile(await mediaPath("group-13-people.jpg")));
      const images: Record<string, RawFrame> = {
        group,
        "noise-bgr": noise(97, 61, 3, 7),
        "noise-gray": noise(64, 80, 1, 11),
      };
      const faces = [
        { name: "face-upright", landmarks: faceLandmarks(0.05, 0.9, { x: 300, y: 200 }, 0.8) },
        { name: "face-tilted", landmarks: faceLandmarks(-0.6, 0.45, { x: 620, y: 330 }, 0.5) },
        { name: "face-at-edge", landmarks: faceLandmarks(0.3, 1.7, { x: 20, y: 690 }, 1.2) },
      ];
      const cases = warpCases(images);
      const aligned = faces.map((f) => {
        const t = estimateSimilarity(f.landmarks, ARCFACE_TEMPLATE_112);
        const matrix: AffineMatrix = [t.a, -t.b, t.tx, t.b, t.a, t.ty];
        return { ...f, matrix, crop: alignFace(group, f.landmarks) };
      });
      for (const f of aligned) {
        cases.push({ name: f.name, image: "group", matrix: f.matrix, width: 112, height: 112 });
      }
      const reply = await runReferenceScript<
        { similarities: Record<string, number[]>; opencv: string }
      >(ref.python, "opencv_warp_reference.py", {
        out_dir: dir,
        images: await Promise.all(
          Object.entries(images).map(async ([name, f]) => {
            const raw = join(dir, `${name}.raw`);
            await Deno.writeFile(raw, f.data);
            return { name, raw, width: f.width, height: f.height, channels: f.channels };
          }),
        ),
        warps: cases,
        similarities: faces.map((f) => ({
          name: f.name,
          src: f.landmarks.map((p) => [p.x, p.y]),
          dst: ARCFACE_TEMPLATE_112.map((p) => [p.x, p.y]),
        })),
      });

      let nonBlack = 0;
      for (const c of cases) {
        const mine = warpAffineLinear(images[c.image]!, c.matrix, c.width, c.height);
        const theirs = await Deno.readFile(join(dir, `${c.name}.u8`));
        const at = firstDifference(mine.data, theirs);
        assert.equal(
          at,
          -1,
          `${c.name}: differs from cv2 ${reply.opencv} at byte ${at} (${mine.data[at]} vs ${
            theirs[at]
          })`,
        );
        if (mine.data.some((v) => v > 0)) nonBlack++;
      }
      assert.ok(nonBlack >= cases.length - 3, "the cases look at the images, not the border");

      for (const f of aligned) {
        const want = reply.similarities[f.name]!;
        f.matrix.forEach((v, i) =>
          assert.ok(Math.abs(v - want[i]!) < 1e-9, `${f.name}: m[${i}] ${v} vs ${want[i]}`)
        );
        // The group photo is RGB and the reference warped those same bytes: alignFace's crop is
        // the reference crop, channel for channel.
        const theirs = await Deno.readFile(join(dir, `${f.name}.u8`));
        assert.equal(firstDifference(f.crop.data, theirs), -1, `${f.name}: alignFace differs`);
      }
      // deno-lint-ignore no-console
      console.log(
        `warpAffine vs cv2 ${reply.opencv}: ${cases.length} warps equal byte for byte ` +
          `(${Object.keys(images).join(", ")}); ${faces.length} similarity fits within 1e-9`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
