/**
 * FESS's HTTP server: `Deno.serve` on a loopback port behind the connection guard (header
 * deadline, idle timeout) on the public address, with a graceful shutdown:
 *
 * 1. stop accepting connections (the public port closes at once);
 * 2. let requests in flight finish, up to `shutdownGraceMs`, each answered with
 *    `Connection: close`; only then shut `Deno.serve` down, because its shutdown makes the
 *    unread part of an in-flight request body unreadable;
 * 3. then close whatever is left. The caller flushes events afterwards.
 *
 * A response streamed for as long as the client stays (the live event stream) is not a
 * request in flight, but `Deno.serve`'s shutdown waits for it: the caller ends such streams
 * when draining starts (`App.drain`), or step 3 cuts them when the grace period is over.
 * `Deno.serve` is stopped once, by its `shutdown()` or by aborting its signal, never both:
 * aborting after `shutdown()` began throws `BadResource` from inside the signal's listener,
 * where no `try` can catch it, and the process dies.
 *
 * Before the handler sees a request, its method and `Host` header are checked
 * (`request_checks.ts`): a method FESS does not serve gets 501, a `Host` that is not a host
 * and port gets 400, both in FESS's error shape with `Connection: close`, so nothing builds a
 * `Request` or a route from them.
 *
 * @module
 */
import { errorResponse, InternalError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type ConnGuard, startConnGuard } from "./conn_guard.ts";
import { checkHost, checkMethod } from "./request_checks.ts";

/** Options of {@link startServer}. */
export interface ServerOptions {
  readonly hostname: string;
  readonly port: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Most client connections open at once (past it: 503, closed). Default: no limit. */
  readonly maxConnections?: number;
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
  let inflight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;
  const handler = async (req: Request): Promise<Response> => {
    // Not `req.url`: Deno builds it from the Host header, and throws on some.
    const refused = checkMethod(req.method) ?? checkHost(req.headers.get("host"));
    if (refused) {
      log.info("request refused", {
        method: req.method,
        status: refused.status,
        reason: refused.message,
      });
      const res = errorResponse(refused);
      res.headers.set("connection", "close");
      return res;
    }
    inflight++;
    try {
      const res = await options.handler(req);
      if (draining) {
        try {
          res.headers.set("connection", "close");
        } catch {
          // immutable headers: the connection closes at shutdown anyway
        }
      }
      return res;
    } finally {
      if (--inflight === 0) onIdle?.();
    }
  };
  // The public port binds first: bound after, the ephemeral loopback port of the server could
  // take the very port this process was told to listen on.
  let internalPort = 0;
  const guard: ConnGuard = startConnGuard({
    hostname: options.hostname,
    port: options.port,
    upstream: () => ({ hostname: "127.0.0.1", port: internalPort }),
    headerTimeoutMs: options.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: options.maxConnections,
    logger: log,
  });
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
    handler,
  );
  internalPort = internal.addr.port;

  let stopping: Promise<boolean> | undefined;
  let serverStopped = false; // internal.shutdown() called or its signal aborted
  return {
    addr: guard.addr,
    shutdown() {
      stopping ??= (async () => {
        guard.stopAccepting();
        draining = true;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<void>((resolve) => {
          onIdle = resolve;
          if (inflight === 0) resolve();
        });
        // Done when every request is answered, the server closed its connections and the
        // relays have passed the last bytes on.
        const drained = idle.then(() => {
          if (serverStopped) return;
          serverStopped = true;
          return internal.shutdown();
        }).then(() => guard.finished).then(() => true);
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
            inflight,
          });
          // Its shutdown under way, the server is left to it: closing the connections ends
          // the responses it waits for (see the module doc: no abort after shutdown()).
          if (!serverStopped) {
            serverStopped = true;
            abort.abort();
          }
          guard.closeAll();
          await guard.finished;
        }
        return graceful;
      })();
      return stopping;
    },
  };
}
