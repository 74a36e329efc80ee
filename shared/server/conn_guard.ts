/**
 * The public listener: accepts TCP connections and relays them to the HTTP server on a
 * loopback port, enforcing what `Deno.serve` (hyper) does not: a deadline for request
 * headers and an idle timeout for kept-alive connections. Deno.serve has no header or idle
 * timeout (denoland/deno#3515); a client sending its headers a byte at a time, or nothing at
 * all, would otherwise hold a connection forever.
 *
 * - The first request's headers must be complete within `headerTimeoutMs` of the accept; a
 *   later request's within `headerTimeoutMs` of its first byte. Past it the client gets a 408
 *   in FESS's error shape and the connection is closed.
 * - Between requests a connection with no traffic either way for `idleTimeoutMs` is closed
 *   (responses that stay silent longer, e.g. a stream without heartbeats, are cut too).
 * - Bodies are not timed here: the body guard middleware times them, answering 408 itself.
 *
 * Bytes are relayed as they arrive (no buffering, no added latency); the request framer
 * follows heads and bodies by counting. Shutdown: {@link ConnGuard.stopAccepting} closes the
 * listener; connections end when the server behind closes them after their last response.
 *
 * @module
 */
import { errorBody, RequestTimeoutError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { createRequestFramer } from "./request_framer.ts";

/** Options of {@link startConnGuard}. */
export interface ConnGuardOptions {
  readonly hostname: string;
  readonly port: number;
  /**
   * Where the HTTP server listens (loopback), asked per connection: the public port binds
   * first, so the server behind it (on an ephemeral port) cannot take the port it was given.
   */
  readonly upstream: () => { readonly hostname: string; readonly port: number };
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly logger: Logger;
}

/** A running guard. */
export interface ConnGuard {
  /** The public address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Open client connections. */
  readonly connections: number;
  /** Closes the listener; open connections carry on. */
  stopAccepting(): void;
  /** Closes every connection now. */
  closeAll(): void;
  /** Resolves when the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;
}

const encoder = new TextEncoder();

function timeoutResponse(ms: number): Uint8Array {
  const body = JSON.stringify(
    errorBody(new RequestTimeoutError(`request headers not received within ${ms} ms`)),
  );
  return encoder.encode(
    "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json; charset=utf-8\r\n" +
      `content-length: ${encoder.encode(body).byteLength}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Starts listening and relaying. */
export function startConnGuard(options: ConnGuardOptions): ConnGuard {
  const { headerTimeoutMs, idleTimeoutMs } = options;
  const log = options.logger.child({ component: "listener" });
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<() => void>();
  let accepting = true;
  const ended: Promise<void>[] = [];

  const relay = async (client: Deno.TcpConn) => {
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ ...options.upstream(), transport: "tcp" });
    } catch (err) {
      log.error("cannot reach the HTTP server", { error: err });
      client.close();
      return;
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const framer = createRequestFramer();
    let closed = false;
    let headTimer: ReturnType<typeof setTimeout> | undefined;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(headTimer);
      clearTimeout(idleTimer);
      open.delete(close);
      for (const c of [client, upstream]) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
    };
    open.add(close);
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = framer.state === "idle" ? setTimeout(close, idleTimeoutMs) : undefined;
    };
    const onHeadTimeout = async () => {
      log.info("request headers too slow: connection closed", { timeout_ms: headerTimeoutMs });
      try {
        await client.write(timeoutResponse(headerTimeoutMs));
      } catch {
        // the client is gone already
      }
      close();
    };
    // The first request's headers are due from the accept: a silent connection is cut too.
    headTimer = setTimeout(onHeadTimeout, headerTimeoutMs);

    const up = async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await client.read(buf);
        if (n === null) {
          await upstream.closeWrite().catch(() => {});
          return;
        }
        const chunk = buf.subarray(0, n);
        const { headStarted, headsCompleted } = framer.feed(chunk);
        if (headStarted && headTimer === undefined) {
          headTimer = setTimeout(onHeadTimeout, headerTimeoutMs);
        }
        if (headsCompleted > 0 && framer.state !== "head") {
          clearTimeout(headTimer);
          headTimer = undefined;
        }
        if (framer.state === "tunnel") {
          clearTimeout(headTimer);
          headTimer = undefined;
        }
        armIdle();
        await writeAll(upstream, chunk);
      }
    };
    const down = async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await upstream.read(buf);
        if (n === null) return;
        armIdle();
        await writeAll(client, buf.subarray(0, n));
      }
    };
    // The server closing its side ends the connection; the client closing its side only
    // ends the upload (the response may still be on its way).
    await Promise.allSettled([up().catch(close), down().catch(() => {}).finally(close)]);
    close();
  };

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        if (!accepting) {
          conn.close();
          continue;
        }
        const done = relay(conn).catch((err) => log.error("relay failed", { error: err }));
        ended.push(done);
        done.finally(() => ended.splice(ended.indexOf(done), 1));
      }
    } catch (err) {
      if (accepting) log.error("listener failed", { error: err });
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return open.size;
    },
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      try {
        listener.close();
      } catch {
        // already closed
      }
    },
    closeAll() {
      for (const close of [...open]) close();
    },
    finished: acceptLoop.then(async () => {
      while (ended.length > 0) await Promise.allSettled([...ended]);
    }),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
