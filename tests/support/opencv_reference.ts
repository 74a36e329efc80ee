/**
 * The Python reference (OpenCV + onnxruntime) for fidelity tests: finds the interpreter
 * (`FESS_PYTHON`, else `bash scripts/python_env.sh`, which creates the pinned venv) and runs
 * the reference scripts of `tests/support/` on it (`opencv_reference.py` for the detector,
 * `opencv_warp_reference.py` for face alignment).
 *
 * Outside CI a missing Python/OpenCV makes the fidelity tests ignored with one loud line naming
 * the setup command; with `CI=true` they are never ignored, so a missing reference fails them.
 *
 * @module
 */
import { repoRoot } from "./media.ts";

function isCi(): boolean {
  const ci = (Deno.env.get("CI") ?? "").toLowerCase();
  return ci === "true" || ci === "1";
}

async function canImport(python: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(python, {
      args: [
        "-c",
        "import cv2, numpy, onnxruntime; print(cv2.__version__, onnxruntime.__version__)",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return null;
    return new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "import failed";
  } catch (err) {
    return (err as Error).message;
  }
}

async function findPython(): Promise<{ python: string } | { reason: string }> {
  const given = Deno.env.get("FESS_PYTHON");
  if (given) {
    const why = await canImport(given);
    return why === null ? { python: given } : { reason: `FESS_PYTHON=${given}: ${why}` };
  }
  try {
    const out = await new Deno.Command("bash", {
      args: [`${repoRoot()}scripts/python_env.sh`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const python = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    if (!out.success || !python) {
      return { reason: `scripts/python_env.sh failed: ${new TextDecoder().decode(out.stderr)}` };
    }
    const why = await canImport(python);
    return why === null ? { python } : { reason: `${python}: ${why}` };
  } catch (err) {
    return { reason: (err as Error).message };
  }
}

let found: Promise<{ python: string } | { reason: string }> | null = null;

/**
 * The reference interpreter, and whether tests needing it are ignored (outside CI only, after
 * printing why and how to set it up).
 */
export async function referencePython(): Promise<{ python: string | null; ignore: boolean }> {
  found ??= findPython();
  const r = await found;
  if ("python" in r) return { python: r.python, ignore: false };
  if (isCi()) return { python: null, ignore: false };
  const bar = "!".repeat(100);
  // deno-lint-ignore no-console
  console.error(
    `\n${bar}\n!!! SKIPPING OPENCV FIDELITY TESTS: no Python with OpenCV + onnxruntime (${r.reason}).\n` +
      `!!! Set it up with:  bash scripts/python_env.sh  (then FESS_PYTHON=<printed path>)\n` +
      `!!! (with CI=true these tests fail instead of being skipped)\n${bar}\n`,
  );
  return { python: null, ignore: true };
}

/** One input for the reference: an encoded image file or a raw frame file. */
export type ReferenceImage =
  | { readonly name: string; readonly file: string }
  | {
    readonly name: string;
    readonly raw: string;
    readonly width: number;
    readonly height: number;
    readonly format: "bgr24" | "yuv420p" | "nv12";
  };

/** What the reference found for one image: size and per input size `[x1, y1, x2, y2, score]`. */
export interface ReferenceResult {
  readonly width: number;
  readonly height: number;
  readonly sizes: Record<string, [number, number, number, number, number][]>;
}

/** Runs `opencv_reference.py`; files land in `outDir` (see the script's docstring). */
export function runReference(
  python: string,
  request: {
    model: string;
    mean: readonly number[];
    std: readonly number[];
    pad: number;
    threshold: number;
    sizes: readonly number[];
    outDir: string;
    images: readonly ReferenceImage[];
  },
): Promise<Record<string, ReferenceResult>> {
  return runReferenceScript(python, "opencv_reference.py", { ...request, out_dir: request.outDir });
}

/**
 * Runs a reference script of `tests/support/` with `request` as JSON on stdin and returns its
 * stdout parsed as JSON; a failing script throws with its stderr.
 */
export async function runReferenceScript<T>(
  python: string,
  script: string,
  request: unknown,
): Promise<T> {
  const child = new Deno.Command(python, {
    args: [`${repoRoot()}tests/support/${script}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(request)));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`${script} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}
