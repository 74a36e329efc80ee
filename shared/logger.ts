/**
 * The one structured JSON logger. Each record is a single JSON line with `ts`, `level`, `msg`
 * and any bound fields (request id, camera id...). Fields whose names look like secrets are
 * redacted before writing, so a mistake at a call site cannot leak a password or key.
 *
 * @module
 */

/** Log levels in increasing severity. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Structured fields attached to a record. */
export type LogFields = Record<string, unknown>;

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  readonly level?: LogLevel;
  /** Where lines go. Default: stderr for warn/error, stdout otherwise. */
  readonly sink?: (line: string, level: LogLevel) => void;
  /** Fields on every record. */
  readonly fields?: LogFields;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

const SECRET_KEY = /pass(word)?|secret|token|api_?key|authorization|encryption_?key|credential/i;
/** Keys never logged even redacted-looking: raw biometric vectors. */
const DROPPED_KEY = /^(encoding|embedding)s?$/i;

/** Returns a copy of `value` with secret-named fields replaced by `"[redacted]"`. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (DROPPED_KEY.test(k)) out[k] = "[omitted]";
    else if (SECRET_KEY.test(k) && v !== undefined && v !== null && v !== "") {
      out[k] = "[redacted]";
    } else out[k] = redactFields(v, depth + 1);
  }
  return out;
}

const encoder = new TextEncoder();

function defaultSink(line: string, level: LogLevel): void {
  const bytes = encoder.encode(line + "\n");
  if (level === "warn" || level === "error") Deno.stderr.writeSync(bytes);
  else Deno.stdout.writeSync(bytes);
}

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const sink = options.sink ?? defaultSink;
  const now = options.now ?? (() => new Date());
  const bound = options.fields ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const record = redactFields({ ts: now().toISOString(), level, msg, ...bound, ...fields });
    sink(JSON.stringify(record), level);
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...bound, ...fields } }),
  };
}

/** A logger that writes nothing, for tests and library defaults. */
export const silentLogger: Logger = createLogger({ sink: () => {} });
