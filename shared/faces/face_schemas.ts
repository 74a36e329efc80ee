/**
 * Schemas of the face gallery: face ids (they appear in Redis keys and URLs), the metadata an
 * operator attaches to an enrolled face, and encoding validation. Encodings are validated here
 * once (length, finiteness, non-zero norm) so the index never holds a vector that would make
 * every similarity NaN.
 *
 * @module
 */
import { z } from "zod";
import { ValidationError } from "../errors.ts";

/** Default embedding size (MobileFaceNet-128). */
export const DEFAULT_FACE_DIM = 128;

/** The pattern every face id matches. */
export const FACE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Ids that would collide with routes under `/faces`. */
const RESERVED_IDS = new Set(["match"]);

/** zod schema of a face id: 1-128 of `[A-Za-z0-9_.-]`, starting with a letter or digit. */
export const FaceIdSchema = z.string()
  .regex(
    FACE_ID_PATTERN,
    "face_id must be 1-128 of [A-Za-z0-9_.-], starting with a letter or digit",
  )
  .refine((id) => !RESERVED_IDS.has(id), { message: "face_id 'match' is reserved" });

/** A validated face id. */
export type FaceId = z.infer<typeof FaceIdSchema>;

/**
 * Metadata as stored and returned. Its text is not checked beyond length, so faces stored before
 * {@link EnrolMetadataSchema} existed still load; new metadata goes through that schema.
 * Unknown fields are rejected.
 */
export const FaceMetadataSchema = z.object({
  /** Display name. */
  name: z.string().trim().min(1).max(200).optional(),
  /** Whether this person is allowed (drives alerts and the `authorized` metric label). */
  authorized: z.boolean().default(false),
  /** Free-form notes. */
  notes: z.string().max(2000).optional(),
}).strict();

/** Characters allowed below U+0020 in notes (tab, line feed, carriage return). */
const NOTES_WHITESPACE = new Set([0x09, 0x0a, 0x0d]);

/**
 * Why `text` is not acceptable metadata text, or null: a C0 control (U+0000-U+001F, except
 * those in `allowed`), DEL or a C1 control (U+007F-U+009F), or an unpaired UTF-16 surrogate
 * (JSON can carry `"\ud800"`, which is no character and cannot be stored as UTF-8).
 */
function textProblem(text: string, allowed: ReadonlySet<number> = new Set()): string | null {
  const hex = (c: number) => c.toString(16).toUpperCase().padStart(4, "0");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && !allowed.has(c)) || (c >= 0x7f && c <= 0x9f)) {
      return `control character U+${hex(c)} at index ${i} is not allowed`;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a surrogate pair: one character outside the BMP
        continue;
      }
      return `unpaired UTF-16 surrogate U+${hex(c)} at index ${i} is not valid Unicode`;
    }
  }
  return null;
}

const checkedText = (schema: z.ZodString, allowed?: ReadonlySet<number>) =>
  schema.superRefine((text, ctx) => {
    const problem = textProblem(text, allowed);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/**
 * Metadata a caller may enrol: {@link FaceMetadataSchema} whose text is valid Unicode without
 * control characters. A name is one line (no control character at all, after trimming); notes
 * may hold tabs and line breaks.
 */
export const EnrolMetadataSchema = FaceMetadataSchema.extend({
  name: checkedText(z.string().trim().min(1).max(200)).optional().meta({
    description: "Display name: 1-200 characters, no control characters",
  }),
  notes: checkedText(z.string().max(2000), NOTES_WHITESPACE).optional().meta({
    description: "Free-form notes: up to 2000 characters; tab and line breaks are the only " +
      "control characters allowed",
  }),
}).strict();

/** Metadata of an enrolled face (after defaults). */
export type FaceMetadata = z.infer<typeof FaceMetadataSchema>;
/** Metadata as given by a caller (before defaults). */
export type FaceMetadataInput = z.input<typeof FaceMetadataSchema>;

/**
 * Validates an encoding and converts it to float32: exactly `dim` values, all finite (also after
 * rounding to float32, so 1e39 is refused), and not all zero. Throws a 422 naming the problem
 * (never echoing the values).
 */
export function validateEncoding(values: ArrayLike<number>, dim: number): Float32Array {
  if (values.length !== dim) {
    throw new ValidationError(`encoding must have exactly ${dim} values, got ${values.length}`, {
      detail: { expected: dim, got: values.length },
    });
  }
  const out = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const v = values[i];
    if (typeof v !== "number") {
      throw new ValidationError(`encoding[${i}] is not a number`, { detail: { index: i } });
    }
    out[i] = v;
    if (!Number.isFinite(out[i]!)) {
      throw new ValidationError(`encoding[${i}] is not a finite float32 (NaN or Infinity)`, {
        detail: { index: i },
      });
    }
    norm += out[i]! * out[i]!;
  }
  if (!(norm > 0) || !Number.isFinite(norm)) {
    throw new ValidationError("encoding must have a non-zero, finite norm");
  }
  return out;
}

/** Returns an L2-normalised copy of `v` (whose norm must be non-zero). */
export function l2Normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const inv = 1 / Math.sqrt(s);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}
