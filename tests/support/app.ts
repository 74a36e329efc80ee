/**
 * Starts the whole application (createApp) on a loopback port for tests, with settings from
 * an env-style record on top of test defaults: models from FESS_MODELS_DIR, temp dirs for the
 * spool and the event log, quiet logs.
 *
 * @module
 */
import { type App, createApp } from "../../app.ts";
import { loadConfig } from "../../shared/config.ts";
import { createLogger, type LogLevel } from "../../shared/logger.ts";
import { modelsDir } from "./media.ts";

/** A running test application. */
export interface TestApp {
  readonly app: App;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Log lines written by the app. */
  readonly logs: string[];
  /** Stops the server, then closes the app. */
  close(): Promise<void>;
}

/** Builds and serves the app with `env` settings (FESS_* names) over the test defaults. */
export async function startTestApp(
  env: Record<string, string> = {},
  logLevel: LogLevel = "warn",
): Promise<TestApp> {
  const tmp = await Deno.makeTempDir({ prefix: "fess-app-" });
  const config = loadConfig({
    FESS_MODELS_DIR: modelsDir(),
    FESS_KAFKA__SPOOL_DIR: `${tmp}/spool`,
    FESS_KAFKA__EVENT_LOG_PATH: `${tmp}/events.jsonl`,
    FESS_HEALTH__DISK_PATH: tmp,
    FESS_ENVIRONMENT: "test",
    ...env,
  });
  const logs: string[] = [];
  const logger = createLogger({ level: logLevel, sink: (line) => logs.push(line) });
  const app = await createApp({ config, logger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const port = server.addr.port;
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    async close() {
      await server.shutdown();
      await app.close();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    },
  };
}
