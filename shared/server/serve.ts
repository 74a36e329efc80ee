/**
 * FESS's HTTP server: `Deno.serve` on a loopback port behind the connection guard (header
 * deadline, idle timeout) on the public address, with a graceful shutdown:
 *
 * 1. stop accepting connections (the public port closes at once);
 * 2. let requests in flight finish, up to `shutdownGraceMs` (idle connections close now,
 *    busy ones after their response);
 * 3. then close whatever is left. The caller flushes events afterwards.
 *
 * @module
 */
import { errorResponse, InternalError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type ConnGuard, startConnGuard } from "./conn_guard.ts";

/** Options of {@link startServer}. */
export interface ServerOptions {
  readonly hostname: string;
  readonly port: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly handler: (req: Request) => Response | Promise<Response>;
  readonly logger: Logger;
}

/** A running server. */
export interface FessServer {
  /** The public address. */
  readonly addr: Deno.NetAddr;
  /**
   * Stops accepting, waits for requests in flight (up to the grace period), then closes.
   * Resolves `true` when every request finished in time. Idempotent.
   */
  shutdown(): Promise<boolean>;
}

/** Starts the server; the public port is open when this returns. */
export function startServer(options: ServerOptions): FessServer {
  const log = options.logger;
  const abort = new AbortController();
  const internal = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: abort.signal,
      onListen: () => {},
      // The app renders its own errors; this catches only what escapes it.
      onError: (err) => {
        log.error("unhandled request error", { error: err });
        return errorResponse(new InternalError());
      },
    },
    options.handler,
  );
  const guard: ConnGuard = startConnGuard({
    hostname: options.hostname,
    port: options.port,
    upstream: { hostname: "127.0.0.1", port: internal.addr.port },
    headerTimeoutMs: options.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    logger: log,
  });

  let stopping: Promise<boolean> | undefined;
  return {
    addr: guard.addr,
    shutdown() {
      stopping ??= (async () => {
        guard.stopAccepting();
        let timer: ReturnType<typeof setTimeout> | undefined;
        // Done when the server has answered everything and the relays have passed it on.
        const drained = internal.shutdown().then(() => guard.finished).then(() => true);
        const graceful = await Promise.race([
          drained,
          new Promise<boolean>((
            r,
          ) => (timer = setTimeout(() => r(false), options.shutdownGraceMs))),
        ]);
        clearTimeout(timer);
        if (!graceful) {
          log.warn("shutdown grace period over: closing requests still in flight", {
            grace_ms: options.shutdownGraceMs,
          });
          abort.abort();
          guard.closeAll();
          await guard.finished;
        }
        return graceful;
      })();
      return stopping;
    },
  };
}
