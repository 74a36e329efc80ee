// `deno task cameras` as a user runs it: a subprocess with flags or a config file.
import assert from "node:assert/strict";
import { startFakeFess, waitFor } from "./support/camera_servers.ts";
import { mediaPath } from "./support/media.ts";
import { requireCameraTools } from "./support/rtsp_server.ts";

const MAIN = new URL("../cameras/main.ts", import.meta.url).pathname;

function sidecar(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-run", "--allow-net", "--allow-read", "--allow-env", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await sidecar(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bad flags exit 2 listing every problem with the flag it came from", async () => {
  const { code, stderr } = await run([
    "--camera",
    "bad id!",
    "--url",
    "ftp://cam/stream",
    "--fps",
    "fast",
    "--pixel-format",
    "yuv444p",
    "--width",
    "640",
  ]);
  assert.equal(code, 2);
  for (
    const expected of [
      /server \(flag --server\): required/,
      /cameras\[0\]\.id \(flag --camera\)/,
      /cameras\[0\]\.url \(flag --url\): unsupported URL scheme ftp/,
      /cameras\[0\]\.fps \(flag --fps\)/,
      /cameras\[0\]\.pixel_format \(flag --pixel-format\)/,
      /cameras\[0\]\.width \(flag --width\): give both width and height \(height is missing\)/,
    ]
  ) assert.match(stderr, expected);
});

Deno.test("a config file's problems are all reported, with the file as their source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/cameras.yaml`;
    await Deno.writeTextFile(
      file,
      [
        "server: http://127.0.0.1:1",
        "cameras:",
        "  - { id: a, url: /no/such/file.mp4 }",
        "  - { id: a, url: rtsp://cam/x, loop: true, colour: red }",
      ].join("\n"),
    );
    const { code, stderr } = await run(["--config", file]);
    assert.equal(code, 2);
    assert.match(stderr, /4 problems/);
    assert.match(stderr, new RegExp(`cameras\\[0\\]\\.url \\(file ${file}\\): no such file`));
    assert.match(stderr, /cameras\[1\]\.id .*duplicate camera id/);
    assert.match(stderr, /cameras\[1\]\.loop .*files only/);
    assert.match(stderr, /cameras\[1\]\.colour .*unknown setting/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a missing ffmpeg is a clear error naming the install command",
  ...requireCameraTools({ rtsp: false }),
  async fn() {
    const { code, stderr } = await run([
      "--server",
      "http://127.0.0.1:1",
      "--camera",
      "cam-1",
      "--url",
      await mediaPath("vtest.avi"),
      "--ffmpeg",
      "/nonexistent/ffmpeg",
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /ffmpeg not found/);
    assert.match(stderr, /apt-get install -y ffmpeg/);
  },
});

Deno.test({
  name: "SIGTERM stops the sidecar and reaps its ffmpeg children",
  ...requireCameraTools({ rtsp: false }),
  async fn() {
    const server = startFakeFess();
    const video = await mediaPath("vtest.avi");
    const child = sidecar([
      "--server",
      server.url,
      "--camera",
      "cam-1",
      "--url",
      video,
      "--loop",
      "--fps",
      "5",
      "--json",
    ]);
    const lines: Record<string, unknown>[] = [];
    const reading = (async () => {
      let pending = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop()!;
        for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
      }
    })();
    const stderr = new Response(child.stderr).text();
    try {
      await waitFor("frames at the server", () => server.requests >= 3, 60_000);
      const started = lines.find((l) => l.msg === "ffmpeg started");
      assert.ok(started, "an ffmpeg started line with its pid");
      const pid = started.pid as number;
      assert.ok(Deno.statSync(`/proc/${pid}`).isDirectory, "ffmpeg runs");
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      assert.equal(status.code, 0, await stderr);
      assert.throws(() => Deno.statSync(`/proc/${pid}`), "ffmpeg is gone, not a zombie or orphan");
      const summary = lines.find((l) => l.msg === "camera summary");
      assert.equal(summary?.state, "stopped");
      assert.ok((summary?.frames_out as number) >= 3);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await child.status;
      await reading.catch(() => {});
      await stderr;
      await server.close();
    }
  },
});
