/**
 * YuNet face detection (OpenCV Zoo) over an {@link OnnxSession}: faces with 5 landmarks.
 *
 * Preprocessing is what an OpenCV user of `FaceDetectorYN` does: crop the region (integer
 * rectangle), `cv2.resize(crop, (nw, nh), INTER_LINEAR)` (the exact port in
 * `image/resize_linear.ts`; an unchanged size is a plain copy), BGR, raw 0-255, no
 * normalisation, CHW, padded bottom/right with zeros to multiples of 32 (the network's largest
 * stride), as `FaceDetectorYN` pads. Frames larger than `maxInputSide` are scaled down first.
 * Boxes map back through the per-axis scales of the rounded sizes. Decoding per stride s in {8, 16, 32}, one prior per
 * cell: score = sqrt(cls * obj); centre = (cell + offset) * s; size = exp(d) * s; landmarks =
 * (cell + k) * s; then greedy NMS.
 *
 * @module
 */
import type { BoundingBox } from "../events.ts";
import type { RawFrame } from "../image/raw_frame.ts";
import type { OnnxSession } from "../onnx/session.ts";
import type { DetectedFace, FaceDetector, Point } from "./face_types.ts";
import { createResizeScratch, resizeLinearRows, resizePlan } from "../image/resize_linear.ts";
import { rgbOffsets } from "./pixels.ts";

const STRIDES = [8, 16, 32] as const;

/** Options of {@link createYuNetDetector}. */
export interface YuNetDetectorOptions {
  /** A session of `yunet-face.onnx`. */
  readonly session: OnnxSession;
  /** Minimum face score. Default 0.7 (OpenCV uses 0.9 for portraits; surveillance needs less). */
  readonly scoreThreshold?: number;
  /** NMS IoU threshold. Default 0.3. */
  readonly nmsThreshold?: number;
  /** Most faces returned per frame. Default 100. */
  readonly maxFaces?: number;
  /** Larger frames are scaled down to this longest side first. Default 1280. */
  readonly maxInputSide?: number;
  /** A region (person box) is scaled up until its longest side is at least this. Default 256. */
  readonly minRegionSide?: number;
}

interface View {
  /** Region of the frame looked at (frame pixels). */
  readonly x0: number;
  readonly y0: number;
  readonly w: number;
  readonly h: number;
  /** Network pixels per frame pixel (requested; the rounded sizes give the exact scales). */
  readonly scale: number;
}

/** Creates a YuNet face detector. */
export function createYuNetDetector(options: YuNetDetectorOptions): FaceDetector {
  const { session } = options;
  const scoreThreshold = options.scoreThreshold ?? 0.7;
  const nmsThreshold = options.nmsThreshold ?? 0.3;
  const maxFaces = options.maxFaces ?? 100;
  const maxInputSide = options.maxInputSide ?? 1280;
  const minRegionSide = options.minRegionSide ?? 256;
  const inputName = session.inputNames[0] ?? "input";

  const scratch = createResizeScratch();

  async function detectView(frame: RawFrame, view: View): Promise<DetectedFace[]> {
    const nw = Math.max(1, Math.round(view.w * view.scale));
    const nh = Math.max(1, Math.round(view.h * view.scale));
    const W = Math.ceil(nw / 32) * 32, H = Math.ceil(nh / 32) * 32;
    const input = new Float32Array(3 * H * W);
    const [ro, go, bo] = rgbOffsets(frame);
    const plane = H * W, plane2 = 2 * plane;
    const { data, width, channels } = frame;
    const rowStride = width * channels;
    const byteOffset = (view.y0 * width + view.x0) * channels;
    if (nw === view.w && nh === view.h) {
      for (let y = 0; y < nh; y++) {
        for (
          let x = 0, p = byteOffset + y * rowStride, o = y * W;
          x < nw;
          x++, p += channels, o++
        ) {
          input[o] = data[p + bo]!;
          input[plane + o] = data[p + go]!;
          input[plane2 + o] = data[p + ro]!;
        }
      }
    } else {
      const region = { data, width: view.w, height: view.h, channels, rowStride, byteOffset };
      resizeLinearRows(region, resizePlan(view.w, view.h, nw, nh), (y, row) => {
        for (let x = 0, p = 0, o = y * W; x < nw; x++, p += channels, o++) {
          input[o] = row[p + bo]!;
          input[plane + o] = row[p + go]!;
          input[plane2 + o] = row[p + ro]!;
        }
      }, scratch);
    }
    const scaleX = nw / view.w, scaleY = nh / view.h;
    const out = await session.run({ [inputName]: { data: input, dims: [1, 3, H, W] } });
    const faces: DetectedFace[] = [];
    const toFrameX = (v: number) => view.x0 + v / scaleX;
    const toFrameY = (v: number) => view.y0 + v / scaleY;
    for (const s of STRIDES) {
      const cls = out[`cls_${s}`]?.data, obj = out[`obj_${s}`]?.data;
      const bbox = out[`bbox_${s}`]?.data, kps = out[`kps_${s}`]?.data;
      if (!cls || !obj || !bbox || !kps) throw new Error(`yunet output for stride ${s} is missing`);
      const cols = W / s, rows = H / s;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          const score = Math.sqrt(clamp01(Number(cls[i])) * clamp01(Number(obj[i])));
          if (score < scoreThreshold) continue;
          const cx = (c + Number(bbox[i * 4])) * s, cy = (r + Number(bbox[i * 4 + 1])) * s;
          const w = Math.exp(Number(bbox[i * 4 + 2])) * s,
            h = Math.exp(Number(bbox[i * 4 + 3])) * s;
          const landmarks: Point[] = [];
          for (let k = 0; k < 5; k++) {
            landmarks.push({
              x: toFrameX((c + Number(kps[i * 10 + 2 * k])) * s),
              y: toFrameY((r + Number(kps[i * 10 + 2 * k + 1])) * s),
            });
          }
          faces.push({
            bbox: clipBox(
              {
                x1: toFrameX(cx - w / 2),
                y1: toFrameY(cy - h / 2),
                x2: toFrameX(cx + w / 2),
                y2: toFrameY(cy + h / 2),
              },
              frame.width,
              frame.height,
            ),
            landmarks,
            score,
          });
        }
      }
    }
    return faces;
  }

  return {
    async detect(frame, opts = {}) {
      let candidates: DetectedFace[] = [];
      if (opts.regions && opts.regions.length > 0) {
        for (const region of opts.regions) {
          const view = regionView(region, frame, minRegionSide, maxInputSide);
          if (view) candidates.push(...await detectView(frame, view));
        }
      } else {
        const longest = Math.max(frame.width, frame.height);
        const scale = longest > maxInputSide ? maxInputSide / longest : 1;
        candidates = await detectView(frame, {
          x0: 0,
          y0: 0,
          w: frame.width,
          h: frame.height,
          scale,
        });
      }
      return nms(candidates, nmsThreshold).slice(0, maxFaces);
    },
  };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function clipBox(b: BoundingBox, width: number, height: number): BoundingBox {
  const x1 = Math.min(Math.max(b.x1, 0), width), x2 = Math.min(Math.max(b.x2, 0), width);
  const y1 = Math.min(Math.max(b.y1, 0), height), y2 = Math.min(Math.max(b.y2, 0), height);
  return { x1, y1, x2: Math.max(x1, x2), y2: Math.max(y1, y2) };
}

/** The part of the frame to search for a person box: the box plus a margin, scaled to size. */
function regionView(
  region: BoundingBox,
  frame: RawFrame,
  minSide: number,
  maxSide: number,
): View | null {
  const mw = (region.x2 - region.x1) * 0.1, mh = (region.y2 - region.y1) * 0.1;
  const x0 = Math.max(0, Math.floor(region.x1 - mw)), y0 = Math.max(0, Math.floor(region.y1 - mh));
  const x1 = Math.min(frame.width, Math.ceil(region.x2 + mw));
  const y1 = Math.min(frame.height, Math.ceil(region.y2 + mh));
  const w = x1 - x0, h = y1 - y0;
  if (w < 8 || h < 8) return null;
  const longest = Math.max(w, h);
  const scale = longest < minSide
    ? Math.min(4, minSide / longest)
    : longest > maxSide
    ? maxSide / longest
    : 1;
  return { x0, y0, w, h, scale };
}

function iou(a: BoundingBox, b: BoundingBox): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = ix * iy;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression, best score first. */
export function nms(faces: DetectedFace[], threshold: number): DetectedFace[] {
  const sorted = [...faces].sort((p, q) => q.score - p.score);
  const kept: DetectedFace[] = [];
  for (const f of sorted) {
    if (kept.every((k) => iou(k.bbox, f.bbox) <= threshold)) kept.push(f);
  }
  return kept;
}
