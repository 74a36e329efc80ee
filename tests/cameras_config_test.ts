// Sidecar settings: one schema for files and flags, every problem at once, URLs classified.
import assert from "node:assert/strict";
import { parseCli } from "../cameras/cli.ts";
import { CamerasConfigError, parseCamerasConfig, readCamerasFile } from "../cameras/config.ts";
import { classifySource, redactCredentials } from "../cameras/source.ts";

const exists = () => true;

Deno.test("cameras.example.yaml is valid and documents every camera setting", () => {
  const path = new URL("../cameras.example.yaml", import.meta.url).pathname;
  const input = readCamerasFile(path);
  const config = parseCamerasConfig(input, {
    fileExists: exists,
    readFile: (p) => (p === "/run/secrets/fess_api_keys" ? "key-one-0123456789,key-two" : ""),
  });
  assert.ok(config.cameras.length >= 3);
  const keys = new Map(config.cameras.map((c) => [c.id, c.key]));
  assert.equal(keys.get("front-door"), "key-one-0123456789", "key_file's first key");
  assert.equal(keys.get("yard"), "a-camera-specific-key-0123", "a camera's own key wins");
  const text = Deno.readTextFileSync(path);
  for (
    const key of ["fps", "width", "height", "pixel_format", "loop", "rtsp_transport", "settings"]
  ) {
    assert.match(text, new RegExp(`\\b${key}:`), `example shows ${key}`);
  }
});

Deno.test("a camera file gets defaults, its kinds classified and its key resolved", () => {
  const config = parseCamerasConfig({
    tree: {
      server: "http://fess:8080",
      key: "global-key",
      cameras: [
        { id: "door", url: "rtsp://u:p@10.0.0.5/s1" },
        { id: "yard", url: "http://10.0.0.6/video.mjpg", fps: "2.5", key: "own-key" },
        { id: "hls", url: "https://cdn/live/index.m3u8", width: 640, height: 360 },
        { id: "usb", url: "/dev/video0", pixel_format: "yuv420p" },
        { id: "clip", url: "clip.mp4", loop: true, settings: { score_threshold: 0.4 } },
      ],
    },
    sources: new Map(),
    fallbackSource: "test",
  }, { fileExists: exists });
  assert.deepEqual(config.cameras.map((c) => c.source.kind), [
    "rtsp",
    "http",
    "hls",
    "v4l2",
    "file",
  ]);
  assert.deepEqual(config.cameras.map((c) => c.key), [
    "global-key",
    "own-key",
    "global-key",
    "global-key",
    "global-key",
  ]);
  const [door, yard] = config.cameras;
  assert.equal(door!.fps, 5);
  assert.equal(door!.pixel_format, "yuv420p", "4:2:0 by default: half the bytes of bgr24");
  assert.equal(door!.rtsp_transport, "tcp");
  assert.equal(yard!.fps, 2.5);
  assert.equal(config.cameras[4]!.settings?.score_threshold, 0.4);
  assert.deepEqual(config.cameras[4]!.settings?.rules, [], "the service's schema fills defaults");
  assert.equal(config.reconnect.initial_ms, 500);
  assert.equal(config.reconnect.max_ms, 30_000);
});

Deno.test("every problem in a camera file is reported at once with its key and source", () => {
  let err: CamerasConfigError | null = null;
  try {
    parseCamerasConfig({
      tree: {
        server: "fess:8080",
        key: "k",
        key_file: "/x",
        reconnect: { initial_ms: 0 },
        cameras: [
          { id: "ok-1", url: "rtsp://cam/1", fps: 0 },
          { id: "ok-1", url: "gopher://cam", pixel_format: "gray" },
          { url: "rtsp:///nohost", height: 480 },
        ],
      },
      sources: new Map([["cameras[0].fps", "flag --fps"]]),
      fallbackSource: "file cams.yaml",
    }, { fileExists: exists });
  } catch (e) {
    err = e as CamerasConfigError;
  }
  assert.ok(err instanceof CamerasConfigError);
  const got = err.issues.map((i) => `${i.key} (${i.source})`).sort();
  assert.deepEqual(got, [
    "cameras[0].fps (flag --fps)",
    "cameras[1].id (file cams.yaml)",
    "cameras[1].pixel_format (file cams.yaml)",
    "cameras[1].url (file cams.yaml)",
    "cameras[2].height (file cams.yaml)",
    "cameras[2].id (file cams.yaml)",
    "cameras[2].url (file cams.yaml)",
    "key_file (file cams.yaml)",
    "reconnect.initial_ms (file cams.yaml)",
    "server (file cams.yaml)",
  ]);
  assert.match(err.message, /10 problems/);
});

Deno.test("flags describe one camera and override a file's run-wide values", () => {
  const cmd = parseCli([
    "--server",
    "http://127.0.0.1:8080",
    "--camera",
    "cam-1",
    "--url",
    "rtsp://cam/stream",
    "--fps",
    "10",
    "--width",
    "640",
    "--height",
    "360",
    "--pixel-format",
    "yuv420p",
    "--duration",
    "60",
    "--key",
    "secret-key",
  ]);
  assert.equal(cmd.help, false);
  if (cmd.help) return;
  const [cam] = cmd.config.cameras;
  assert.deepEqual(
    [cam!.id, cam!.fps, cam!.width, cam!.height, cam!.pixel_format, cam!.key],
    ["cam-1", 10, 640, 360, "yuv420p", "secret-key"],
  );
  assert.equal(cmd.config.duration_seconds, 60);

  const file = "server: http://a:1\nkey_file: /k\ncameras:\n  - { id: c, url: rtsp://x/y }\n";
  const withFile = parseCli(["--config", "c.yaml", "--server", "http://b:2", "--key", "k2"], {
    readFile: (p) => (p === "c.yaml" ? file : "unused"),
  });
  assert.ok(!withFile.help);
  if (withFile.help) return;
  assert.equal(withFile.config.server, "http://b:2");
  assert.equal(withFile.config.cameras[0]!.key, "k2");

  assert.throws(
    () => parseCli(["--config", "c.yaml", "--url", "rtsp://x/z"], { readFile: () => file }),
    /--url \(flag --url\): describes one camera/,
  );
  assert.throws(() => parseCli(["--nope"]), /Unknown option '--nope'/);
});

Deno.test("URLs are classified by scheme, and credentials never reach a message", () => {
  assert.deepEqual(classifySource("rtsps://cam:322/live"), {
    kind: "rtsp",
    input: "rtsps://cam:322/live",
  });
  assert.deepEqual(classifySource("file:///media/a%20b.mp4"), {
    kind: "file",
    input: "/media/a b.mp4",
  });
  assert.deepEqual(classifySource("v4l2:///dev/video2"), { kind: "v4l2", input: "/dev/video2" });
  assert.deepEqual(classifySource("./clip.mkv"), { kind: "file", input: "./clip.mkv" });
  assert.match((classifySource("udp://239.0.0.1:1234") as { error: string }).error, /unsupported/);
  assert.match((classifySource("rtsp://") as { error: string }).error, /no host/);
  assert.equal(
    redactCredentials("rtsp://admin:hunter2@10.0.0.5/s: 401 Unauthorized"),
    "rtsp://admin:***@10.0.0.5/s: 401 Unauthorized",
  );
});

Deno.test("compose runs the sidecar on a mounted cameras.yaml with the detector's key secret", async () => {
  const { default: YAML } = await import("yaml");
  const root = new URL("../", import.meta.url);
  const compose = YAML.parse(Deno.readTextFileSync(new URL("docker-compose.yml", root)));
  const cameras = compose.services.cameras;
  assert.equal(cameras.build.dockerfile, "cameras/Dockerfile");
  assert.ok(cameras.volumes.includes("./cameras.yaml:/config/cameras.yaml:ro"));
  assert.deepEqual(cameras.secrets, ["fess_api_keys"]);
  assert.deepEqual(cameras.depends_on, ["haproxy"]);
  // The command line the container runs parses, with the example file as cameras.yaml.
  const example = Deno.readTextFileSync(new URL("cameras.example.yaml", root));
  const cmd = parseCli(cameras.command, {
    readFile: (p) => (p === "/config/cameras.yaml" ? example : "a-key-0123456789abcdef"),
    fileExists: exists,
  });
  assert.ok(!cmd.help && cmd.config.server === "http://haproxy:8080");
  const dockerfile = Deno.readTextFileSync(new URL("cameras/Dockerfile", root));
  for (const m of dockerfile.matchAll(/^COPY\s+(.+?)\s+\S+$/gm)) {
    for (const src of m[1]!.split(/\s+/)) Deno.statSync(new URL(src, root));
  }
  assert.match(dockerfile, /apt-get install -y --no-install-recommends ffmpeg/);
  assert.match(dockerfile, /"cameras\/main\.ts"\]/);
});

Deno.test("a camera's settings are checked with the service's schema, every problem at once", () => {
  let err: CamerasConfigError | null = null;
  try {
    parseCamerasConfig({
      tree: {
        server: "http://fess:8080",
        cameras: [
          {
            id: "door",
            url: "rtsp://cam/1",
            width: 641,
            height: 360,
            settings: { rules: [{ id: "r", zone: "drive", on: "enter" }], masks: [[[0, 0]]] },
          },
        ],
      },
      sources: new Map(),
      fallbackSource: "file cams.yaml",
    }, { fileExists: exists });
  } catch (e) {
    err = e as CamerasConfigError;
  }
  assert.ok(err instanceof CamerasConfigError);
  assert.deepEqual(err.issues.map((i) => i.key).sort(), [
    "cameras[0].settings.masks[0]",
    "cameras[0].settings.rules[0].zone",
    "cameras[0].width",
  ]);
  assert.match(err.message, /no zone named drive/);
  assert.match(err.message, /yuv420p needs an even width/);
});
