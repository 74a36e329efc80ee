/**
 * Making sure a manifest's model file is present and intact: verify the sha256 of what is there,
 * otherwise download it (optionally out of a zip archive) to a temporary file, verify, and only
 * then move it into place — a failed or corrupt download never leaves a file behind that a later
 * start would trust.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { dirname, join } from "node:path";
import { sha256Hex } from "../onnx/model_file.ts";
import type { ModelManifest } from "./manifest.ts";

/** Outcome for one model. */
export type EnsureStatus =
  | "ok" // present, sha256 matches
  | "unverified" // present, manifest has no sha256
  | "downloaded" // fetched and verified
  | "mismatch" // present (or downloaded) with the wrong sha256
  | "missing" // absent, nothing to download from
  | "failed"; // download failed

/** Result of {@link ensureModel}. */
export interface EnsureResult {
  readonly id: string;
  readonly path: string;
  readonly status: EnsureStatus;
  /** Human-readable explanation (names path, URL and hashes). */
  readonly message: string;
  /** sha256 of the file on disk or downloaded, when computed. */
  readonly sha256?: string;
}

/** Download progress. */
export interface Progress {
  readonly id: string;
  readonly received: number;
  /** Total bytes when the server says. */
  readonly total: number | null;
}

/** Options of {@link ensureModel}. */
export interface EnsureModelOptions {
  readonly manifest: ModelManifest;
  readonly modelsDir: string;
  /** Only verify; never download. */
  readonly checkOnly?: boolean;
  /** `fetch` to use (tests pass one bound to a local server). */
  readonly fetch?: typeof fetch;
  readonly onProgress?: (p: Progress) => void;
  /** Abort downloads after this long (default 10 minutes). */
  readonly timeoutMs?: number;
}

/** Verifies `path` against `sha256`; `null` when the file does not exist. */
export async function verifyFile(
  path: string,
  sha256: string | null,
): Promise<{ ok: boolean; sha256: string } | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  const got = await sha256Hex(bytes);
  return { ok: sha256 === null || got === sha256, sha256: got };
}

/** Verifies or fetches one model. Never throws for expected failures: see `status`. */
export async function ensureModel(options: EnsureModelOptions): Promise<EnsureResult> {
  const { manifest } = options;
  const id = manifest.id;
  const path = join(options.modelsDir, manifest.file);
  const present = await verifyFile(path, manifest.sha256);
  if (present) {
    if (!present.ok) {
      return {
        id,
        path,
        status: "mismatch",
        sha256: present.sha256,
        message:
          `${path} has sha256 ${present.sha256}, manifest expects ${manifest.sha256}; delete it to re-download`,
      };
    }
    return manifest.sha256 === null
      ? {
        id,
        path,
        status: "unverified",
        sha256: present.sha256,
        message: `${path} present; manifest has no sha256 (got ${present.sha256})`,
      }
      : { id, path, status: "ok", sha256: present.sha256, message: `${path} sha256 OK` };
  }
  if (!manifest.download) {
    return {
      id,
      path,
      status: "missing",
      message: `${path} missing and ${id} has no download URL (see docs/DETECTOR_SETUP.md)`,
    };
  }
  if (options.checkOnly) {
    return {
      id,
      path,
      status: "missing",
      message: `${path} missing (download from ${manifest.download.url})`,
    };
  }
  const url = manifest.download.url;
  let body: Uint8Array;
  try {
    body = await download(url, id, options);
    if (manifest.download.zip_member) {
      body = await extractZipMember(body, manifest.download.zip_member);
    }
  } catch (err) {
    return {
      id,
      path,
      status: "failed",
      message: `cannot download ${id} from ${url}: ${describe(err)}`,
    };
  }
  const got = await sha256Hex(body);
  if (manifest.sha256 !== null && got !== manifest.sha256) {
    return {
      id,
      path,
      status: "mismatch",
      sha256: got,
      message:
        `download of ${id} from ${url} has sha256 ${got}, manifest expects ${manifest.sha256}; not installed`,
    };
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.part-${crypto.randomUUID()}`;
  try {
    await Deno.writeFile(tmp, body);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    return {
      id,
      path,
      status: "failed",
      message: `cannot write ${path}: ${errorMessage(err)}`,
    };
  }
  return {
    id,
    path,
    status: "downloaded",
    sha256: got,
    message: `${path} downloaded from ${url}, sha256 ${got}`,
  };
}

async function download(url: string, id: string, options: EnsureModelOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  const res = await doFetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 600_000) });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} ${res.statusText}`);
  }
  const totalHeader = res.headers.get("content-length");
  const total = totalHeader === null ? null : Number(totalHeader);
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of res.body) {
    chunks.push(chunk);
    received += chunk.byteLength;
    options.onProgress?.({ id, received, total });
  }
  const out = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Extracts the first zip entry whose path ends with `member` (stored or deflated) — enough for
 * OpenMMLab's SDK zips, which nest `end2end.onnx` in a folder.
 */
export async function extractZipMember(zip: Uint8Array, member: string): Promise<Uint8Array> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive (no end of central directory)");
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  for (let e = 0; e < entries; e++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error("corrupt zip central directory");
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    const name = decoder.decode(zip.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (name !== member && !name.endsWith("/" + member)) continue;
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = zip.subarray(start, start + compressed);
    if (method === 0) return data.slice();
    if (method !== 8) throw new Error(`zip member ${name} uses unsupported method ${method}`);
    const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("deflate-raw"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  throw new Error(`zip archive has no member ${member}`);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
  return err.message + cause;
}
