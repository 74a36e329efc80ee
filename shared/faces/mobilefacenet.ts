/**
 * MobileFaceNet embeddings over an {@link OnnxSession}: a 112x112 aligned RGB face in, a
 * 128-D L2-normalised vector out. Preprocessing follows the model: RGB, (x - 127.5) / 128, CHW.
 * Another 112x112 embedding model (e.g. SFace) fits by passing its own session and `dim`.
 *
 * @module
 */
import type { OnnxSession } from "../onnx/session.ts";
import { l2Normalize } from "./face_schemas.ts";
import type { FaceEmbedder } from "./face_types.ts";
import { rgbOffsets } from "./pixels.ts";

/** Options of {@link createMobileFaceNetEmbedder}. */
export interface MobileFaceNetOptions {
  /** A session of `mobilefacenet-128.onnx`. */
  readonly session: OnnxSession;
  /** Embedding size. Default 128. */
  readonly dim?: number;
  /** Side of the square input. Default 112. */
  readonly inputSize?: number;
}

/** Creates an embedder. */
export function createMobileFaceNetEmbedder(options: MobileFaceNetOptions): FaceEmbedder {
  const { session } = options;
  const dim = options.dim ?? 128;
  const size = options.inputSize ?? 112;
  const inputName = session.inputNames[0] ?? "input";
  const outputName = session.outputNames[0] ?? "output";
  return {
    dim,
    inputSize: size,
    async embed(face) {
      if (face.width !== size || face.height !== size) {
        throw new RangeError(`expected a ${size}x${size} face, got ${face.width}x${face.height}`);
      }
      const plane = size * size;
      const input = new Float32Array(3 * plane);
      const [ro, go, bo] = rgbOffsets(face);
      const { data, channels } = face;
      for (let i = 0; i < plane; i++) {
        const p = i * channels;
        input[i] = (data[p + ro]! - 127.5) / 128;
        input[plane + i] = (data[p + go]! - 127.5) / 128;
        input[2 * plane + i] = (data[p + bo]! - 127.5) / 128;
      }
      const out = await session.run({ [inputName]: { data: input, dims: [1, 3, size, size] } });
      const t = out[outputName];
      if (!t || t.data.length !== dim) {
        throw new Error(
          `embedding output ${outputName} should have ${dim} values, got ${t?.data.length}`,
        );
      }
      return l2Normalize(Float32Array.from(t.data as Float32Array));
    },
  };
}
