/**
 * FESS settings: one zod schema, parsed once at start by {@link loadConfig} and passed down.
 *
 * Sources, highest precedence first:
 *  1. environment variables with the `FESS_` prefix and `__` for nesting
 *     (`FESS_REDIS__HOST` -> `redis.host`); a `<NAME>_FILE` variable names a file holding the
 *     value (Docker secrets), e.g. `FESS_REDIS__PASSWORD_FILE=/run/secrets/redis`;
 *  2. a YAML or JSON file named by `FESS_CONFIG_FILE`;
 *  3. the defaults in the schema below (every setting has one, or is optional).
 *
 * `cameras_path` names the intake sidecar's `cameras.yaml` (not `cameras_file`: a `_FILE`
 * variable already means "this setting's value from a file"): each entry's `id` and `settings`
 * join `cameras` (an entry of `cameras` itself wins over the file's for the same id), and
 * their problems are reported with the file and the entry, like any other setting's.
 *
 * An invalid configuration throws one {@link ConfigError} listing every bad key with its
 * source and the reason, so an operator fixes all of them in one go.
 *
 * @module
 */
import { errorMessage } from "./errors.ts";
import { z } from "zod";
import YAML from "yaml";
import { CameraIdSchema } from "./camera_id.ts";
import { CameraSettingsSchema } from "./camera_settings.ts";

// Environment values are strings; these accept the string spelling of a typed value and leave
// typed values (from YAML/JSON) alone, so both sources share one schema.
const fromString = (parse: (s: string) => unknown) => (v: unknown): unknown =>
  typeof v === "string" ? parse(v.trim()) : v;

const num = (schema: z.ZodNumber) =>
  z.preprocess(fromString((s) => (s === "" ? undefined : Number(s))), schema);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => num(z.number().int().min(min).max(max));
const bool = () =>
  z.preprocess(
    fromString((s) => {
      const l = s.toLowerCase();
      if (["true", "1", "yes", "on"].includes(l)) return true;
      if (["false", "0", "no", "off"].includes(l)) return false;
      return s;
    }),
    z.boolean(),
  );
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    fromString((s) => s.split(",").map((p) => p.trim()).filter((p) => p !== "")),
    z.array(item),
  );
// `null` (YAML) and "" (env) both mean "not set".
const optionalString = () =>
  z.preprocess(
    (v) => (v === null || v === "" || (typeof v === "string" && v.trim() === "") ? undefined : v),
    z.string().min(1).optional(),
  );

/** Redis connection. Without `url` or `host`, FESS uses its in-memory cache. */
const RedisSchema = z.strictObject({
  url: optionalString().describe("redis[s]://[user:password@]host:port/db; overrides host/port"),
  host: optionalString().describe("Redis host (unset with no url: in-memory cache)"),
  port: int(1, 65535).default(6379),
  db: int(0, 15).default(0),
  username: optionalString().describe("ACL user"),
  password: optionalString().describe("secret"),
  tls: bool().default(false),
  connect_timeout_ms: int(1).default(5000),
  command_timeout_ms: int(1).default(2000),
  auto_pipelining: bool().default(true),
  max_reconnect_delay_ms: int(1).default(2000),
  key_prefix: z.string().max(64).default(""),
}).prefault({});

/** Inference backends. `auto`: webgpu on a real adapter, else native, else wasm. */
export const BACKENDS = ["auto", "wasm", "webgpu", "native"] as const;

const DetectorSchema = z.strictObject({
  models_dir: z.string().min(1).default("models"),
  model_id: z.string().min(1).default("rtmdet-nano-person"),
  backend: z.enum(BACKENDS).default("auto"),
  input_size: num(
    z.number().int().refine(
      (n) => [320, 640, 1280].includes(n),
      "input_size must be 320, 640 or 1280",
    ),
  )
    .default(320),
  score_threshold: num(z.number().min(0).max(1)).default(0.3),
  class_thresholds: z.record(z.string(), num(z.number().min(0).max(1))).default({}),
  classes: list(z.string().min(1)).default([]),
  max_batch: int(1, 32).default(4),
  warmup: bool().default(true),
  intra_op_threads: int(0, 256).describe("native ONNX intra-op threads; 0: one per core")
    .default(1),
  inter_op_threads: int(0, 256).describe("native inter-op threads (parallel mode); 0: auto")
    .default(0),
  execution_mode: z.enum(["sequential", "parallel"]).default("sequential"),
  allow_spinning: bool().describe("idle ONNX threads spin (lower latency, more CPU)")
    .default(false),
  graph_optimization: z.enum(["disabled", "basic", "extended", "all"]).default("all"),
  wasm_threads: int(1, 64).describe("wasm backend threads").default(1),
  workers: int(0, 64).describe("native sessions in Worker threads; 0: on the main thread")
    .default(2),
}).prefault({});

const MotionSchema = z.strictObject({
  enabled: bool().default(true),
  pixel_threshold: int(1, 255).default(25),
  min_area_fraction: num(z.number().min(0).max(1)).default(0.002),
  analysis_width: int(32, 1920).default(160),
  camera_idle_seconds: int(1).default(60),
}).prefault({});

const FacesSchema = z.strictObject({
  enabled: bool().default(true),
  detector_model_id: z.string().min(1).default("yunet-face"),
  embedder_model_id: z.string().min(1).default("mobilefacenet-128"),
  detection_score: num(z.number().min(0).max(1)).default(0.7),
  min_face_size: int(1).default(20),
  alert_cooldown_seconds: int(0).default(30),
  match_threshold: num(z.number().min(-1).max(1)).default(0.6),
  encryption_key: optionalString().describe("secret; base64 32-byte AES-GCM key"),
  reverify_seconds: num(z.number().min(0)).default(10),
  retry_seconds: num(z.number().min(0)).default(1),
  max_searches_per_frame: int(1).default(4),
  allow_plaintext_encodings: bool().default(false),
}).prefault({});

/** Multi-object tracker (ByteTrack-style), one per camera. */
const TrackerSchema = z.strictObject({
  enabled: bool().default(true),
  high_threshold: num(z.number().min(0).max(1)).default(0.5),
  low_threshold: num(z.number().min(0).max(1)).default(0.1),
  new_track_threshold: num(z.number().min(0).max(1)).default(0.6),
  match_iou: num(z.number().min(0).max(1)).default(0.2),
  low_match_iou: num(z.number().min(0).max(1)).default(0.5),
  max_missed: int(0).default(30),
  min_hits: int(1).default(2),
  max_tracks: int(1).default(256),
}).refine((t) => t.low_threshold <= t.high_threshold, {
  message: "low_threshold must not exceed high_threshold",
  path: ["low_threshold"],
}).prefault({});

/** Alert snapshots: Redis when configured, else memory. */
const SnapshotsSchema = z.strictObject({
  enabled: bool().default(true),
  ttl_seconds: int(1).default(3600),
  max_bytes: int(1).default(64 * 1024 * 1024),
  jpeg_quality: int(1, 100).default(80),
  base_url: optionalString().describe("absolute URL prefix of snapshot_url; unset: a path"),
}).prefault({});

/** Per-camera zones, masks and rules; from YAML/JSON, or FESS_CAMERAS holding a YAML/JSON map. */
const CamerasSchema = z.preprocess(
  fromString((s) => {
    if (s === "") return undefined;
    try {
      return YAML.parse(s);
    } catch {
      return s;
    }
  }),
  z.record(CameraIdSchema, CameraSettingsSchema),
).default({});

const CacheSchema = z.strictObject({
  face_ttl_seconds: int(0).default(0),
  detection_ttl_seconds: int(0).default(3600),
  max_faces: int(1).default(100_000),
  detection_write_wait_ms: int(1, 10_000).default(50),
}).prefault({});

const KafkaSchema = z.strictObject({
  brokers: list(z.string().regex(/^[^\s:]+:\d{1,5}$/, "broker must be host:port")).default([]),
  client_id: z.string().min(1).default("fess"),
  topics: z.strictObject({
    motion: z.string().min(1).default("motion.detection.events"),
    face: z.string().min(1).default("face.recognition.events"),
    alert: z.string().min(1).default("alert.events"),
    system: z.string().min(1).default("system.status.events"),
    dead_letter: z.string().min(1).default("fess.dead_letter"),
  }).prefault({}),
  acks: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.enum(["0", "1", "all"]))
    .default("all"),
  compression: z.enum(["none", "gzip", "snappy"]).default("none"),
  batch_bytes: int(1).default(262_144),
  linger_ms: int(0).default(10),
  max_in_flight: int(1, 16).default(1),
  retries: int(0).default(5),
  queue_max: int(1).default(10_000),
  fsync: z.enum(["always", "batch", "none"]).default("batch"),
  max_event_bytes: int(1024).default(900_000),
  max_backlog_age_ms: int(1).default(2_000),
  wal_segment_bytes: int(65_536).default(16 * 1024 * 1024),
  wal_max_bytes: int(1_048_576).default(1024 * 1024 * 1024),
  create_topics: bool().default(true),
  topic_partitions: int(1).default(3),
  replication_factor: int(1).default(1),
  spool_dir: z.string().min(1).default(".data/spool"),
  event_log_path: z.string().min(1).default(".data/events.jsonl"),
  tls: bool().default(false),
  sasl: z.strictObject({
    mechanism: z.enum(["none", "plain", "scram-sha-256", "scram-sha-512"]).default("none"),
    username: optionalString(),
    password: optionalString().describe("secret"),
  }).prefault({}),
}).prefault({});

/** What an API key may do. `admin` may do everything. */
export const API_KEY_SCOPES = ["detect", "faces", "events", "admin"] as const;

/** One API key with its scopes. */
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

const ApiKeyEntrySchema = z.strictObject({
  key: z.string().min(16, "API keys must be at least 16 characters"),
  scopes: z.array(z.enum(API_KEY_SCOPES))
    .min(1, "a key needs at least one scope (env form: name:scope+scope:key)")
    .default(["admin"]),
  name: z.string().min(1).max(64).optional(),
});

/**
 * Env spellings of `server.api_keys`: a JSON array, or a comma list whose entries are a plain
 * key (scope admin, the historical form) or `name:scope+scope:key`.
 */
function parseApiKeysString(s: string): unknown {
  if (s.startsWith("[")) {
    try {
      return JSON.parse(s);
    } catch {
      return s; // reported by the schema as "expected array"
    }
  }
  return s.split(",").map((p) => p.trim()).filter((p) => p !== "").map((entry) => {
    const first = entry.indexOf(":");
    if (first < 0) return entry;
    const second = entry.indexOf(":", first + 1);
    if (second < 0) return { key: entry, scopes: [] }; // rejected: name:scopes:key expected
    return {
      name: entry.slice(0, first),
      scopes: entry.slice(first + 1, second).split("+").filter((x) => x !== ""),
      key: entry.slice(second + 1),
    };
  });
}

const ApiKeysSchema = z.preprocess(
  (v) => {
    const entries = typeof v === "string" ? parseApiKeysString(v.trim()) : v;
    // A bare string (YAML list item or plain env entry) is an admin key.
    return Array.isArray(entries)
      ? entries.map((e) => (typeof e === "string" ? { key: e } : e))
      : entries;
  },
  z.array(ApiKeyEntrySchema),
).transform((keys) =>
  keys.map((k, i) => ({ key: k.key, scopes: k.scopes, name: k.name ?? `key-${i + 1}` }))
);

const ServerSchema = z.strictObject({
  port: int(0, 65535).default(8080),
  host: z.string().min(1).default("0.0.0.0"),
  body_limit_bytes: int(1).default(16 * 1024 * 1024),
  // 8K UHD: the largest frame a camera sends; checked from the header before decoding.
  max_frame_pixels: int(1, 16384 * 16384).default(7680 * 4320),
  max_concurrent_decodes: int(1, 1024).default(4),
  // One 8K frame's worth of pixels decoding at once; many small frames fit beside each other.
  max_decode_pixels: int(1, 16384 * 16384).default(7680 * 4320),
  max_queued_decodes: int(0, 100_000).default(8),
  max_cameras: int(1, 100_000).default(256),
  timestamp_skew_seconds: int(1).default(86_400),
  instance_id: optionalString().describe("replica name sent as X-Fess-Instance; default host name"),
  api_keys: ApiKeysSchema.default([]),
  cors: list(z.string().min(1)).default([]),
  read_timeout_ms: int(1).default(10_000),
  min_body_bytes_per_second: int(1).default(65_536),
  idle_timeout_ms: int(1).default(60_000),
  max_inflight: int(1).default(256),
  max_connections: int(1).default(1000),
  shutdown_grace_ms: int(0).default(10_000),
}).prefault({});

const HealthSchema = z.strictObject({
  check_timeout_ms: int(1).default(1000),
  cpu_threshold_percent: num(z.number().min(0).max(100)).default(95),
  memory_threshold_percent: num(z.number().min(0).max(100)).default(90),
  disk_threshold_percent: num(z.number().min(0).max(100)).default(90),
  disk_path: z.string().min(1).default("."),
}).prefault({});

/** The whole settings schema. */
export const ConfigSchema = z.strictObject({
  environment: z.enum(["development", "production", "test"]).default("development"),
  log_level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  server: ServerSchema,
  redis: RedisSchema,
  detector: DetectorSchema,
  motion: MotionSchema,
  faces: FacesSchema,
  cache: CacheSchema,
  kafka: KafkaSchema,
  health: HealthSchema,
  tracker: TrackerSchema,
  snapshots: SnapshotsSchema,
  cameras: CamerasSchema,
  cameras_path: optionalString().describe(
    "the sidecar's cameras.yaml: each entry's settings join `cameras`",
  ),
});

/** Validated settings. */
export type Config = z.infer<typeof ConfigSchema>;
/** The `server` section. */
export type ServerSettings = Config["server"];
/** The `redis` section. */
export type RedisSettings = Config["redis"];
/** The `detector` section. */
export type DetectorSettings = Config["detector"];
/** The `motion` section. */
export type MotionSettings = Config["motion"];
/** The `faces` section. */
export type FacesSettings = Config["faces"];
/** The `cache` section. */
export type CacheSettings = Config["cache"];
/** The `kafka` section. */
export type KafkaSettings = Config["kafka"];
/** The `health` section. */
export type HealthSettings = Config["health"];

/** Dotted paths of settings holding secrets: redacted whenever settings are printed. */
export const SECRET_KEYS: readonly string[] = [
  "redis.url",
  "redis.password",
  "faces.encryption_key",
  "kafka.sasl.password",
  "server.api_keys",
];

/**
 * Variables with the `FESS_` prefix that are not settings (paths and tools of the container
 * entrypoint and of the test and development scripts). Any other `FESS_*` variable must name
 * a setting, or the start stops.
 */
export const NON_SETTING_VARS: ReadonlySet<string> = new Set([
  "FESS_CONFIG_FILE",
  "FESS_DATA_DIR",
  "FESS_DATA_SLOTS",
  "FESS_SKIP_MODEL_CHECK",
  "FESS_GST_PYTHON",
  "FESS_BENCH_PACED",
  "FESS_MEDIA_DIR",
  "FESS_CACHE_DIR",
  "FESS_MODELS_DIR",
  "FESS_PYTHON",
  "FESS_PY_VENV",
  "FESS_COVERAGE_MIN",
  "FESS_TEST_ONNX_BACKEND",
  "FESS_BENCH_EVENTS",
  "FESS_BENCH_PACED_RATE",
]);

/** Short variables that set a setting (conventional names shared with scripts and hosts). */
const ENV_ALIASES: Readonly<Record<string, string>> = {
  FESS_MODELS_DIR: "detector.models_dir",
  PORT: "server.port",
  HOST: "server.host",
};

/** One problem in a configuration. */
export interface ConfigIssue {
  /** Dotted setting path, e.g. `redis.port`. */
  readonly key: string;
  /** Where the value came from: `env FESS_REDIS__PORT`, `file conf.yaml`, `default`. */
  readonly source: string;
  /** Why it is invalid. */
  readonly message: string;
}

/**
 * Thrown by {@link loadConfig} (and the camera sidecar's settings): every problem at once,
 * readable without a stack trace.
 */
export class ConfigError extends Error {
  /** Every problem found. */
  readonly issues: readonly ConfigIssue[];
  /** `subject` names what is invalid in the message (default "configuration"). */
  constructor(issues: readonly ConfigIssue[], subject = "configuration") {
    super(
      `invalid ${subject} (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${i.key} (${i.source}): ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function flatten(tree: unknown, prefix: string, out: Map<string, unknown>): void {
  if (tree !== null && typeof tree === "object" && !Array.isArray(tree)) {
    for (const [k, v] of Object.entries(tree)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, tree);
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v !== null && typeof v === "object" && !Array.isArray(v) && b !== null &&
        typeof b === "object" &&
        !Array.isArray(b)
      ? deepMerge(b as Tree, v as Tree)
      : v;
  }
  return out;
}

/** Environment-variable name of a dotted setting path. */
export function envName(key: string): string {
  return "FESS_" + key.split(".").map((p) => p.toUpperCase()).join("__");
}

/** Options of {@link loadConfig} for tests. */
export interface LoadConfigOptions {
  /** Reads a file as text; default `Deno.readTextFileSync`. */
  readonly readFile?: (path: string) => string;
}

/**
 * Builds the settings from `env` (usually `Deno.env.toObject()`), the file `file` (default:
 * `env.FESS_CONFIG_FILE`) and defaults. Throws {@link ConfigError} listing every problem.
 */
export function loadConfig(
  env: Readonly<Record<string, string>>,
  file: string | undefined = env.FESS_CONFIG_FILE,
  options: LoadConfigOptions = {},
): Config {
  const readFile = options.readFile ?? ((p: string) => Deno.readTextFileSync(p));
  const issues: ConfigIssue[] = [];
  const sources = new Map<string, string>();

  let fromFile: Tree = {};
  if (file) {
    try {
      const parsed: unknown = YAML.parse(readFile(file));
      if (parsed === null || parsed === undefined) fromFile = {};
      else if (typeof parsed !== "object" || Array.isArray(parsed)) {
        issues.push({
          key: "(file)",
          source: `file ${file}`,
          message: "must be a YAML/JSON mapping",
        });
      } else fromFile = parsed as Tree;
    } catch (err) {
      const reason = err instanceof Deno.errors.NotFound
        ? "file not found"
        : errorMessage(err).split("\n")[0];
      issues.push({
        key: "(file)",
        source: `file ${file}`,
        message: `cannot read config file: ${reason}`,
      });
    }
    const flat = new Map<string, unknown>();
    flatten(fromFile, "", flat);
    for (const key of flat.keys()) sources.set(key, `file ${file}`);
  }

  const fromEnv: Tree = {};
  const known = schemaPaths();
  const assign = (key: string, value: string, source: string) => {
    setPath(fromEnv, key.split("."), value);
    sources.set(key, source);
  };
  for (const [varName, key] of Object.entries(ENV_ALIASES)) {
    const value = env[varName];
    if (value !== undefined) assign(key, value, `env ${varName}`);
  }
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("FESS_") || NON_SETTING_VARS.has(name)) continue;
    const varName = name.endsWith("_FILE") ? name.slice(0, -"_FILE".length) : name;
    const key = keyOf(varName);
    if (!isSettingKey(key, known)) {
      issues.push({ key, source: `env ${name}`, message: unknownVariable(varName) });
      continue;
    }
    let value = raw;
    if (varName !== name) {
      if (env[varName] !== undefined) {
        issues.push({ key, source: `env ${name}`, message: `both ${varName} and ${name} are set` });
        continue;
      }
      try {
        value = readFile(raw).replace(/\r?\n$/, "");
      } catch (err) {
        const reason = err instanceof Deno.errors.NotFound ? "file not found" : errorMessage(err);
        issues.push({
          key,
          source: `env ${name}`,
          message: `cannot read secret file ${raw}: ${reason}`,
        });
        continue;
      }
    }
    assign(key, value, `env ${name}`);
  }

  const merged = deepMerge(fromFile, fromEnv);
  mergeCamerasFile(merged, sources, issues, readFile);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String);
      const unknownKeys = issue.code === "unrecognized_keys" ? issue.keys : [];
      if (unknownKeys.length > 0) {
        for (const k of unknownKeys) {
          const key = [...path, k].join(".");
          const near = nearest(key, settingPathsAndGroups());
          issues.push({
            key,
            source: sourceOf(sources, key),
            message: `unknown setting${near ? `; did you mean ${near}?` : ""}`,
          });
        }
        continue;
      }
      const key = path.join(".") || "(root)";
      const source = sourceOf(sources, key);
      const value = valueAt(merged, path);
      const shown = value === undefined
        ? ""
        : ` (got ${isSecret(key) ? "[redacted]" : JSON.stringify(value)})`;
      issues.push({ key, source, message: issue.message + shown });
    }
  }
  if (result.success) issues.push(...productionIssues(result.data, sources));
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data!;
}

/** What `environment: production` requires beyond the schema: keys, and encrypted faces. */
function productionIssues(config: Config, sources: Map<string, string>): ConfigIssue[] {
  if (config.environment !== "production") return [];
  const out: ConfigIssue[] = [];
  const why = `environment is production (${sourceOf(sources, "environment")})`;
  if (config.server.api_keys.length === 0) {
    out.push({
      key: "server.api_keys",
      source: sourceOf(sources, "server.api_keys"),
      message: `${why}: at least one API key is required ` +
        `(FESS_SERVER__API_KEYS, FESS_SERVER__API_KEYS_FILE or server.api_keys)`,
    });
  }
  if (!config.faces.encryption_key && !config.faces.allow_plaintext_encodings) {
    out.push({
      key: "faces.encryption_key",
      source: sourceOf(sources, "faces.encryption_key"),
      message: `${why}: face encodings must be encrypted at rest; set ` +
        `FESS_FACES__ENCRYPTION_KEY (base64 of 32 bytes, e.g. \`openssl rand -base64 32\`) ` +
        `or opt out with FESS_FACES__ALLOW_PLAINTEXT_ENCODINGS=true`,
    });
  }
  return out;
}

function settingPathsAndGroups(): string[] {
  const out = new Set<string>();
  for (const key of settingKeys()) {
    const parts = key.split(".");
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join("."));
  }
  return [...out];
}

/** Whether `key` (dotted) names a setting, or an entry of a map-valued setting. */
function isSettingKey(key: string, { leaves, maps }: SchemaPaths): boolean {
  return leaves.has(key) ||
    [...maps].some((m) => key.startsWith(m + ".") && key.length > m.length + 1);
}

/** Message for a `FESS_*` variable that names no setting, with the nearest real name. */
function unknownVariable(varName: string): string {
  const candidates = [...settingKeys().map(envName), ...NON_SETTING_VARS];
  // `FESS_REDIS_HOST`: nesting needs a double underscore; compare with it collapsed first.
  const collapsed = (n: string) => n.replace(/__/g, "_");
  const exact = candidates.find((c) => collapsed(c) === collapsed(varName));
  if (exact) {
    return `unknown setting: ${varName} is not a FESS variable; did you mean ${exact}? ` +
      `(nesting uses a double underscore: FESS_REDIS__HOST sets redis.host)`;
  }
  const near = nearest(varName, candidates);
  return `unknown setting: ${varName} is not a FESS variable` +
    (near ? `; did you mean ${near}?` : "");
}

/** The closest candidate by edit distance, when close enough to be a plausible typo. */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 8)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Adds the `settings` of each camera in `cameras_path` (the sidecar's `cameras.yaml`) to
 * `merged.cameras` under its `id`, recording the file as their source. Reads nothing else of
 * the sidecar's document; the schema validates the settings with everything else.
 */
function mergeCamerasFile(
  merged: Tree,
  sources: Map<string, string>,
  issues: ConfigIssue[],
  readFile: (path: string) => string,
): void {
  const path = merged.cameras_path;
  if (typeof path !== "string" || path.trim() === "") return;
  const fileIssue = (message: string) =>
    issues.push({ key: "cameras_path", source: sourceOf(sources, "cameras_path"), message });
  let doc: unknown;
  try {
    doc = YAML.parse(readFile(path));
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound
      ? "file not found"
      : errorMessage(err).split("\n")[0];
    fileIssue(`cannot read ${path}: ${reason}`);
    return;
  }
  const entries = (doc as Tree | null)?.cameras;
  if (!Array.isArray(entries)) {
    fileIssue(`${path} has no cameras list`);
    return;
  }
  let own: unknown = merged.cameras ?? {};
  if (typeof own === "string") {
    try {
      own = own.trim() === "" ? {} : YAML.parse(own);
    } catch {
      return; // the schema reports the unreadable FESS_CAMERAS
    }
  }
  if (own === null || typeof own !== "object" || Array.isArray(own)) return;
  const cameras: Tree = {};
  entries.forEach((entry: unknown, i: number) => {
    const e = (entry ?? {}) as Tree;
    if (typeof e.id !== "string" || e.settings === undefined || e.settings === null) return;
    if (Object.hasOwn(own as Tree, e.id)) return;
    cameras[e.id] = e.settings;
    sources.set(`cameras.${e.id}`, `file ${path} cameras[${i}].settings`);
  });
  merged.cameras = { ...cameras, ...(own as Tree) };
}

function keyOf(varName: string): string {
  return varName.slice("FESS_".length).split("__").map((p) => p.toLowerCase()).join(".");
}

function sourceOf(sources: Map<string, string>, key: string): string {
  for (let k = key; k; k = k.includes(".") ? k.slice(0, k.lastIndexOf(".")) : "") {
    const s = sources.get(k);
    if (s) return s;
  }
  // A group (e.g. an unknown top-level key) takes the source of what was set inside it.
  for (const [k, s] of sources) if (k.startsWith(key + ".")) return s;
  return "default";
}

function valueAt(tree: unknown, path: readonly string[]): unknown {
  let node = tree;
  for (const p of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Tree)[p];
  }
  return node;
}

function isSecret(key: string): boolean {
  return SECRET_KEYS.some((s) => key === s || key.startsWith(s + "."));
}

/** A copy of `config` safe to print or log: secrets replaced, URL passwords masked. */
export function redactConfig(config: Config): Record<string, unknown> {
  const copy = structuredClone(config) as unknown as Tree;
  for (const key of SECRET_KEYS) {
    const path = key.split(".");
    const value = valueAt(copy, path);
    if (value === undefined || value === null) continue;
    if (key === "redis.url" && typeof value === "string") {
      setPath(copy, path, maskUrl(value));
    } else if (key === "server.api_keys" && Array.isArray(value)) {
      setPath(copy, path, value.map((k) => ({ ...k, key: "[redacted]" })));
    } else if (Array.isArray(value)) {
      setPath(copy, path, value.map(() => "[redacted]"));
    } else setPath(copy, path, "[redacted]");
  }
  return copy;
}

function maskUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = "REDACTED";
    return u.toString();
  } catch {
    return "[redacted]";
  }
}

/** Every setting's dotted path, for docs and the example-file tests. */
export function settingKeys(): string[] {
  return [...schemaPaths().leaves];
}

interface SchemaPaths {
  readonly leaves: ReadonlySet<string>;
  readonly maps: ReadonlySet<string>;
}

/** Leaf setting paths, and the paths of map-valued settings (any sub-key is a setting). */
function schemaPaths(): SchemaPaths {
  const leaves = new Set<string>();
  const maps = new Set<string>();
  const walk = (schema: z.ZodType, prefix: string) => {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(inner.shape)) {
        walk(v as z.ZodType, prefix ? `${prefix}.${k}` : k);
      }
      return;
    }
    leaves.add(prefix);
    if (inner instanceof z.ZodRecord) maps.add(prefix);
  };
  walk(ConfigSchema, "");
  return { leaves, maps };
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) s = s.out as z.ZodType;
    else return s;
  }
}
