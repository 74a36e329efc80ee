/**
 * FESS entry point (`deno task start` / `dev`, and the container): builds the settings once,
 * opens the port at once, builds the application behind it (readiness says not ready until
 * the detector is loaded and the broker connected), and on SIGTERM/SIGINT stops accepting,
 * ends the live event streams at once (`App.drain`: long-lived by design, they must not hold
 * the drain), finishes the requests in flight (up to `server.shutdown_grace_ms`), flushes
 * events, logs "stopped" and exits 0.
 *
 * Flags: `--port <n>` and `--host <addr>` (also PORT/HOST or FESS_SERVER__PORT/HOST).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type App, createApp, VERSION } from "./app.ts";
import { createStartingHandler } from "./functions/health.ts";
import { type Config, ConfigError, loadConfig, redactConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";
import { connectionsWithin, openFileLimit } from "./shared/server/fd_limit.ts";
import { startServer } from "./shared/server/serve.ts";

const USAGE = "usage: deno task start [--port <port>] [--host <address>]";

function fail(message: string, code: number): never {
  // The one place a readable message beats a JSON log line: the operator must fix the start.
  Deno.stderr.writeSync(new TextEncoder().encode(`fess: ${message}\n`));
  Deno.exit(code);
}

function configOrExit(): Config {
  let flags: { port?: string; host?: string };
  try {
    flags = parseArgs({
      args: Deno.args,
      options: { port: { type: "string" }, host: { type: "string" } },
      strict: true,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 64); // EX_USAGE
  }
  const env = Deno.env.toObject();
  // Flags win over every other source; they are validated with the settings.
  if (flags.port !== undefined) env.FESS_SERVER__PORT = flags.port;
  if (flags.host !== undefined) env.FESS_SERVER__HOST = flags.host;
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 78); // EX_CONFIG
    throw err;
  }
}

const config = configOrExit();
const logger = createLogger({ level: config.log_level, fields: { service: "fess" } });
logger.info("starting", {
  version: VERSION,
  environment: config.environment,
  config_file: Deno.env.get("FESS_CONFIG_FILE") ?? null,
});
logger.debug("settings", { config: redactConfig(config) });

let app: App | null = null;
let draining = false;
const starting = createStartingHandler(VERSION);
const fdLimit = openFileLimit();
const maxConnections = Math.min(config.server.max_connections, connectionsWithin(fdLimit));
if (maxConnections < config.server.max_connections) {
  logger.warn("server.max_connections lowered to fit the open-file limit", {
    max_connections: maxConnections,
    configured: config.server.max_connections,
    open_file_limit: fdLimit,
  });
}
const server = startServer({
  hostname: config.server.host,
  port: config.server.port,
  headerTimeoutMs: config.server.read_timeout_ms,
  idleTimeoutMs: config.server.idle_timeout_ms,
  maxConnections,
  shutdownGraceMs: config.server.shutdown_grace_ms,
  handler: (req) => (app ? app.fetch(req) : starting(req)),
  logger,
});
logger.info("listening", {
  url: `http://${server.addr.hostname}:${server.addr.port}`,
  docs: `http://${server.addr.hostname}:${server.addr.port}/docs`,
});

const building = createApp({ config, logger, draining: () => draining }).then((built) => {
  app = built;
  logger.info("ready");
  return built;
}, (err) => {
  logger.error("start failed", { error: err });
  Deno.exit(1);
});

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    if (stopping) return;
    stopping = true;
    draining = true;
    logger.info("shutting down", { signal, grace_ms: config.server.shutdown_grace_ms });
    (async () => {
      const shutdown = server.shutdown(); // stops accepting first
      // Not awaited before the drain: the app may still be starting (then no stream is open).
      void building.then((built) => built.drain());
      const graceful = await shutdown;
      const built = await building;
      await built.close(); // accepted events are delivered or spooled before exit
      logger.info("stopped", { graceful });
      Deno.exit(0);
    })().catch((err) => {
      logger.error("shutdown failed", { error: err });
      Deno.exit(1);
    });
  });
}
