/**
 * Reading model files with integrity checks. A missing or corrupt model is an operator problem,
 * so every failure names the path and the sha256 the manifest expects.
 *
 * @module
 */
import { FessError } from "../errors.ts";

/** 503: a model file is missing, unreadable, has the wrong hash or does not load. */
export class ModelLoadError extends FessError {
  /** The model path. */
  readonly path: string;
  constructor(
    path: string,
    message: string,
    options: { expectedSha256?: string; cause?: unknown } = {},
  ) {
    const expected = options.expectedSha256 ? ` (expected sha256 ${options.expectedSha256})` : "";
    const hint = "; run `deno task models` to fetch and verify the models, " +
      "or point FESS_MODELS_DIR at a folder holding them";
    super(503, "model_unavailable", `${message}: ${path}${expected}${hint}`, {
      cause: options.cause,
      detail: { path, expected_sha256: options.expectedSha256 ?? null },
    });
    this.path = path;
  }
}

/** Lower-case hex sha256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of {@link readModelFile}. */
export interface ReadModelFileOptions {
  /** File path. */
  readonly path: string;
  /** Expected lower-case hex sha256; checked when given. */
  readonly sha256?: string;
}

/** Reads a model file, throwing {@link ModelLoadError} when absent or when its hash differs. */
export async function readModelFile(options: ReadModelFileOptions): Promise<Uint8Array> {
  const { path, sha256 } = options;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    const what = err instanceof Deno.errors.NotFound
      ? "model file not found"
      : "model file unreadable";
    throw new ModelLoadError(path, what, { expectedSha256: sha256, cause: err });
  }
  if (sha256) {
    const got = await sha256Hex(bytes);
    if (got !== sha256.toLowerCase()) {
      throw new ModelLoadError(
        path,
        `model file is corrupt or a different version (sha256 ${got})`,
        {
          expectedSha256: sha256,
        },
      );
    }
  }
  return bytes;
}
