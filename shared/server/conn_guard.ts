/**
 * The public listener: accepts TCP connections and relays them to the HTTP server on a
 * loopback port, enforcing what `Deno.serve` (hyper) does not: a deadline for request
 * headers, a bound on their size, an idle timeout, and the end of a connection once a
 * response said `Connection: close`. Deno.serve has no header or idle timeout
 * (denoland/deno#3515), and after such a response it keeps waiting for the rest of an unread
 * request body; a client sending its headers a byte at a time, a body it never finishes, or
 * nothing at all, would otherwise hold a connection forever.
 *
 * - The first request's headers must be complete within `headerTimeoutMs` of the accept; a
 *   later request's within `headerTimeoutMs` of its first byte. Past it the client gets a 408
 *   in FESS's error shape and the connection is closed.
 * - A request head over 64 KiB gets 414 (its request line alone) or 431, and one with more
 *   than 100 header fields 431, in FESS's error shape from the guard itself; the connection is
 *   closed.
 * - Any connection with no traffic either way for `idleTimeoutMs` is closed, whatever it is
 *   doing: between requests, mid-body, or waiting for a response (an answer that takes longer,
 *   or a stream without heartbeats, is cut too).
 * - Once a response carrying `Connection: close` has been relayed in full, the connection
 *   closes even if request body bytes were still due: the guard half-closes towards the
 *   client, discards what it still sends for up to `min(lingerMs, headerTimeoutMs)` so the
 *   response is not lost to a reset, then closes.
 * - FESS switches no protocol: `Upgrade` and `CONNECT` requests are framed like any other,
 *   with every deadline; the HTTP/2 prior-knowledge preface (`PRI * HTTP/2.0`, which the
 *   server behind would otherwise serve as h2c) is held back and refused with an HTTP/2
 *   `GOAWAY` (HTTP_1_1_REQUIRED) whose debug data is FESS's JSON error.
 * - Answers of the guard itself (408, 414, 431) go out only after the responses to the
 *   requests before them, so pipelined responses never interleave.
 * - Bodies are not timed here: the body guard middleware times them, answering 408 itself.
 *
 * Bytes are relayed as they arrive (no buffering, no added latency; only the first 16 bytes
 * of a connection that start like the HTTP/2 preface wait); the request and response framers
 * follow heads and bodies by counting. Shutdown: {@link ConnGuard.stopAccepting} closes the
 * listener; connections end when the server behind closes them after their last response.
 *
 * @module
 */
import { errorBody, FessError, RequestTimeoutError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { createDeadline } from "./deadline.ts";
import { createRequestFramer, MAX_HEADER_FIELDS } from "./request_framer.ts";
import { createResponseFramer } from "./response_framer.ts";

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
  /** Most client connections open at once; a connection past it gets 503 and is closed. */
  readonly maxConnections?: number;
  /** Longest wait for a client to stop sending after its connection was closed. Default 2 s. */
  readonly lingerMs?: number;
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

/** Pause before accepting again after an accept error (e.g. EMFILE). */
const ACCEPT_RETRY_MS = 250;
/** Largest request head the guard passes on. */
const MAX_HEAD_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const PREFACE = encoder.encode("PRI * HTTP/2.0\r\n");
const STATUS_TEXT: Record<number, string> = {
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** An HTTP/1.1 error response in FESS's shape that closes the connection. */
function errorBytes(err: FessError): Uint8Array {
  const body = JSON.stringify(errorBody(err));
  return encoder.encode(
    `HTTP/1.1 ${err.status} ${STATUS_TEXT[err.status] ?? "Error"}\r\n` +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${encoder.encode(body).byteLength}\r\nconnection: close\r\n` +
      (err.retryAfterSeconds === undefined ? "" : `retry-after: ${err.retryAfterSeconds}\r\n`) +
      `\r\n${body}`,
  );
}

/** 414 for a request line over the head limit, 431 for a head over it or with too many fields. */
function oversizedError(kind: "request-line" | "head" | "fields"): FessError {
  if (kind === "request-line") {
    return new FessError(414, "uri_too_long", `request line over ${MAX_HEAD_BYTES} bytes`, {
      detail: { limit_bytes: MAX_HEAD_BYTES },
    });
  }
  const [message, detail] = kind === "fields"
    ? [`more than ${MAX_HEADER_FIELDS} request header fields`, { limit_fields: MAX_HEADER_FIELDS }]
    : [`request headers over ${MAX_HEAD_BYTES} bytes`, { limit_bytes: MAX_HEAD_BYTES }];
  return new FessError(431, "request_header_fields_too_large", message, { detail });
}

/**
 * The HTTP/2 server preface (an empty SETTINGS frame) and a GOAWAY with HTTP_1_1_REQUIRED,
 * carrying FESS's JSON error as debug data: what an h2 client understands as "use HTTP/1.1".
 */
function http2Refusal(): Uint8Array {
  const debug = encoder.encode(JSON.stringify(errorBody(
    new FessError(
      505,
      "http_version_not_supported",
      "HTTP/2 is not served on this port; use HTTP/1.1",
    ),
  )));
  const out = new Uint8Array(9 + 9 + 8 + debug.length);
  const view = new DataView(out.buffer);
  out[3] = 0x4; // SETTINGS, empty, stream 0
  const length = 8 + debug.length;
  out[9] = length >> 16;
  out[10] = (length >> 8) & 0xff;
  out[11] = length & 0xff;
  out[12] = 0x7; // GOAWAY, stream 0
  view.setUint32(18, 0); // last stream id
  view.setUint32(22, 0xd); // HTTP_1_1_REQUIRED
  out.set(debug, 26);
  return out;
}

/** Starts listening and relaying. */
export function startConnGuard(options: ConnGuardOptions): ConnGuard {
  const { headerTimeoutMs, idleTimeoutMs } = options;
  const lingerMs = Math.min(options.lingerMs ?? 2000, headerTimeoutMs);
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
    const framer = createRequestFramer(MAX_HEAD_BYTES);
    // Methods of the requests passed on and not answered yet, oldest first.
    const pending: string[] = [];
    const responses = createResponseFramer(() => pending.shift());
    let forwarded = 0;
    let answered = 0;
    // Waiters woken whenever a response completes or the connection ends.
    const answerWaiters = new Set<() => void>();
    const wakeAnswerWaiters = () => {
      for (const wake of [...answerWaiters]) wake();
      answerWaiters.clear();
    };
    const nextAnswer = () => new Promise<void>((resolve) => answerWaiters.add(resolve));
    // How much of the HTTP/2 preface the connection has started with (-1: it is not h2).
    let preface = 0;
    let closed = false;
    let lingering = false;
    let refusing = false;
    let clientEnded = false;
    let headTimer: ReturnType<typeof setTimeout> | undefined;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    // Pushed on by every chunk either way; one timer per connection, not one per chunk.
    const idle = createDeadline(() => {
      if (framer.state !== "idle" || answered < forwarded) {
        log.info("connection idle mid-request: closed", { idle_timeout_ms: idleTimeoutMs });
      }
      close();
    });
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(headTimer);
      idle.dispose();
      clearTimeout(lingerTimer);
      open.delete(close);
      for (const c of [client, upstream]) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      wakeAnswerWaiters();
    };
    open.add(close);
    /** Ends the connection without resetting a response the client may still be reading. */
    const linger = () => {
      if (closed || lingering) return;
      lingering = true;
      clearTimeout(headTimer);
      idle.dispose();
      try {
        upstream.close();
      } catch {
        // already closed
      }
      wakeAnswerWaiters();
      if (clientEnded) return close();
      client.closeWrite().catch(() => {});
      lingerTimer = setTimeout(close, lingerMs);
    };
    const armIdle = () => {
      if (!closed && !lingering) idle.set(performance.now() + idleTimeoutMs);
    };
    /** Answers the client itself after the responses still due, then ends the connection. */
    const refuse = async (answer: Uint8Array, why: string, fields: Record<string, unknown>) => {
      if (closed || lingering || refusing) return;
      refusing = true;
      clearTimeout(headTimer);
      log.info(why, fields);
      while (answered < forwarded && !closed && !lingering) {
        await nextAnswer();
      }
      if (closed || lingering) return;
      try {
        await writeAll(client, answer);
      } catch {
        // the client is gone already
      }
      linger();
    };
    const onHeadTimeout = () =>
      refuse(
        errorBytes(
          new RequestTimeoutError(`request headers not received within ${headerTimeoutMs} ms`),
        ),
        "request headers too slow: connection closed",
        { timeout_ms: headerTimeoutMs },
      );
    // The first request's headers are due from the accept: a silent connection is cut too.
    headTimer = setTimeout(onHeadTimeout, headerTimeoutMs);
    armIdle();

    const up = async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await client.read(buf);
        if (n === null) {
          clientEnded = true;
          if (lingering) return close();
          if (refusing) return;
          // A client that half-closes still reads: the requests it completed are answered
          // before the end is passed on, since the server behind aborts a request whose
          // connection ends under it.
          while (framer.state === "idle" && answered < forwarded && !closed && !lingering) {
            await nextAnswer();
          }
          if (!closed && !lingering) await upstream.closeWrite().catch(() => {});
          return;
        }
        armIdle();
        if (lingering || refusing) continue; // the connection is ending: discard
        const chunk = buf.subarray(0, n);
        const fed = framer.feed(chunk);
        // A connection that starts like the HTTP/2 preface is held back until it is clear it
        // is not one: the server behind would serve it as h2c.
        const held = preface;
        if (preface >= 0) {
          let j = 0;
          while (j < n && preface < PREFACE.length && chunk[j] === PREFACE[preface]) {
            j++;
            preface++;
          }
          if (preface === PREFACE.length) {
            void refuse(http2Refusal(), "HTTP/2 preface refused", {});
            continue;
          }
          if (j < n) preface = -1;
        }
        if (fed.oversized) {
          pending.push(...fed.methods);
          forwarded += fed.methods.length;
          await writeAll(upstream, chunk.subarray(0, fed.before));
          void refuse(
            errorBytes(oversizedError(fed.oversized)),
            fed.oversized === "request-line"
              ? "request line too long: refused"
              : "request headers too large: refused",
            { limit_bytes: MAX_HEAD_BYTES, limit_fields: MAX_HEADER_FIELDS },
          );
          continue;
        }
        if (fed.methods.length > 0) {
          // A head that began in this chunk after the last one completed gets its own deadline.
          clearTimeout(headTimer);
          headTimer = framer.state === "head"
            ? setTimeout(onHeadTimeout, headerTimeoutMs)
            : undefined;
        } else if (fed.headStarted && headTimer === undefined) {
          headTimer = setTimeout(onHeadTimeout, headerTimeoutMs);
        }
        pending.push(...fed.methods);
        forwarded += fed.methods.length;
        if (preface >= 0) continue;
        if (held > 0) await writeAll(upstream, PREFACE.subarray(0, held));
        await writeAll(upstream, chunk);
      }
    };
    const down = async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await upstream.read(buf);
        if (n === null) return;
        armIdle();
        const chunk = buf.subarray(0, n);
        const { completed, closeAt } = responses.feed(chunk);
        answered += completed;
        if (closeAt >= 0) {
          await writeAll(client, chunk.subarray(0, closeAt));
          linger();
          return;
        }
        await writeAll(client, chunk);
        if (completed > 0) wakeAnswerWaiters();
      }
    };
    // The server closing its side ends the connection; the client closing its side only
    // ends the upload (the response may still be on its way).
    await Promise.allSettled([
      up().catch(close),
      down().catch(() => {}).finally(() => lingering || close()),
    ]);
    close();
  };

  const maxConnections = options.maxConnections ?? Infinity;
  let relaying = 0;
  let turnedAway = 0;
  let turnedAwayLogged = -Infinity;
  const busy = errorBytes(
    new FessError(503, "too_many_connections", "too many open connections; retry later", {
      detail: { max_connections: maxConnections },
      retryAfterSeconds: 1,
    }),
  );
  /** Answers a connection past the limit with 503 and closes it, holding nothing for long. */
  const turnAway = async (conn: Deno.TcpConn) => {
    turnedAway++;
    if (performance.now() - turnedAwayLogged > 10_000) {
      turnedAwayLogged = performance.now();
      log.warn("connection limit reached: connections turned away", {
        max_connections: maxConnections,
        turned_away: turnedAway,
      });
    }
    const timer = setTimeout(() => conn.close(), 1000);
    try {
      await writeAll(conn, busy);
      await conn.closeWrite();
    } catch {
      // gone already
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch {
        // closed by the timer
      }
    }
  };

  const acceptLoop = (async () => {
    while (accepting) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (!accepting) break;
        // Out of file descriptors, or a connection gone before it was accepted: the open
        // connections keep being served and accepting resumes shortly, never stops for good.
        log.error("accept failed; retrying", { error: err, retry_ms: ACCEPT_RETRY_MS });
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (!accepting) {
        conn.close();
        continue;
      }
      // Counted from the accept: a relay still connecting upstream holds descriptors too.
      if (relaying >= maxConnections) {
        void turnAway(conn);
        continue;
      }
      relaying++;
      const done = relay(conn).catch((err) => log.error("relay failed", { error: err }))
        .finally(() => relaying--);
      ended.push(done);
      done.finally(() => ended.splice(ended.indexOf(done), 1));
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
