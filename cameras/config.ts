/**
 * Sidecar settings: one zod schema for both ways of describing cameras, a `cameras.yaml` file
 * (many cameras) and command-line flags (one camera). Validation reports every problem at
 * once, each with its key, where the value came from (`file cameras.yaml`, `flag --fps`) and
 * why it is wrong, like the service's `ConfigError`.
 *
 * Invariants of a parsed {@link CamerasConfig}: camera ids are unique and valid service camera
 * ids; every URL is classified (see `source.ts`); width and height are both given or both
 * absent; each camera carries its resolved API key (camera `key`, else top-level `key`, else
 * the first key in `key_file`).
 *
 * @module
 */
import { z } from "zod";
import YAML from "yaml";
import { CameraIdSchema } from "../shared/camera_id.ts";
import { CameraSettingsSchema } from "../shared/camera_settings.ts";
import { ConfigError, type ConfigIssue } from "../shared/config.ts";
import { CameraPixelFormatSchema } from "./pixel_format.ts";
import { type CameraSource, classifySource } from "./source.ts";

// Flags arrive as strings; YAML gives typed values. Both go through one schema.
const num = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v), schema);
const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== "string") return v;
    const l = v.trim().toLowerCase();
    return ["true", "1", "yes", "on"].includes(l)
      ? true
      : ["false", "0", "no", "off"].includes(l)
      ? false
      : v;
  }, z.boolean());
const side = () => num(z.number().int().min(16).max(7680));

/** One camera. */
export const CameraSchema = z.strictObject({
  id: CameraIdSchema.describe("camera id used by the service (URL path, events, metrics)"),
  url: z.string().min(1).describe("rtsp(s)://, http(s):// MJPEG or HLS, file path, /dev/videoN"),
  fps: num(z.number().gt(0).max(120)).default(5).describe("frame rate cap (never duplicates)"),
  width: side().optional().describe("scale to this width (with height); default: native"),
  height: side().optional().describe("scale to this height (with width); default: native"),
  pixel_format: CameraPixelFormatSchema.default("yuv420p"),
  loop: bool().default(false).describe("files only: start again at the end"),
  rtsp_transport: z.enum(["tcp", "udp"]).default("tcp"),
  key: z.string().min(1).optional().describe("secret; API key for this camera"),
  settings: CameraSettingsSchema.optional().describe(
    "zones, masks, rules and thresholds: the service reads them (its cameras_path setting)",
  ),
});

const ServerUrlSchema = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}, "must be the service's base URL, http(s)://host:port");

/** The whole sidecar configuration. */
export const CamerasConfigSchema = z.strictObject({
  server: ServerUrlSchema.describe("FESS base URL"),
  key: z.string().min(1).optional().describe("secret; API key for every camera"),
  key_file: z.string().min(1).optional().describe("file holding comma-separated API keys"),
  ffmpeg: z.string().min(1).default("ffmpeg").describe("ffmpeg executable"),
  duration_seconds: num(z.number().gt(0)).optional().describe("stop after this long"),
  decode_threads: num(z.number().int().min(0).max(16)).default(1)
    .describe("ffmpeg decoder threads per camera (0: ffmpeg decides)"),
  reconnect: z.strictObject({
    initial_ms: num(z.number().int().min(1)).default(500),
    max_ms: num(z.number().int().min(1)).default(30_000),
  }).prefault({}),
  request_timeout_ms: num(z.number().int().min(1)).default(10_000),
  stall_timeout_ms: num(z.number().int().min(100)).default(15_000)
    .describe("restart ffmpeg when no frame arrived for this long"),
  log_interval_seconds: num(z.number().int().min(1)).default(10)
    .describe("status log line period without a terminal"),
  cameras: z.array(CameraSchema).min(1, "at least one camera is needed"),
});

/** Parsed settings of one camera, with its source classified and its key resolved. */
export type CameraConfig = z.infer<typeof CameraSchema> & { readonly source: CameraSource };

/** Parsed sidecar settings. */
export type CamerasConfig = Omit<z.infer<typeof CamerasConfigSchema>, "cameras" | "key_file"> & {
  readonly cameras: readonly CameraConfig[];
};

/** One problem in the sidecar settings (`key` like `cameras[2].fps`, `source` like `flag --fps`). */
export type CamerasConfigIssue = ConfigIssue;

/** Every problem in the sidecar settings, readable without a stack trace. */
export class CamerasConfigError extends ConfigError {
  constructor(issues: readonly CamerasConfigIssue[]) {
    super(issues, "camera settings");
    this.name = "CamerasConfigError";
  }
}

/** Raw settings and where each value came from. */
export interface CamerasConfigInput {
  /** The unvalidated tree (a parsed YAML file, or flags arranged like one). */
  readonly tree: Record<string, unknown>;
  /** Source of each given value by key path (`cameras[0].fps` -> `flag --fps`). */
  readonly sources: ReadonlyMap<string, string>;
  /** Source of values not in {@link sources}: `file x.yaml`, or `default`. */
  readonly fallbackSource: string;
}

/** Options of {@link parseCamerasConfig}. */
export interface ParseCamerasConfigOptions {
  /** Reads `key_file`; default `Deno.readTextFileSync`. */
  readonly readFile?: (path: string) => string;
  /** Whether a local file exists; default a `Deno.statSync` check. */
  readonly fileExists?: (path: string) => boolean;
}

/** Validates `input`, throwing {@link CamerasConfigError} with every problem. */
export function parseCamerasConfig(
  input: CamerasConfigInput,
  options: ParseCamerasConfigOptions = {},
): CamerasConfig {
  const readFile = options.readFile ?? ((p: string) => Deno.readTextFileSync(p));
  const fileExists = options.fileExists ?? defaultFileExists;
  const issues: CamerasConfigIssue[] = [];
  const sourceOf = (key: string) => input.sources.get(key) ?? input.fallbackSource;
  const add = (key: string, message: string) =>
    issues.push({ key, source: sourceOf(key), message });

  const parsed = CamerasConfigSchema.safeParse(input.tree);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const base = keyPath(issue.path);
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) add(base ? `${base}.${k}` : k, "unknown setting");
      } else {
        const missing = issue.code === "invalid_type" && /received undefined/.test(issue.message);
        add(base || "(root)", missing ? "required" : issue.message);
      }
    }
  }
  // Camera-level checks run on the raw entries too, so they are reported with schema errors.
  const rawCameras = Array.isArray(input.tree.cameras) ? input.tree.cameras : [];
  const seen = new Map<string, number>();
  const sources: (CameraSource | null)[] = [];
  rawCameras.forEach((raw: unknown, i: number) => {
    const cam = (raw ?? {}) as Record<string, unknown>;
    const at = (k: string) => `cameras[${i}].${k}`;
    let source: CameraSource | null = null;
    if (typeof cam.url === "string" && cam.url !== "") {
      const classified = classifySource(cam.url);
      if ("error" in classified) add(at("url"), classified.error);
      else {
        source = classified;
        if (source.kind === "file" && !fileExists(source.input)) {
          add(at("url"), `no such file: ${source.input}`);
        }
        if (isTrue(cam.loop) && source.kind !== "file") {
          add(at("loop"), `loop applies to files only, this URL is ${source.kind}`);
        }
      }
    }
    sources.push(source);
    const fourTwoZero = cam.pixel_format === undefined || cam.pixel_format === "yuv420p" ||
      cam.pixel_format === "nv12";
    for (const side of ["width", "height"] as const) {
      if (fourTwoZero && Number.isInteger(Number(cam[side])) && Number(cam[side]) % 2 === 1) {
        add(at(side), `${cam.pixel_format ?? "yuv420p"} needs an even ${side}`);
      }
    }
    if ((cam.width === undefined) !== (cam.height === undefined)) {
      const [given, missing] = cam.width === undefined ? ["height", "width"] : ["width", "height"];
      add(at(given), `give both width and height (${missing} is missing)`);
    }
    if (typeof cam.id === "string") {
      const first = seen.get(cam.id);
      if (first !== undefined) add(at("id"), `duplicate camera id, also cameras[${first}]`);
      else seen.set(cam.id, i);
    }
  });

  const tree = input.tree;
  if (tree.key !== undefined && tree.key_file !== undefined) {
    add("key_file", "give key or key_file, not both");
  }
  let fileKey: string | undefined;
  if (typeof tree.key_file === "string" && tree.key_file !== "" && tree.key === undefined) {
    try {
      fileKey = readFile(tree.key_file).split(",").map((k) => k.trim()).find((k) => k !== "");
      if (fileKey === undefined) add("key_file", `no key in ${tree.key_file}`);
    } catch (err) {
      const reason = err instanceof Deno.errors.NotFound ? "file not found" : String(err);
      add("key_file", `cannot read ${tree.key_file}: ${reason}`);
    }
  }

  if (issues.length > 0 || !parsed.success) throw new CamerasConfigError(dedupe(issues));
  const { key_file: _unused, ...rest } = parsed.data;
  const globalKey = rest.key ?? fileKey;
  return {
    ...rest,
    cameras: parsed.data.cameras.map((cam, i) => ({
      ...cam,
      key: cam.key ?? globalKey,
      source: sources[i]!,
    })),
  };
}

/** Reads a `cameras.yaml` (or JSON) file into a {@link CamerasConfigInput}. */
export function readCamerasFile(
  path: string,
  readFile: (path: string) => string = (p) => Deno.readTextFileSync(p),
): CamerasConfigInput {
  const source = `file ${path}`;
  let parsed: unknown;
  try {
    parsed = YAML.parse(readFile(path));
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound
      ? "file not found"
      : (err as Error).message.split("\n")[0];
    throw new CamerasConfigError([{ key: "(file)", source, message: `cannot read: ${reason}` }]);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CamerasConfigError([{ key: "(file)", source, message: "must be a YAML mapping" }]);
  }
  return { tree: parsed as Record<string, unknown>, sources: new Map(), fallbackSource: source };
}

function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

function isTrue(v: unknown): boolean {
  return v === true || (typeof v === "string" && ["true", "1", "yes", "on"].includes(v));
}

function dedupe(issues: CamerasConfigIssue[]): CamerasConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.key}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function defaultFileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
