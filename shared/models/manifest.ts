/**
 * Model manifests: everything FESS must know about an ONNX model besides its weights — where it
 * comes from, its sha256, its input contract (size, normalisation, channel order), its output
 * format and class names. The JSON files under `models/` are validated by this schema, which is
 * the single source of truth for their shape.
 *
 * @module
 */
import { z } from "zod";

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lower-case hex digits");
const Triple = z.tuple([z.number(), z.number(), z.number()]);

/** How a model expects pixels: resize mode, channel order and per-channel normalisation. */
export const PreprocessSchema = z.strictObject({
  /** `letterbox`: keep aspect ratio, resize to fit, pad bottom/right; `stretch`: resize to size. */
  resize: z.enum(["letterbox", "stretch", "pad_only"]),
  /** Pixel value of padding, before normalisation. */
  pad_value: z.number().min(0).max(255).default(0),
  /** Channel order the tensor is in. */
  channel_order: z.enum(["bgr", "rgb"]),
  /** Mean per channel, in `channel_order`. */
  mean: Triple.default([0, 0, 0]),
  /** Std per channel, in `channel_order`. */
  std: Triple.default([1, 1, 1]),
  /** Pad the input to a multiple of this (e.g. 32 for YuNet). */
  size_multiple: z.number().int().min(1).default(1),
});

/** mmdeploy end2end output: `dets [N, K, 5]` (x1,y1,x2,y2,score in input pixels), `labels [N, K]`. */
export const End2EndOutputSchema = z.strictObject({
  format: z.literal("mmdeploy_end2end"),
  dets: z.string().default("dets"),
  labels: z.string().default("labels"),
});

/**
 * Raw RTMDet head without NMS: per stride, class logits `[N, C, H/s, W/s]` and box distances
 * `[N, 4, H/s, W/s]` (left, top, right, bottom from the prior point at (x*s, y*s)).
 */
export const RawHeadOutputSchema = z.strictObject({
  format: z.literal("rtmdet_raw_head"),
  strides: z.array(z.number().int().positive()).min(1).default([8, 16, 32]),
  /** Score tensor names, one per stride, same order as `strides`. */
  scores: z.array(z.string()).min(1),
  /** Distance tensor names, one per stride, same order as `strides`. */
  boxes: z.array(z.string()).min(1),
  /** `sigmoid` when the graph emits logits, `none` when it already emits probabilities. */
  score_activation: z.enum(["sigmoid", "none"]).default("sigmoid"),
  /** Whether distances are in pixels (RTMDet multiplies by stride in the head) or in strides. */
  distance_unit: z.enum(["pixels", "strides"]).default("pixels"),
  nms_iou: z.number().min(0).max(1).default(0.65),
  max_detections: z.number().int().positive().default(300),
}).refine((o) => o.scores.length === o.strides.length && o.boxes.length === o.strides.length, {
  message: "scores and boxes need one tensor name per stride",
});

/** YuNet per-stride outputs (decoded by the face pipeline). */
export const YuNetOutputSchema = z.strictObject({
  format: z.literal("yunet"),
  strides: z.array(z.number().int().positive()).default([8, 16, 32]),
});

/** A single embedding vector output. */
export const EmbeddingOutputSchema = z.strictObject({
  format: z.literal("embedding"),
  name: z.string().default("output"),
  dimensions: z.number().int().positive(),
  /** Whether vectors must be L2-normalised before comparing. */
  l2_normalize: z.boolean().default(true),
});

/** A model's output contract. */
export const OutputSchema = z.discriminatedUnion("format", [
  End2EndOutputSchema,
  RawHeadOutputSchema,
  YuNetOutputSchema,
  EmbeddingOutputSchema,
]);

/** One model manifest (`models/<id>.json`). */
export const ModelManifestSchema = z.strictObject({
  /** Stable id, also the manifest file's base name. */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  /** What the model does. */
  task: z.enum(["object_detection", "face_detection", "face_embedding"]),
  description: z.string().default(""),
  /** File name inside FESS_MODELS_DIR. */
  file: z.string().regex(/^[A-Za-z0-9._-]+\.onnx$/, "file must be a plain .onnx file name"),
  /** sha256 of `file`; `null` when not known (then nothing is verified). */
  sha256: Sha256Schema.nullable(),
  /** Size in bytes, when known. */
  bytes: z.number().int().positive().nullable().default(null),
  /** Where `scripts/models.ts` downloads it from; `null` when it must be exported by hand. */
  download: z.strictObject({
    url: z.url(),
    /** When the URL is a zip archive: the member to extract. */
    zip_member: z.string().optional(),
  }).nullable(),
  /** Upstream provenance: checkpoint, config, licence. */
  source: z.strictObject({
    checkpoint: z.string().optional(),
    config: z.string().optional(),
    license: z.string(),
    url: z.url().optional(),
  }),
  input: z.strictObject({
    name: z.string().default("input"),
    /** Native square input size. */
    size: z.number().int().positive(),
    /** Sizes this model runs at (dynamic H/W exports run several). */
    sizes: z.array(z.number().int().positive()).min(1),
    /** Whether several frames can go in one run (dynamic batch axis). */
    dynamic_batch: z.boolean(),
  }),
  preprocess: PreprocessSchema,
  output: OutputSchema,
  /** Class names in label-index order (COCO-80 order for COCO models). */
  classes: z.array(z.string().min(1)).default([]),
  /** Score threshold the model is usually run with. */
  default_score_threshold: z.number().min(0).max(1).default(0.3),
});

/** A validated model manifest. */
export type ModelManifest = z.infer<typeof ModelManifestSchema>;
/** A manifest's output contract. */
export type ModelOutput = z.infer<typeof OutputSchema>;
/** A manifest's preprocessing contract. */
export type ModelPreprocess = z.infer<typeof PreprocessSchema>;
