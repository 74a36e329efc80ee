import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { requireService, startRedis } from "./support/services.ts";

Deno.test({
  name: "startRedis serves commands, loses data on restart on the same port, and close stops it",
  ...requireService("redis"),
  async fn() {
    const server = await startRedis();
    try {
      assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
      const client = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      await client.connect();
      await client.set("k", "v");
      assert.equal(await client.get("k"), "v");
      client.disconnect();

      await server.stop();
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      await server.start();
      const again = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      await again.connect();
      assert.equal(await again.get("k"), null, "no persistence: restart starts empty");
      again.disconnect();
    } finally {
      await server.close();
    }
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
  },
});

Deno.test({
  name: "servers a test process leaves running are killed when that process exits",
  ...requireService("redis"),
  async fn() {
    const script = `
      import { startRedis } from ${
      JSON.stringify(new URL("./support/services.ts", import.meta.url).href)
    };
      const server = await startRedis();
      console.log(JSON.stringify({ port: server.port }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--config", new URL("../deno.json", import.meta.url).pathname, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const { port } = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    // The child exited without close(); its unload handler must have killed redis-server.
    let listening = true;
    for (let i = 0; i < 40 && listening; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        await new Promise((r) => setTimeout(r, 50));
      } catch {
        listening = false;
      }
    }
    assert.equal(listening, false, "redis-server outlived its test process");
  },
});
