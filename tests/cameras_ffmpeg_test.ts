// The ffmpeg side of a camera: its command line, what its stderr tells, how stdout is cut
// into frames, and how a child is stopped.
import assert from "node:assert/strict";
import { ffmpegArgs } from "../cameras/ffmpeg_command.ts";
import { FfmpegMissingError, spawnFfmpeg, tellingLine } from "../cameras/ffmpeg_process.ts";
import { createFrameBuffers } from "../cameras/frame_buffers.ts";
import { readFrames } from "../cameras/frame_reader.ts";
import { frameBytes } from "../cameras/pixel_format.ts";

function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

Deno.test("ffmpeg opens each kind of input its own way and writes capped raw frames to stdout", () => {
  const rtsp = ffmpegArgs({
    source: { kind: "rtsp", input: "rtsp://cam/1" },
    fps: 5,
    pixelFormat: "bgr24",
    rtspTransport: "udp",
    ioTimeoutMs: 4000,
  });
  assert.equal(after(rtsp, "-rtsp_transport"), "udp");
  assert.equal(after(rtsp, "-timeout"), "4000000");
  assert.equal(after(rtsp, "-i"), "rtsp://cam/1");
  assert.equal(after(rtsp, "-r"), "5");
  assert.equal(after(rtsp, "-fps_mode"), "vfr", "a cap that never duplicates frames");
  assert.equal(after(rtsp, "-pix_fmt"), "bgr24");
  assert.equal(after(rtsp, "-f"), "rawvideo");
  assert.equal(rtsp.at(-1), "pipe:1");
  assert.ok(!rtsp.includes("-vf"), "native size without a size");
  assert.ok(rtsp.indexOf("-rtsp_transport") < rtsp.indexOf("-i"), "input options first");

  const file = ffmpegArgs({
    source: { kind: "file", input: "a.mp4" },
    fps: 10,
    pixelFormat: "yuv420p",
    loop: true,
    size: { width: 640, height: 360 },
  });
  assert.equal(after(file, "-stream_loop"), "-1");
  assert.ok(file.indexOf("-re") < file.indexOf("-i"), "a file is read at its own rate");
  assert.equal(after(file, "-vf"), "scale=640:360:flags=bilinear");
  assert.equal(after(file, "-pix_fmt"), "yuv420p");
  assert.ok(
    !ffmpegArgs({ source: { kind: "file", input: "a" }, fps: 1, pixelFormat: "bgr24" })
      .includes("-stream_loop"),
  );

  const v4l2 = ffmpegArgs({
    source: { kind: "v4l2", input: "/dev/video0" },
    fps: 5,
    pixelFormat: "nv12",
  });
  assert.equal(after(v4l2, "-f"), "v4l2");
  assert.equal(
    after(v4l2, "-vf"),
    "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0",
    "4:2:0 at native size is cropped to an even size",
  );
  const http = ffmpegArgs({
    source: { kind: "http", input: "http://c/m" },
    fps: 5,
    pixelFormat: "rgb24",
  });
  assert.ok(http.includes("-rw_timeout"));
});

Deno.test("frame sizes: 3 bytes a pixel packed, 1.5 for 4:2:0 with odd sides rounded up", () => {
  assert.equal(frameBytes("bgr24", 768, 576), 768 * 576 * 3);
  assert.equal(frameBytes("yuv420p", 768, 576), 768 * 576 * 1.5);
  assert.equal(frameBytes("nv12", 5, 3), 15 + 2 * 3 * 2);
});

Deno.test("stdout chunks of any size are cut into exact frames; a partial tail is discarded", async () => {
  const size = 10;
  const bytes = Uint8Array.from({ length: 3 * size + 4 }, (_, i) => i);
  const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 25), bytes.subarray(25)];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
  const buffers = createFrameBuffers(size);
  const frames: number[][] = [];
  const result = await readFrames(stream, buffers, (data) => {
    frames.push([...data]);
    buffers.release(data);
  });
  assert.equal(result.frames, 3);
  assert.equal(result.partialBytes, 4);
  assert.deepEqual(frames[1], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  assert.deepEqual(frames[2], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  assert.equal(buffers.allocated, 1, "a buffer released at once is reused");
});

// A stand-in executable: prints ffmpeg-like stderr and some bytes, then exits.
function fakeFfmpeg(script: string, onStderrLine?: (line: string) => void) {
  return spawnFfmpeg({ executable: "sh", args: ["-c", script], onStderrLine });
}

Deno.test("the output size is read from ffmpeg's output stream line, not the input's", async () => {
  const proc = fakeFfmpeg(
    `printf '  Stream #0:0: Video: h264, yuv420p, 1920x1080, 25 fps\\nOutput #0, rawvideo, to pipe:1:\\n  Stream #0:0: Video: rawvideo (BGR[24] / 0x18524742), bgr24(pc, gbr/unknown/unknown, progressive), 640x360, q=2-31\\n' >&2; printf 'abc'`,
  );
  assert.deepEqual(await proc.outputSize, { width: 640, height: 360 });
  assert.equal(await new Response(proc.stdout).text(), "abc");
  assert.equal((await proc.exited).code, 0);
});

Deno.test("an ffmpeg that fails before any frame explains why, with credentials redacted", async () => {
  const proc = fakeFfmpeg(
    `printf '[tcp @ 0x1] Connection to tcp://10.0.0.5:554 failed: Connection refused\\nrtsp://admin:pw@10.0.0.5/s: Connection refused\\n' >&2; exit 1`,
  );
  await assert.rejects(proc.outputSize, /rtsp:\/\/admin:\*\*\*@10\.0\.0\.5\/s: Connection refused/);
  await proc.stdout.cancel();
  const exit = await proc.exited;
  assert.equal(exit.code, 1);
  assert.equal(exit.reason, "rtsp://admin:***@10.0.0.5/s: Connection refused");
  assert.equal(
    tellingLine(["Input #0", "x.mp4: No such file or directory", "frame=  0 fps=0"]),
    "x.mp4: No such file or directory",
  );
});

Deno.test("stop escalates to SIGKILL when SIGTERM is ignored, and collects the exit status", async () => {
  let ready!: () => void;
  const trapped = new Promise<void>((r) => (ready = r));
  const proc = fakeFfmpeg(
    `trap '' TERM; printf 'ready\\n' >&2; while :; do sleep 0.05; done`,
    (line) => line === "ready" && ready(),
  );
  await trapped;
  const reader = proc.stdout.getReader();
  const exit = await proc.stop(200);
  assert.equal(exit.signal, "SIGKILL");
  assert.equal((await reader.read()).done, true);
  assert.throws(() => Deno.statSync(`/proc/${proc.pid}`), "reaped, no zombie");
});

Deno.test("a missing executable is an FfmpegMissingError naming the install command", () => {
  assert.throws(
    () => spawnFfmpeg({ executable: "/nonexistent/ffmpeg", args: [] }),
    (err: unknown) =>
      err instanceof FfmpegMissingError && /apt-get install -y ffmpeg/.test(err.message),
  );
});
