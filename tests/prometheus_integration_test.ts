import assert from "node:assert/strict";
import { requireService, startPrometheus } from "./support/services.ts";
import { startTestApp } from "./support/app.ts";
import { vtestFramesJpeg } from "./support/media.ts";

async function query(
  base: string,
  promql: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = await res.json();
  assert.equal(body.status, "success", JSON.stringify(body));
  return body.data.result;
}

Deno.test({
  name: "a real Prometheus scrapes /metrics and answers queries for detections and latency buckets",
  ...requireService("prometheus"),
  async fn() {
    const t = await startTestApp({});
    const prom = await startPrometheus({
      targets: [`127.0.0.1:${t.port}`],
      scrapeIntervalSeconds: 1,
    });
    try {
      const [jpeg] = await vtestFramesJpeg([200]);
      const res = await fetch(`${t.url}/detect/prom-cam?frame_number=1`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
      const detected = (await res.json()).detections.length;
      assert.ok(detected >= 1, "the frame has pedestrians");

      const deadline = Date.now() + 30_000;
      let detections: Awaited<ReturnType<typeof query>> = [];
      while (Date.now() < deadline) {
        detections = await query(prom.url, 'fess_detections_total{camera_id="prom-cam"}');
        if (detections.length > 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(detections.length, 1, "Prometheus has scraped fess_detections_total");
      assert.equal(detections[0]!.metric.object_class, "person");
      assert.equal(detections[0]!.metric.job, "fess");
      assert.equal(Number(detections[0]!.value[1]), detected);

      const buckets = await query(
        prom.url,
        'fess_detection_latency_seconds_bucket{camera_id="prom-cam"}',
      );
      assert.deepEqual(
        buckets.map((b) => b.metric.le!).sort((a, b) =>
          Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity"))
        ),
        ["0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"],
      );
      const inf = buckets.find((b) => b.metric.le === "+Inf")!;
      assert.equal(Number(inf.value[1]), 1, "one frame observed");

      const up = await query(prom.url, 'up{job="fess"}');
      assert.equal(up[0]!.value[1], "1");
    } finally {
      await prom.close();
      await t.close();
    }
  },
});
