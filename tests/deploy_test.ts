// No Docker engine runs in CI, so the container files are checked statically against the code.
import assert from "node:assert/strict";
import YAML from "yaml";
import { loadConfig } from "../shared/config.ts";

const root = new URL("../", import.meta.url);
const read = (p: string) => Deno.readTextFileSync(new URL(p, root));

Deno.test("docker-compose runs detector, redis, kafka and prometheus, and the detector's settings are valid", () => {
  const compose = YAML.parse(read("docker-compose.yml"));
  assert.deepEqual(Object.keys(compose.services).sort(), [
    "detector",
    "kafka",
    "prometheus",
    "redis",
  ]);
  const env: Record<string, string> = { ...compose.services.detector.environment };
  // The secret file exists only on a deployment host; stand in for its content.
  const files: Record<string, string> = {
    "/run/secrets/fess_api_keys": "0123456789abcdef0123",
    "/run/secrets/fess_encryption_key": btoa("k".repeat(32)),
  };
  const config = loadConfig(env, undefined, {
    readFile: (p) => files[p] ?? Deno.readTextFileSync(p),
  });
  assert.equal(config.redis.host, "redis");
  assert.deepEqual(config.kafka.brokers, ["kafka:9092"]);
  assert.equal(config.server.api_keys.length, 1);
  assert.match(
    compose.services.kafka.image,
    /^apache\/kafka:3\.9\./,
    "same Kafka line as scripts/kafka.sh",
  );
});

Deno.test("Prometheus scrapes the detector's /metrics on the port the container serves", () => {
  const prom = YAML.parse(read("deploy/prometheus.yml"));
  const job = prom.scrape_configs.find((j: { job_name: string }) => j.job_name === "fess");
  assert.equal(job.metrics_path, "/metrics");
  assert.deepEqual(job.static_configs[0].targets, ["detector:8080"]);
  assert.match(read("Dockerfile"), /"--port", "8080"/);
});

Deno.test("every path the Dockerfile copies exists and its entry point is main.ts", () => {
  const dockerfile = read("Dockerfile");
  const copies = [...dockerfile.matchAll(/^COPY\s+(.+?)\s+\S+$/gm)].flatMap((m) =>
    m[1]!.split(/\s+/)
  );
  assert.ok(copies.length >= 5);
  for (const src of copies) Deno.statSync(new URL(src, root));
  assert.match(dockerfile, /CMD \[.*"main\.ts"(, "--[a-z]+", "[^"]+")*\]/);
  assert.match(dockerfile, /deno install --frozen/);
});
