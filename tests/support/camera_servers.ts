/**
 * Small real HTTP servers for camera sidecar tests, each on a free loopback port:
 *  - an MJPEG camera (`multipart/x-mixed-replace`, the way IP cameras serve MJPEG over HTTP);
 *  - a stand-in FESS that answers after a delay, or with a fixed status, and records how many
 *    requests it saw and how many were in flight at once.
 *
 * @module
 */

/** A running test HTTP server. */
export interface TestHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `jpegs` in a loop at `fps` as `multipart/x-mixed-replace` at `/mjpeg`. */
export function startMjpegServer(jpegs: readonly Uint8Array[], fps: number): TestHttpServer {
  const encoder = new TextEncoder();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== "/mjpeg") return new Response("not found", { status: 404 });
    let i = 0;
    let timer: ReturnType<typeof setInterval>;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => {
          const jpeg = jpegs[i++ % jpegs.length]!;
          try {
            controller.enqueue(encoder.encode(
              `--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`,
            ));
            controller.enqueue(jpeg);
            controller.enqueue(encoder.encode("\r\n"));
          } catch {
            clearInterval(timer);
            timers.delete(timer);
          }
        }, 1000 / fps);
        timers.add(timer);
      },
      cancel() {
        clearInterval(timer);
        timers.delete(timer);
      },
    });
    return new Response(body, {
      headers: { "content-type": "multipart/x-mixed-replace; boundary=frame" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mjpeg`,
    async close() {
      for (const t of timers) clearInterval(t);
      timers.clear();
      await server.shutdown();
    },
  };
}

/** A stand-in FESS recording what it saw. */
export interface FakeFess extends TestHttpServer {
  /** Requests received. */
  readonly requests: number;
  /** Most requests in flight at once. */
  readonly maxConcurrent: number;
  /** Headers of the last request. */
  readonly lastHeaders: Headers | null;
}

/** Options of {@link startFakeFess}. */
export interface FakeFessOptions {
  /** Delay before answering, ms. */
  readonly delayMs?: number;
  /** Status to answer (default 200 with an empty detection). */
  readonly status?: number;
}

/** Starts a server that reads each frame and answers after `delayMs` with `status`. */
export function startFakeFess(options: FakeFessOptions = {}): FakeFess {
  let requests = 0;
  let inFlight = 0;
  let maxConcurrent = 0;
  let lastHeaders: Headers | null = null;
  const status = options.status ?? 200;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    requests++;
    inFlight++;
    maxConcurrent = Math.max(maxConcurrent, inFlight);
    lastHeaders = req.headers;
    try {
      await req.arrayBuffer();
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const body = status === 200
        ? { detection_ran: true, detections: [] }
        : { error: "unauthorized", code: status, detail: "missing or wrong API key" };
      return Response.json(body, { status });
    } finally {
      inFlight--;
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    get lastHeaders() {
      return lastHeaders;
    },
    close: () => server.shutdown(),
  };
}

/** Polls `probe` every 100 ms until true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
