/**
 * The real entry point as a subprocess (`deno run main.ts`): refuses unsafe or mistyped
 * settings with a clear message and a non-zero exit, opens its port before its dependencies
 * are up, and on SIGTERM ends the live event streams at once and answers every request in
 * flight before exiting.
 */
import assert from "node:assert/strict";
import { modelsDir } from "./support/media.ts";
import { motionEvent } from "./support/event_fixtures.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Env for a subprocess: only what the test names (no FESS_* leaking in from the runner). */
function env(extra: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("FESS_") && k !== "PORT" && k !== "HOST"
    ),
  );
  return { ...base, NO_COLOR: "1", ...extra };
}

async function runToExit(extra: Record<string, string>, args: string[] = []) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: env(extra),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("production without API keys or an encryption key refuses to start, saying why", async () => {
  const { code, stderr } = await runToExit({ FESS_ENVIRONMENT: "production" });
  assert.equal(code, 78);
  assert.match(stderr, /server\.api_keys .*environment is production .*at least one API key/);
  assert.match(stderr, /faces\.encryption_key .*FESS_FACES__ALLOW_PLAINTEXT_ENCODINGS=true/);
});

Deno.test("a mistyped FESS_ variable stops the start naming it and the real name", async () => {
  const { code, stderr } = await runToExit({ FESS_REDIS_HOST: "127.0.0.1" });
  assert.equal(code, 78);
  assert.match(stderr, /env FESS_REDIS_HOST\).*did you mean FESS_REDIS__HOST\?/);
});

Deno.test("an unknown flag stops the start with the usage", async () => {
  const { code, stderr } = await runToExit({}, ["--prot", "9000"]);
  assert.equal(code, 64);
  assert.match(stderr, /usage: deno task start \[--port <port>\]/);
});

interface Running {
  readonly url: string;
  readonly child: Deno.ChildProcess;
  readonly logs: string[];
  readonly dir: string;
}

async function start(extra: Record<string, string> = {}): Promise<Running> {
  const dir = await Deno.makeTempDir({ prefix: "fess-main-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--host", "127.0.0.1", "--port", "0"],
    env: env({
      FESS_MODELS_DIR: modelsDir(),
      FESS_KAFKA__EVENT_LOG_PATH: `${dir}/events.jsonl`,
      FESS_KAFKA__SPOOL_DIR: `${dir}/spool`,
      FESS_HEALTH__DISK_PATH: dir,
      FESS_FACES__ENABLED: "false",
      FESS_DETECTOR__WARMUP: "false",
      ...extra,
    }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo(new WritableStream()).catch(() => {});
  const logs: string[] = [];
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let url: string | undefined;
  const deadline = Date.now() + 60_000;
  while (!url && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const l of parts) {
      logs.push(l);
      const m = /"msg":"listening".*"url":"(http:\/\/[^"]+)"/.exec(l);
      if (m) url = m[1];
    }
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      logs.push(...value.split("\n").filter((l) => l !== ""));
    }
  })().catch(() => {});
  assert.ok(url, `no listening line in ${logs.join("\n")}`);
  return { url, child, logs, dir };
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${url}/health/ready`).catch(() => null);
    const ok = res?.status === 200;
    await res?.body?.cancel();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("never ready");
}

Deno.test("the port opens before the broker is reachable; readiness says not ready meanwhile", async () => {
  // A broker address nothing listens on: the app keeps trying while the port already answers.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const s = await start({ FESS_KAFKA__BROKERS: `127.0.0.1:${deadPort}`, FESS_KAFKA__RETRIES: "8" });
  try {
    const live = await fetch(`${s.url}/health/live`);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    const ready = await fetch(`${s.url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).status, "not_ready");
    const frame = await fetch(`${s.url}/detect/cam-1`, { method: "POST", body: "x" });
    assert.equal(frame.status, 503);
    assert.ok(frame.headers.get("retry-after"));
    await frame.body?.cancel();
  } finally {
    s.child.kill("SIGKILL");
    await s.child.status;
    await Deno.remove(s.dir, { recursive: true });
  }
});

const enc = new TextEncoder();

/** Status and body of an HTTP/1.1 response read off the wire. */
interface WireResponse {
  readonly status: number;
  readonly body: string;
}

/** A raw POST whose body is sent in two halves; see {@link postInHalves}. */
interface HalvedPost {
  /** Resolves once the server has asked for the body and the first half is sent. */
  readonly reading: Promise<void>;
  readonly response: Promise<WireResponse>;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * POSTs `bytes` as JSON over raw HTTP/1.1 with `Expect: 100-continue`: the first half after
 * the server's 100 Continue, the second half once `rest` resolves. The 100 shows that the
 * server itself has taken the request in, which fetch cannot show.
 */
function postInHalves(url: string, bytes: Uint8Array, rest: Promise<void>): HalvedPost {
  const { hostname, port, pathname } = new URL(url);
  const reading = Promise.withResolvers<void>();
  const response = (async (): Promise<WireResponse> => {
    const conn = await Deno.connect({ hostname, port: Number(port) });
    try {
      const head = `POST ${pathname} HTTP/1.1\r\nhost: ${hostname}:${port}\r\n` +
        `content-type: application/json\r\ncontent-length: ${bytes.length}\r\n` +
        "expect: 100-continue\r\n\r\n";
      await writeAll(conn, enc.encode(head));
      const dec = new TextDecoder();
      const buf = new Uint8Array(65536);
      let text = "";
      const more = async () => {
        const n = await conn.read(buf);
        if (n !== null) text += dec.decode(buf.subarray(0, n), { stream: true });
        return n !== null;
      };
      while (!text.includes("\r\n\r\n")) {
        if (!(await more())) throw new Error(`closed before 100 Continue: ${text}`);
      }
      if (!text.startsWith("HTTP/1.1 100 ")) throw new Error(`no 100 Continue: ${text}`);
      text = text.slice(text.indexOf("\r\n\r\n") + 4);
      const half = Math.floor(bytes.length / 2);
      await writeAll(conn, bytes.subarray(0, half));
      reading.resolve();
      await rest;
      await writeAll(conn, bytes.subarray(half));
      // The server answers with `Connection: close` while draining, then exits.
      while (await more());
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) throw new Error(`closed without a full response: ${JSON.stringify(text)}`);
      const [statusLine = "", ...headers] = text.slice(0, end).split("\r\n");
      assert.ok(!headers.some((h) => /^transfer-encoding:/i.test(h)), `not sized: ${text}`);
      return { status: Number(statusLine.split(" ")[1]), body: text.slice(end + 4) };
    } finally {
      conn.close();
    }
  })();
  // Fails `reading` too, so a request that never gets in flight stops the wait for it; this
  // also marks `response` handled until the test awaits it after the SIGTERM.
  response.catch((err) => reading.reject(err));
  return { reading: reading.promise, response };
}

Deno.test("SIGTERM with requests in flight: every request gets its full response, events are flushed", async () => {
  const s = await start();
  try {
    await waitReady(s.url);
    const n = 8;
    const events = Array.from({ length: n }, (_, i) => motionEvent("cam-drain", i));
    // The second halves go out well after the SIGTERM, so every request is mid-body then.
    const killed = Promise.withResolvers<void>();
    const posts = events.map((e) =>
      postInHalves(`${s.url}/events`, enc.encode(JSON.stringify(e)), killed.promise)
    );
    await Promise.all(posts.map((p) => p.reading));
    s.child.kill("SIGTERM");
    setTimeout(killed.resolve, 500);
    const responses = await Promise.all(posts.map((p) => p.response));
    const status = await s.child.status;
    await new Promise((r) => setTimeout(r, 50)); // the last log lines
    for (const res of responses) {
      assert.equal(res.status, 202, `${res.body}\n${s.logs.join("\n")}`);
      assert.equal(JSON.parse(res.body).status, "accepted");
    }
    assert.equal(status.code, 0, s.logs.join("\n"));
    const logged = await Deno.readTextFile(`${s.dir}/events.jsonl`);
    for (const e of events) assert.ok(logged.includes(e.event_id), `event ${e.event_id} flushed`);
    assert.ok(s.logs.some((l) => l.includes('"msg":"stopped"') && l.includes('"graceful":true')));
  } finally {
    try {
      s.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await Deno.remove(s.dir, { recursive: true });
  }
});

/** Resolves `p`, or rejects once `ms` have passed (the timer never outlives the race). */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("SIGTERM with an event stream open: the stream ends at once, requests in flight are answered, exit 0", async () => {
  // A grace period far longer than the wait below: only ending the stream at drain start passes.
  const s = await start({ FESS_SERVER__SHUTDOWN_GRACE_MS: "30000" });
  try {
    await waitReady(s.url);
    const stream = await fetch(`${s.url}/events/stream`);
    assert.equal(stream.status, 200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /^: connected/);
    const streamEnded = (async () => {
      while (!(await reader.read()).done);
    })();
    const event = motionEvent("cam-stream-drain", 1);
    const killed = Promise.withResolvers<void>();
    const post = postInHalves(`${s.url}/events`, enc.encode(JSON.stringify(event)), killed.promise);
    await post.reading;
    const t0 = Date.now();
    s.child.kill("SIGTERM");
    setTimeout(killed.resolve, 500);
    await within(streamEnded, 10_000, () => `the stream's end\n${s.logs.join("\n")}`);
    const res = await within(post.response, 10_000, () => "the answer to the request in flight");
    const status = await within(s.child.status, 10_000, () => `the exit\n${s.logs.join("\n")}`);
    const took = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50)); // the last log lines
    assert.equal(res.status, 202, `${res.body}\n${s.logs.join("\n")}`);
    assert.equal(status.code, 0, s.logs.join("\n"));
    assert.ok(took < 10_000, `exited after ${took} ms`);
    assert.ok(
      s.logs.some((l) => l.includes('"msg":"stopped"') && l.includes('"graceful":true')),
      s.logs.join("\n"),
    );
    const logged = await Deno.readTextFile(`${s.dir}/events.jsonl`);
    assert.ok(logged.includes(event.event_id), "the event in flight was flushed");
  } finally {
    try {
      s.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await s.child.status;
    await Deno.remove(s.dir, { recursive: true });
  }
});
