// The sidecar with real ffmpeg on file and HTTP MJPEG inputs, against a real FESS, a slow
// server (frames are dropped, memory stays bounded) and a server refusing the key.
import assert from "node:assert/strict";
import { type CamerasConfig, parseCamerasConfig } from "../cameras/config.ts";
import { startSidecar } from "../cameras/sidecar.ts";
import { silentLogger } from "../shared/logger.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { startFakeFess, startMjpegServer, waitFor } from "./support/camera_servers.ts";
import { mediaPath, vtestFramesJpeg } from "./support/media.ts";
import { requireCameraTools } from "./support/rtsp_server.ts";

function config(tree: Record<string, unknown>): CamerasConfig {
  return parseCamerasConfig({ tree, sources: new Map(), fallbackSource: "test" });
}

const tools = requireCameraTools({ rtsp: false });

Deno.test({
  name: "a looped file and an HTTP MJPEG camera both reach a real FESS and are detected",
  ...tools,
  async fn() {
    const app: TestApp = await startTestApp({ FESS_FACES__ENABLED: "false" });
    const mjpeg = startMjpegServer(await vtestFramesJpeg([0, 10, 20, 30, 40, 50]), 10);
    const sidecar = startSidecar({
      config: config({
        server: app.url,
        cameras: [
          { id: "file-1", url: await mediaPath("vtest.avi"), fps: 5, loop: true },
          { id: "mjpeg-1", url: mjpeg.url, fps: 5, width: 384, height: 288 },
        ],
      }),
      logger: silentLogger,
    });
    try {
      const [file, http] = sidecar.cameras.map((c) => c.stats);
      await waitFor(
        "detections from both cameras",
        () => file!.detections > 0 && http!.detections > 0 && http!.framesOut >= 3,
        60_000,
      );
      assert.equal(file!.uploadErrors, 0, file!.lastError);
      assert.equal(http!.uploadErrors, 0, http!.lastError);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      for (const id of ["file-1", "mjpeg-1"]) {
        assert.match(metrics, new RegExp(`fess_detections_total\\{camera_id="${id}"`));
      }
    } finally {
      const result = await sidecar.stop();
      await mjpeg.close();
      await app.close();
      assert.equal(result.exitCode, 0);
      assert.deepEqual(result.cameras.map((c) => c.finalState), ["stopped", "stopped"]);
    }
  },
});

Deno.test({
  name: "a server slower than the camera makes the sidecar drop frames, with one upload in flight",
  ...tools,
  async fn() {
    const slow = startFakeFess({ delayMs: 600 });
    const sidecar = startSidecar({
      config: config({
        server: slow.url,
        cameras: [{ id: "slow-1", url: await mediaPath("vtest.avi"), fps: 10, loop: true }],
      }),
      logger: silentLogger,
    });
    const stats = sidecar.cameras[0]!.stats;
    try {
      await waitFor("dropped frames", () => stats.dropped >= 5 && stats.framesOut >= 2, 60_000);
    } finally {
      await sidecar.stop();
      await slow.close();
    }
    assert.equal(slow.maxConcurrent, 1, "never more than one request at the server");
    assert.equal(stats.maxInFlight, 1);
    assert.ok(stats.buffers <= 3, `frame buffers allocated: ${stats.buffers}`);
    assert.ok(stats.framesIn > stats.framesOut);
    assert.equal(stats.framesIn, stats.framesOut + stats.dropped + stats.uploadErrors);
    const headers = slow.lastHeaders!;
    assert.equal(headers.get("x-pixel-format"), "yuv420p", "the default upload format");
    assert.equal(headers.get("x-frame-width"), "768");
    assert.equal(headers.get("x-frame-height"), "576");
    assert.match(
      headers.get("x-frame-timestamp")!,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/,
    );
    assert.match(headers.get("x-frame-number")!, /^\d+$/);
  },
});

Deno.test({
  name: "a 401 stops the camera with the reason after one request, and other cameras carry on",
  ...tools,
  async fn() {
    const refusing = startFakeFess({ status: 401 });
    const app = await startTestApp({
      FESS_FACES__ENABLED: "false",
      FESS_SERVER__API_KEYS: "right-key-0123456789",
    });
    const video = await mediaPath("vtest.avi");
    const sidecar = startSidecar({
      config: config({
        server: app.url,
        key: "right-key-0123456789",
        cameras: [
          { id: "wrong-key", url: video, fps: 10, loop: true, key: "wrong-key-0123456789" },
          { id: "right-key", url: video, fps: 10, loop: true },
        ],
      }),
      logger: silentLogger,
    });
    const counted = startSidecar({
      config: config({
        server: refusing.url,
        cameras: [{ id: "refused", url: video, fps: 10, loop: true }],
      }),
      logger: silentLogger,
    });
    try {
      const refusedState = await counted.cameras[0]!.done;
      assert.equal(refusedState, "failed");
      assert.equal(refusing.requests, 1, "no retries after a 401");
      assert.equal(counted.cameras[0]!.ffmpegPid, null, "its ffmpeg was stopped");

      const [wrong, right] = sidecar.cameras;
      assert.equal(await wrong!.done, "failed");
      assert.match(wrong!.stats.lastError, /401/);
      assert.match(wrong!.stats.lastError, /key/);
      await waitFor("the other camera's uploads", () => right!.stats.framesOut >= 3, 60_000);
      assert.equal(right!.stats.state, "streaming");
    } finally {
      const result = await sidecar.stop();
      await counted.stop();
      await refusing.close();
      await app.close();
      assert.equal(result.exitCode, 1, "a failed camera makes the run fail");
    }
  },
});
