/**
 * Raw HTTP/1.1 over TCP for listener tests: what fetch cannot send (slow heads, bodies that
 * never finish, odd methods and Host headers) and what it cannot show (whether the server
 * closed the connection). Every read is capped, so a server that never closes fails the test
 * instead of hanging it.
 *
 * @module
 */

const dec = new TextDecoder();

/** Everything read from a connection until the server closed it, or the cap. */
export interface ReadResult {
  /** The bytes as latin1-safe text (UTF-8 decoded). */
  readonly text: string;
  readonly bytes: Uint8Array;
  /** Milliseconds from the call to the end of the read. */
  readonly ms: number;
  /** The server had not closed the connection when the cap ran out (the test closed it). */
  readonly capped: boolean;
}

/** Reads until the peer closes or `capMs` passes (then closes `conn` itself). */
export async function readAll(conn: Deno.Conn, capMs = 10_000): Promise<ReadResult> {
  const t0 = performance.now();
  let capped = false;
  const cap = setTimeout(() => {
    capped = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, capMs);
  const buf = new Uint8Array(65536);
  const parts: Uint8Array[] = [];
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      n = null;
    }
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  clearTimeout(cap);
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  return { text: dec.decode(bytes), bytes, ms: performance.now() - t0, capped };
}

/** Writes all of `data` (a string is UTF-8 encoded). */
export async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** One response parsed off the wire. */
export interface WireResponse {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Splits `text` into the responses it holds (sized bodies only, as FESS's errors are). */
export function parseResponses(text: string): WireResponse[] {
  const out: WireResponse[] = [];
  let rest = text;
  while (rest.startsWith("HTTP/")) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine = "", ...lines] = rest.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const colon = l.indexOf(":");
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const length = Number(headers["content-length"] ?? 0);
    const status = Number(statusLine.split(" ")[1]);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/**
 * Sends `text` on a new connection to `port` and reads until the server closes it (or the
 * cap); the connection is closed afterwards.
 */
export async function exchange(port: number, text: string, capMs = 10_000): Promise<ReadResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const reply = readAll(conn, capMs);
    await writeAll(conn, text).catch(() => {});
    return await reply;
  } finally {
    try {
      conn.close();
    } catch {
      // closed at the cap
    }
  }
}
