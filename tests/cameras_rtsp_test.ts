// The sidecar against a real RTSP server (GStreamer) and a real FESS: frames are detected, and
// a server that dies and comes back is reconnected to.
import assert from "node:assert/strict";
import { type CamerasConfig, parseCamerasConfig } from "../cameras/config.ts";
import { startSidecar } from "../cameras/sidecar.ts";
import { silentLogger } from "../shared/logger.ts";
import { startTestApp } from "./support/app.ts";
import { waitFor } from "./support/camera_servers.ts";
import { mediaPath } from "./support/media.ts";
import { requireCameraTools, startRtspServer } from "./support/rtsp_server.ts";

function config(tree: Record<string, unknown>): CamerasConfig {
  return parseCamerasConfig({ tree, sources: new Map(), fallbackSource: "test" });
}

/** Whether a process with this pid exists (a zombie counts: it was not reaped). */
function processExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "an RTSP camera's frames reach FESS and are detected, and a restarted RTSP server is reconnected to",
  ...requireCameraTools({ rtsp: true }),
  async fn(t) {
    const app = await startTestApp({ FESS_FACES__ENABLED: "false" });
    const rtsp = await startRtspServer(await mediaPath("vtest.avi"));
    const sidecar = startSidecar({
      config: config({
        server: app.url,
        reconnect: { initial_ms: 200, max_ms: 1000 },
        stall_timeout_ms: 5000,
        cameras: [{ id: "rtsp-1", url: rtsp.url, fps: 5 }],
      }),
      logger: silentLogger,
    });
    const [camera] = sidecar.cameras;
    const stats = camera!.stats;
    try {
      await t.step("frames are detected", async () => {
        await waitFor(
          "three detected frames with people",
          () => stats.framesDetected >= 3 && stats.detections > 0,
          60_000,
        );
        assert.equal(stats.state, "streaming");
        assert.equal(stats.uploadErrors, 0, stats.lastError);
        const metrics = await (await fetch(`${app.url}/metrics`)).text();
        assert.match(metrics, /fess_detections_total\{camera_id="rtsp-1",object_class="person"\}/);
      });

      await t.step(
        "killing the RTSP server makes the sidecar reconnect when it is back",
        async () => {
          const firstPid = camera!.ffmpegPid;
          await rtsp.stop();
          await waitFor(
            "the camera to notice the lost stream",
            () => stats.reconnects >= 1,
            30_000,
          );
          assert.notEqual(stats.lastError, "");
          assert.ok(firstPid === null || !processExists(firstPid), "the old ffmpeg was reaped");
          const before = stats.framesIn;
          await rtsp.start();
          await waitFor("frames flowing again", () => stats.framesIn >= before + 5, 60_000);
          assert.equal(stats.state, "streaming");
          const out = stats.framesOut;
          await waitFor("uploads after the reconnect", () => stats.framesOut > out, 30_000);
        },
      );
    } finally {
      const pid = camera!.ffmpegPid;
      const result = await sidecar.stop();
      await rtsp.close();
      await app.close();
      if (pid !== null) assert.ok(!processExists(pid), "ffmpeg reaped on stop");
      assert.equal(result.exitCode, 0);
      const [summary] = result.cameras;
      assert.equal(summary!.maxInFlight, 1);
      assert.ok(summary!.buffers <= 3, `buffers ${summary!.buffers}`);
      assert.equal(
        summary!.framesIn,
        summary!.framesOut + summary!.dropped + summary!.uploadErrors,
        "every frame read is answered, failed or counted as dropped",
      );
    }
  },
});
