import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { requireService, startKafka } from "./support/services.ts";

Deno.test({
  name: "startKafka returns one shared broker per process that accepts produce requests",
  ...requireService("kafka"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startKafka();
    const again = await startKafka();
    assert.deepEqual(again.brokers, broker.brokers, "same broker for the whole test process");
    const kafka = new Kafka({
      brokers: broker.brokers,
      clientId: "services-test",
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      assert.equal(cluster.brokers.length, 1);
      assert.equal(`${cluster.brokers[0]!.host}:${cluster.brokers[0]!.port}`, broker.brokers[0]);
    } finally {
      await admin.disconnect();
      await broker.close();
    }
  },
});

Deno.test({
  name: "a dedicated broker restarts on the same port keeping its topics, and close stops it",
  ...requireService("kafka"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startKafka({ dedicated: true });
    const kafka = new Kafka({
      brokers: broker.brokers,
      clientId: "services-test",
      logLevel: logLevel.NOTHING,
      retry: { retries: 3, initialRetryTime: 200 },
    });
    const port = Number(broker.brokers[0]!.split(":")[1]);
    try {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: "kept", numPartitions: 2 }],
        waitForLeaders: true,
      });
      await admin.disconnect();

      await broker.stop();
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
      await broker.start();

      const admin2 = kafka.admin();
      await admin2.connect();
      assert.ok((await admin2.listTopics()).includes("kept"), "topic survives a restart");
      await admin2.disconnect();
    } finally {
      await broker.close();
    }
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
  },
});
