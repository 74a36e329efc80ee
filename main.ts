/**
 * FESS entry point for `deno serve main.ts` (what `deno task dev` and the container run):
 * builds the settings and the application once and default-exports `{ fetch }`.
 *
 * @module
 */
import { type Config, ConfigError, loadConfig, redactConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";
import { type App, createApp } from "./app.ts";

function configOrExit(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (err) {
    if (err instanceof ConfigError) {
      // The one place a readable message beats a JSON log line: the operator must fix settings.
      Deno.stderr.writeSync(new TextEncoder().encode(`fess: ${err.message}\n`));
      Deno.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

const config = configOrExit();
const logger = createLogger({ level: config.log_level, fields: { service: "fess" } });
logger.info("starting", { config: redactConfig(config) });
const app: App = await createApp({ config, logger });

// `deno serve` owns the listener (address from --host/--port or DENO_SERVE_ADDRESS); we own
// the shutdown, so accepted events are flushed or spooled before the process exits.
let shuttingDown = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info("shutting down", { signal });
    app.close().finally(() => {
      logger.info("stopped");
      Deno.exit(0);
    });
  });
}

export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
