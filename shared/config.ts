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
 * An invalid configuration throws one {@link ConfigError} listing every bad key with its
 * source and the reason, so an operator fixes all of them in one go.
 *
 * @module
 */
import { z } from "zod";
import YAML from "yaml";

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
}).prefault({});

const CacheSchema = z.strictObject({
  face_ttl_seconds: int(0).default(0),
  detection_ttl_seconds: int(0).default(3600),
  max_faces: int(1).default(100_000),
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

const ServerSchema = z.strictObject({
  body_limit_bytes: int(1).default(16 * 1024 * 1024),
  api_keys: list(z.string().min(16, "API keys must be at least 16 characters")).default([]),
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
});

/** Validated settings. */
export type Config = z.infer<typeof ConfigSchema>;

/** Dotted paths of settings holding secrets: redacted whenever settings are printed. */
export const SECRET_KEYS: readonly string[] = [
  "redis.url",
  "redis.password",
  "faces.encryption_key",
  "kafka.sasl.password",
  "server.api_keys",
];

/** Variables with the `FESS_` prefix that are not settings. */
const NON_SETTING_VARS = new Set([
  "FESS_CONFIG_FILE",
  "FESS_MEDIA_DIR",
  "FESS_CACHE_DIR",
  "FESS_MODELS_DIR",
  "FESS_PYTHON",
]);

/** One problem in a configuration. */
export interface ConfigIssue {
  /** Dotted setting path, e.g. `redis.port`. */
  readonly key: string;
  /** Where the value came from: `env FESS_REDIS__PORT`, `file conf.yaml`, `default`. */
  readonly source: string;
  /** Why it is invalid. */
  readonly message: string;
}

/** Thrown by {@link loadConfig}: every problem at once, readable without a stack trace. */
export class ConfigError extends Error {
  /** Every problem found. */
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(
      `invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
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
        : (err as Error).message.split("\n")[0];
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
  // FESS_MODELS_DIR is the documented short name shared with the test scripts.
  const aliases: Record<string, string> = { FESS_MODELS_DIR: "detector.models_dir" };
  const assign = (key: string, value: string, source: string) => {
    setPath(fromEnv, key.split("."), value);
    sources.set(key, source);
  };
  for (const [varName, key] of Object.entries(aliases)) {
    const value = env[varName];
    if (value !== undefined) assign(key, value, `env ${varName}`);
  }
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("FESS_") || NON_SETTING_VARS.has(name)) continue;
    let varName = name;
    let value = raw;
    if (name.endsWith("_FILE")) {
      varName = name.slice(0, -"_FILE".length);
      if (env[varName] !== undefined) {
        issues.push({
          key: keyOf(varName),
          source: `env ${name}`,
          message: `both ${varName} and ${name} are set`,
        });
        continue;
      }
      try {
        value = readFile(raw).replace(/\r?\n$/, "");
      } catch (err) {
        const reason = err instanceof Deno.errors.NotFound
          ? "file not found"
          : (err as Error).message;
        issues.push({
          key: keyOf(varName),
          source: `env ${name}`,
          message: `cannot read secret file ${raw}: ${reason}`,
        });
        continue;
      }
    }
    const key = keyOf(varName);
    if (!varName.includes("__") && !TOP_LEVEL_KEYS.has(key)) continue; // not a setting, e.g. FESS_KAFKA_BROKERS of test scripts
    assign(key, value, `env ${name}`);
  }

  const merged = deepMerge(fromFile, fromEnv);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String);
      const unknownKeys = issue.code === "unrecognized_keys" ? issue.keys : [];
      if (unknownKeys.length > 0) {
        for (const k of unknownKeys) {
          const key = [...path, k].join(".");
          issues.push({ key, source: sourceOf(sources, key), message: "unknown setting" });
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
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data!;
}

const TOP_LEVEL_KEYS = new Set(Object.keys(ConfigSchema.shape));

function keyOf(varName: string): string {
  return varName.slice("FESS_".length).split("__").map((p) => p.toLowerCase()).join(".");
}

function sourceOf(sources: Map<string, string>, key: string): string {
  for (let k = key; k; k = k.includes(".") ? k.slice(0, k.lastIndexOf(".")) : "") {
    const s = sources.get(k);
    if (s) return s;
  }
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
  const keys: string[] = [];
  const walk = (schema: z.ZodType, prefix: string) => {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodObject && !(prefix.endsWith("class_thresholds"))) {
      for (const [k, v] of Object.entries(inner.shape)) {
        walk(v as z.ZodType, prefix ? `${prefix}.${k}` : k);
      }
    } else keys.push(prefix);
  };
  walk(ConfigSchema, "");
  return keys;
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
