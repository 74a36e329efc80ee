/**
 * The deployment files, checked without a Docker engine: the compose file against the settings
 * schema and with Debian's docker-compose, Prometheus' config and alert rules with promtool
 * (syntax and rule unit tests), HAProxy's config with `haproxy -c`, the Grafana provisioning
 * and dashboard against a real /metrics of the app, the Dockerfile's paths, first_run.sh, and
 * docker/entrypoint.sh run as a process (model check, data slots, exec and SIGTERM).
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { loadConfig } from "../shared/config.ts";
import { startTestApp } from "./support/app.ts";
import { mediaPath, modelsDir } from "./support/media.ts";
import { requireTool, runTool } from "./support/tools.ts";

const root = new URL("../", import.meta.url);
const rootPath = root.pathname;
const read = (p: string) => Deno.readTextFileSync(new URL(p, root));
const compose = () => YAML.parse(read("docker-compose.yml"));

Deno.test("compose runs the detector behind HAProxy with Redis, Kafka, topic setup, Prometheus and Grafana", () => {
  const services = compose().services;
  for (
    const name of ["detector", "haproxy", "redis", "kafka", "kafka-init", "prometheus", "grafana"]
  ) {
    assert.ok(services[name], `service ${name} missing`);
  }
  const detector = services.detector;
  // Scalable: no fixed host port or container name on the replicated service.
  assert.equal(detector.ports, undefined, "detector must not publish a host port (use haproxy)");
  assert.equal(detector.container_name, undefined);
  assert.deepEqual(services.haproxy.ports, ["8080:8080", "8404:8404"]);
  assert.match(services.kafka.image, /^apache\/kafka:3\.9\./, "same Kafka as scripts/kafka.sh");
  assert.equal(detector.depends_on["kafka-init"].condition, "service_completed_successfully");
  assert.equal(detector.depends_on.redis.condition, "service_healthy");
  assert.match(detector.healthcheck.test.join(" "), /\/health\/ready/);
  assert.match(read("Dockerfile"), /HEALTHCHECK[\s\S]*\/health\/ready/);
  assert.ok(
    (services.redis.command as string[]).includes("--appendonly"),
    "Redis keeps an append-only file",
  );
  const volumes = (detector.volumes as string[]).map((v) => v.split(":").slice(0, 2).join(":"));
  assert.deepEqual(volumes.sort(), [
    "./cameras.yaml:/config/cameras.yaml",
    "fess-data:/app/.data",
    "fess-models:/models",
  ]);
  assert.equal(detector.environment.FESS_CAMERAS_PATH, "/config/cameras.yaml");
});

Deno.test("the detector's compose settings are valid and its API key comes from a generated secret", () => {
  const c = compose();
  const env: Record<string, string> = { ...c.services.detector.environment };
  // The secret files exist only on a deployment host; stand in for their content.
  const files: Record<string, string> = {
    "/run/secrets/fess_api_keys": "0123456789abcdef0123",
    "/run/secrets/fess_encryption_key": btoa("k".repeat(32)),
    // The operator's cameras.yaml starts as a copy of the example.
    "/config/cameras.yaml": read("cameras.example.yaml"),
  };
  const config = loadConfig(env, undefined, {
    readFile: (p) => files[p] ?? Deno.readTextFileSync(p),
  });
  assert.equal(config.redis.host, "redis");
  assert.deepEqual(config.kafka.brokers, ["kafka:9092"]);
  assert.equal(config.kafka.create_topics, false, "kafka-init makes the topics");
  assert.equal(config.detector.models_dir, "/models");
  assert.equal(config.server.api_keys.length, 1);
  assert.ok(Object.keys(config.cameras).length > 0, "per-camera settings come from cameras.yaml");
  assert.equal(c.secrets.fess_api_keys.file, "./deploy/secrets/api_keys.txt");
  assert.equal(
    c.secrets.grafana_admin_password.file,
    "./deploy/secrets/grafana_admin_password.txt",
  );
  assert.match(read(".gitignore"), /^deploy\/secrets\/$/m, "generated secrets are git-ignored");
  assert.match(read(".dockerignore"), /^deploy\/secrets$/m, "and kept out of the image");
});

Deno.test("kafka-init creates exactly the configured topics with the configured layout, with retries", () => {
  const init = compose().services["kafka-init"];
  const defaults = loadConfig({});
  assert.deepEqual(
    String(init.environment.TOPICS).split(/\s+/).sort(),
    Object.values(defaults.kafka.topics).sort(),
  );
  assert.equal(Number(init.environment.PARTITIONS), defaults.kafka.topic_partitions);
  assert.equal(Number(init.environment.REPLICATION_FACTOR), defaults.kafka.replication_factor);
  const script = (init.command as string[]).join("\n");
  assert.match(script, /--if-not-exists/);
  assert.match(script, /sleep "\$\$delay"/, "backs off between attempts");
  assert.match(script, /exit 1/, "gives up loudly after MAX_ATTEMPTS");
  assert.equal(init.depends_on.kafka.condition, "service_healthy");
});

Deno.test(
  "Debian's docker-compose (v1 syntax) accepts the compose file, with a detector that can be scaled",
  {
    ...requireTool("docker-compose"),
  },
  async () => {
    const { code, output } = await runTool(
      "docker-compose",
      ["-f", "docker-compose.yml", "config"],
      {
        cwd: rootPath,
      },
    );
    assert.equal(code, 0, output);
    const resolved = YAML.parse(output);
    assert.ok(resolved.services.detector.healthcheck);
    assert.equal(resolved.services.detector.ports, undefined);
    const scaled = await runTool(
      "docker-compose",
      ["-f", "docker-compose.yml", "config", "--services"],
      { cwd: rootPath },
    );
    assert.equal(scaled.code, 0, scaled.output);
    assert.ok(scaled.output.split("\n").includes("detector"));
  },
);

Deno.test("promtool accepts the Prometheus config and rules, and the rules' unit tests pass", {
  ...requireTool("promtool"),
}, async () => {
  for (
    const args of [
      ["check", "config", "deploy/prometheus/prometheus.yml"],
      ["check", "rules", "deploy/prometheus/rules.yml"],
      ["test", "rules", "deploy/prometheus/rules_test.yml"],
    ]
  ) {
    const { code, output } = await runTool("promtool", args, { cwd: rootPath });
    assert.equal(code, 0, `promtool ${args.join(" ")}:\n${output}`);
  }
  const rules = YAML.parse(read("deploy/prometheus/rules.yml"));
  const names = rules.groups.flatMap((g: { rules: { alert: string }[] }) =>
    g.rules.map((r) => r.alert)
  );
  for (
    const want of [
      "FessDetectorDown",
      "FessCameraSilent",
      "FessEventBacklogOld",
      "FessDeadLetters",
      "FessDetectionLatencyHigh",
    ]
  ) assert.ok(names.includes(want), `rule ${want} missing`);
});

Deno.test("Prometheus scrapes every detector replica on the port the container serves", () => {
  const prom = YAML.parse(read("deploy/prometheus/prometheus.yml"));
  const job = prom.scrape_configs.find((j: { job_name: string }) => j.job_name === "fess");
  assert.equal(job.metrics_path, "/metrics");
  assert.deepEqual(job.dns_sd_configs[0].names, ["detector"]);
  assert.equal(job.dns_sd_configs[0].port, 8080);
  assert.match(read("Dockerfile"), /"--port", "8080"/);
  assert.deepEqual(prom.rule_files, ["rules.yml"]);
});

Deno.test("haproxy accepts its config, which routes by camera id with health-checked failover", {
  ...requireTool("haproxy"),
}, async () => {
  const { code, output } = await runTool("haproxy", ["-c", "-f", "deploy/haproxy.cfg"], {
    cwd: rootPath,
  });
  assert.equal(code, 0, output);
  const cfg = read("deploy/haproxy.cfg");
  assert.match(cfg, /^\s*balance uri path-only depth 2$/m);
  assert.match(cfg, /^\s*hash-type consistent$/m);
  assert.match(cfg, /^\s*option httpchk GET \/health\/ready$/m);
  assert.match(cfg, /^\s*option redispatch/m);
  assert.match(cfg, /^\s*server-template detector \d+-\d+ detector:8080 /m);
});

Deno.test("Grafana is provisioned with the Prometheus datasource the dashboard uses", () => {
  const ds = YAML.parse(read("deploy/grafana/provisioning/datasources/prometheus.yml"));
  assert.equal(ds.datasources[0].url, "http://prometheus:9090");
  const provider = YAML.parse(read("deploy/grafana/provisioning/dashboards/fess.yml"));
  assert.equal(provider.providers[0].options.path, "/var/lib/grafana/dashboards");
  const grafana = compose().services.grafana;
  assert.ok(
    (grafana.volumes as string[]).includes(
      "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ),
  );
  const dash = JSON.parse(read("deploy/grafana/dashboards/fess.json"));
  const uids = new Set<string>();
  for (const p of dash.panels) {
    uids.add(p.datasource.uid);
    for (const t of p.targets) uids.add(t.datasource.uid);
  }
  assert.deepEqual([...uids], [ds.datasources[0].uid]);
  const titles = dash.panels.map((p: { title: string }) => p.title);
  for (
    const want of [
      "Frames per second by camera",
      "Detections by class",
      "Detection latency quantiles",
      "Kafka events by status",
      "Face cache hits and misses",
      "CPU per replica",
      "Memory per replica",
      "Health per replica",
    ]
  ) assert.ok(titles.includes(want), `panel ${want} missing`);
});

/** fess_* metric names in PromQL expressions (histogram series names kept as written). */
function metricNames(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\bfess_[a-z0-9_]+/g)) out.add(m[0]);
  return out;
}

Deno.test("every metric the dashboard and the alert rules query is exported by the app", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dash = JSON.parse(read("deploy/grafana/dashboards/fess.json"));
  const dashExprs: string[] = dash.panels.flatMap((p: { targets: { expr: string }[] }) =>
    p.targets.map((t) => t.expr)
  );
  dashExprs.push(dash.templating.list[0].query.query);
  const rules = YAML.parse(read("deploy/prometheus/rules.yml"));
  const ruleExprs: string[] = rules.groups.flatMap((g: { rules: { expr: string }[] }) =>
    g.rules.map((r) => r.expr)
  );

  // Tracks confirmed on their first frame, so the faces of the posted frames are searched.
  const app = await startTestApp({ FESS_TRACKER__MIN_HITS: "1" });
  try {
    const jpeg = await Deno.readFile(await mediaPath("group-13-people.jpg"));
    for (const n of [1, 2]) {
      const res = await fetch(`${app.url}/detect/cam-deploy?frame_number=${n}`, {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
      });
      assert.equal(res.status, 200, await res.text());
    }
    await app.app.publisher.flush();
    const text = await (await fetch(`${app.url}/metrics`)).text();
    // Every queried name must be exported: with a sample line, or (a labelled counter that has
    // not counted yet, e.g. dead letters) declared by its TYPE line.
    const sampled = new Set(
      text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]!),
    );
    for (const m of text.matchAll(/^# TYPE (\S+) counter$/gm)) sampled.add(`${m[1]}`);
    const missing = [...metricNames(dashExprs)].filter((m) => !sampled.has(m));
    assert.deepEqual(missing, [], "dashboard metrics without samples in /metrics");
    const ruleMissing = [...metricNames(ruleExprs)].filter((m) => !sampled.has(m));
    assert.deepEqual(ruleMissing, [], "rule metrics missing from /metrics");
  } finally {
    await app.close();
  }
});

Deno.test("every path the Dockerfile copies exists; it prunes in a build stage and execs via tini", () => {
  const dockerfile = read("Dockerfile");
  const copies = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+?)\s+\S+$/gm)].flatMap((m) =>
    m[1]!.split(/\s+/)
  );
  assert.ok(copies.length >= 8);
  for (const src of copies) Deno.statSync(new URL(src, root));
  assert.match(dockerfile, /^FROM .* AS build$/m);
  assert.match(dockerfile, /RUN sh docker\/prune_node_modules\.sh node_modules/);
  assert.match(dockerfile, /^COPY --from=build \/app\/node_modules node_modules\/$/m);
  assert.match(dockerfile, /ENTRYPOINT \["\/tini", "--", "\/app\/docker\/entrypoint\.sh"\]/);
  assert.match(dockerfile, /CMD \["deno", "run", "--cached-only",.*"main\.ts"/);
  assert.match(read("docker/entrypoint.sh"), /^exec "\$@"$/m);
});

Deno.test("first_run.sh writes both secrets once, readable by the container user and accepted as API keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fess-first-run-" });
  try {
    await Deno.mkdir(`${dir}/scripts`);
    await Deno.copyFile(`${rootPath}scripts/first_run.sh`, `${dir}/scripts/first_run.sh`);
    const first = await runTool("sh", [`${dir}/scripts/first_run.sh`]);
    assert.equal(first.code, 0, first.output);
    const keyFile = `${dir}/deploy/secrets/api_keys.txt`;
    const key = await Deno.readTextFile(keyFile);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o644);
    assert.equal((await Deno.stat(`${dir}/deploy/secrets`)).mode! & 0o777, 0o700);
    const config = loadConfig({ FESS_SERVER__API_KEYS_FILE: keyFile });
    assert.deepEqual(config.server.api_keys, [{ key, scopes: ["admin"], name: "key-1" }]);
    const again = await runTool("sh", [`${dir}/scripts/first_run.sh`]);
    assert.equal(again.code, 0);
    assert.match(again.output, /exists, kept/);
    assert.equal(await Deno.readTextFile(keyFile), key, "never overwritten");
    assert.match(
      await Deno.readTextFile(`${dir}/deploy/secrets/grafana_admin_password.txt`),
      /^[0-9a-f]{64}$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// docker/entrypoint.sh as a process
// ---------------------------------------------------------------------------------------------

const ENTRYPOINT = `${rootPath}docker/entrypoint.sh`;
// Stands in for the service (`deno run main.ts`): reports its pid and settings, and what signal ended it.
const SERVICE = [
  "sh",
  "-c",
  'echo "pid=$$ spool=$FESS_KAFKA__SPOOL_DIR log=$FESS_KAFKA__EVENT_LOG_PATH"; ' +
  'trap "echo got-SIGTERM; exit 0" TERM; while :; do sleep 0.1; done',
];

interface Started {
  readonly child: Deno.ChildProcess;
  readonly firstLine: string;
  rest(): Promise<string>;
}

async function startEntrypoint(env: Record<string, string>): Promise<Started> {
  const child = new Deno.Command("sh", {
    args: [ENTRYPOINT, ...SERVICE],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return {
    child,
    firstLine: text.split("\n")[0]!,
    async rest() {
      let more = text.slice(text.indexOf("\n") + 1);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        more += value;
      }
      return more;
    },
  };
}

Deno.test(
  "the entrypoint verifies the models, gives each replica its own data slot and execs the service, which gets SIGTERM",
  {
    ...requireTool("flock"),
  },
  async () => {
    const data = await Deno.makeTempDir({ prefix: "fess-entry-" });
    const env = { FESS_MODELS_DIR: modelsDir(), FESS_DATA_DIR: data };
    const a = await startEntrypoint(env);
    const b = await startEntrypoint(env);
    try {
      // exec: the service runs as the entrypoint's own process, no shell left in between.
      assert.equal(a.firstLine.match(/pid=(\d+)/)?.[1], String(a.child.pid), a.firstLine);
      assert.match(
        a.firstLine,
        new RegExp(`spool=${data}/slot-1/spool log=${data}/slot-1/events.jsonl`),
      );
      assert.match(
        b.firstLine,
        new RegExp(`spool=${data}/slot-2/spool`),
        "second replica, second slot",
      );

      a.child.kill("SIGTERM");
      assert.match(await a.rest(), /got-SIGTERM/);
      const status = await a.child.status;
      assert.equal(status.code, 0);
      const log = new TextDecoder().decode(await new Response(a.child.stderr).arrayBuffer());
      assert.match(log, /OK\s+rtmdet-nano-person\s+ok/, log);

      // A replacement takes over the freed slot (and would replay its spool).
      const c = await startEntrypoint(env);
      assert.match(c.firstLine, new RegExp(`spool=${data}/slot-1/spool`));
      c.child.kill("SIGTERM");
      await c.rest();
      await c.child.status;
      await c.child.stderr.cancel();
    } finally {
      b.child.kill("SIGTERM");
      await b.rest();
      await b.child.status;
      await b.child.stderr.cancel();
      await Deno.remove(data, { recursive: true });
    }
  },
);

Deno.test("the entrypoint refuses to start on a corrupt detector model, naming the file and its URL", async () => {
  const models = await Deno.makeTempDir({ prefix: "fess-entry-models-" });
  try {
    await Deno.writeTextFile(`${models}/rtmdet-nano-person.onnx`, "not a model");
    const out = await runTool("sh", [ENTRYPOINT, "sh", "-c", "echo service-started"], {
      env: { FESS_MODELS_DIR: models, FESS_FACES__ENABLED: "false", FESS_DATA_DIR: models },
    });
    assert.equal(out.code, 1, out.output);
    assert.doesNotMatch(out.output, /service-started/);
    assert.match(
      out.output,
      new RegExp(`FAIL rtmdet-nano-person .*${models}/rtmdet-nano-person\\.onnx`),
    );
    assert.match(out.output, /https:\/\/download\.openmmlab\.com\/\S+\.zip/);
    assert.match(out.output, /models not ready/);
  } finally {
    await Deno.remove(models, { recursive: true });
  }
});
