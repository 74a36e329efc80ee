import assert from "node:assert/strict";
import { requireService, startPrometheus } from "./support/services.ts";

Deno.test({
  name: "startPrometheus scrapes the given target at the given path",
  ...requireService("prometheus"),
  async fn() {
    const ac = new AbortController();
    const target = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/custom-metrics"
          ? new Response("# TYPE fess_probe gauge\nfess_probe 42\n", {
            headers: { "content-type": "text/plain; version=0.0.4" },
          })
          : new Response("nope", { status: 404 }),
    );
    const prom = await startPrometheus({
      targets: [`127.0.0.1:${target.addr.port}`],
      scrapeIntervalSeconds: 1,
      metricsPath: "/custom-metrics",
    });
    try {
      let value: string | undefined;
      const deadline = Date.now() + 15_000;
      while (value === undefined && Date.now() < deadline) {
        const res = await fetch(`${prom.url}/api/v1/query?query=fess_probe`);
        const body = await res.json();
        value = body.data?.result?.[0]?.value?.[1];
        if (value === undefined) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(value, "42");
    } finally {
      await prom.close();
      ac.abort();
      await target.finished;
    }
  },
});
