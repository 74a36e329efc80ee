import assert from "node:assert/strict";
import YAML from "yaml";
import { ConfigError, envName, loadConfig, redactConfig, settingKeys } from "../shared/config.ts";

const files = (map: Record<string, string>) => ({
  readFile: (p: string) => {
    if (!(p in map)) throw new Deno.errors.NotFound(p);
    return map[p]!;
  },
});

Deno.test("defaults fill every setting when no source is given", () => {
  const c = loadConfig({});
  assert.equal(c.redis.port, 6379);
  assert.equal(c.redis.connect_timeout_ms, 5000);
  assert.equal(c.kafka.acks, "all");
  assert.equal(c.kafka.batch_bytes, 262144);
  assert.equal(c.kafka.linger_ms, 10);
  assert.equal(c.detector.backend, "auto");
  assert.equal(c.redis.host, undefined);
  assert.deepEqual(c.server.api_keys, []);
});

Deno.test("env overrides file, file overrides default", () => {
  const yaml = "redis:\n  host: from-file\n  port: 7000\n  db: 3\nkafka:\n  linger_ms: 50\n";
  const c = loadConfig(
    { FESS_REDIS__HOST: "from-env", FESS_KAFKA__BROKERS: "a:1, b:2" },
    "c.yaml",
    files({ "c.yaml": yaml }),
  );
  assert.equal(c.redis.host, "from-env"); // env beats file
  assert.equal(c.redis.port, 7000); // file beats default
  assert.equal(c.redis.db, 3);
  assert.equal(c.kafka.linger_ms, 50);
  assert.equal(c.redis.connect_timeout_ms, 5000); // default
  assert.deepEqual(c.kafka.brokers, ["a:1", "b:2"]); // comma lists from env
});

Deno.test("the file is named by FESS_CONFIG_FILE and may be JSON", () => {
  const c = loadConfig(
    { FESS_CONFIG_FILE: "c.json" },
    undefined,
    files({ "c.json": '{"kafka":{"acks":1}}' }),
  );
  assert.equal(c.kafka.acks, "1");
});

Deno.test("typed env strings are coerced: numbers, booleans, nested records", () => {
  const c = loadConfig({
    FESS_REDIS__TLS: "yes",
    FESS_DETECTOR__INPUT_SIZE: "640",
    FESS_DETECTOR__CLASS_THRESHOLDS__PERSON: "0.45",
    FESS_MODELS_DIR: "/models",
  });
  assert.equal(c.redis.tls, true);
  assert.equal(c.detector.input_size, 640);
  assert.deepEqual(c.detector.class_thresholds, { person: 0.45 });
  assert.equal(c.detector.models_dir, "/models");
});

Deno.test("a secret can come from <NAME>_FILE, trailing newline stripped", () => {
  const c = loadConfig(
    { FESS_REDIS__PASSWORD_FILE: "/run/secrets/pw" },
    undefined,
    files({ "/run/secrets/pw": "s3cret-pw\n" }),
  );
  assert.equal(c.redis.password, "s3cret-pw");
});

Deno.test("a missing _FILE secret and a doubly-set secret are both reported", () => {
  try {
    loadConfig(
      {
        FESS_REDIS__PASSWORD_FILE: "/nope",
        FESS_FACES__ENCRYPTION_KEY: "a",
        FESS_FACES__ENCRYPTION_KEY_FILE: "/k",
      },
      undefined,
      files({ "/k": "b" }),
    );
    assert.fail("expected ConfigError");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const byKey = Object.fromEntries(e.issues.map((i) => [i.key, i.message]));
    assert.match(byKey["redis.password"]!, /cannot read secret file \/nope: file not found/);
    assert.match(
      byKey["faces.encryption_key"]!,
      /both FESS_FACES__ENCRYPTION_KEY and FESS_FACES__ENCRYPTION_KEY_FILE are set/,
    );
  }
});

Deno.test("an invalid config yields one error naming every bad key, its source and why", () => {
  let caught: unknown;
  try {
    loadConfig(
      {
        FESS_REDIS__PORT: "abc",
        FESS_KAFKA__ACKS: "2",
        FESS_REDIS__NOPE: "1",
        FESS_REDIS__PASSWORD: "hunter2-secret",
      },
      "bad.yaml",
      files({ "bad.yaml": "detector:\n  input_size: 300\nkafka:\n  compression: lz4\n" }),
    );
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, "expected a ConfigError");
  const keys = caught.issues.map((i) => i.key).sort();
  assert.deepEqual(keys, [
    "detector.input_size",
    "kafka.acks",
    "kafka.compression",
    "redis.nope",
    "redis.port",
  ]);
  const bySource = Object.fromEntries(caught.issues.map((i) => [i.key, i.source]));
  assert.equal(bySource["redis.port"], "env FESS_REDIS__PORT");
  assert.equal(bySource["detector.input_size"], "file bad.yaml");
  assert.match(caught.message, /invalid configuration \(5 problems\)/);
  assert.match(caught.message, /redis\.nope .*unknown setting/);
  assert.match(caught.message, /input_size must be 320, 640 or 1280/);
  assert.doesNotMatch(caught.message, /hunter2/);
  assert.doesNotMatch(caught.message, /\n\s+at /, "no stack trace in the message");
});

Deno.test("a bad secret value is never echoed in the error", () => {
  try {
    loadConfig({ FESS_SERVER__API_KEYS: "too-short-key" });
    assert.fail("expected ConfigError");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues[0]!.key, "server.api_keys.0.key");
    assert.doesNotMatch(e.message, /too-short-key/);
  }
});

Deno.test("an unreadable config file is reported with its path", () => {
  assert.throws(() => loadConfig({}, "missing.yaml", files({})), /missing\.yaml.*file not found/);
});

Deno.test("redactConfig hides every secret, including a password inside the Redis URL", () => {
  const c = loadConfig({
    FESS_REDIS__URL: "redis://app:url-pass-123@cache:6379/0",
    FESS_REDIS__PASSWORD: "pw-456-secret",
    FESS_SERVER__API_KEYS: "0123456789abcdef-key1,0123456789abcdef-key2",
    FESS_FACES__ENCRYPTION_KEY: "enc-789-secret",
    FESS_KAFKA__SASL__PASSWORD: "sasl-000-secret",
  });
  const text = JSON.stringify(redactConfig(c));
  for (
    const secret of [
      "url-pass-123",
      "pw-456-secret",
      "key1",
      "key2",
      "enc-789-secret",
      "sasl-000-secret",
    ]
  ) {
    assert.ok(!text.includes(secret), `${secret} leaked`);
  }
  assert.match(text, /redis:\/\/app:REDACTED@cache:6379\/0/);
  assert.equal(c.redis.password, "pw-456-secret", "the config itself keeps the real value");
});

function flatKeys(tree: unknown, prefix = "", out: string[] = []): string[] {
  if (
    tree !== null && typeof tree === "object" && !Array.isArray(tree) &&
    !prefix.endsWith("class_thresholds") && prefix !== "cameras"
  ) {
    for (const [k, v] of Object.entries(tree)) flatKeys(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(prefix);
  return out;
}

Deno.test("config.example.yaml documents exactly the schema's settings, with their defaults", () => {
  const text = Deno.readTextFileSync(new URL("../shared/config.example.yaml", import.meta.url));
  assert.deepEqual(flatKeys(YAML.parse(text)).sort(), settingKeys().sort());
  const fromExample = loadConfig({}, "example.yaml", files({ "example.yaml": text }));
  assert.deepEqual(
    JSON.parse(JSON.stringify(fromExample)),
    JSON.parse(JSON.stringify(loadConfig({}))),
  );
});

Deno.test(".env.example names every setting's variable and no other", () => {
  const text = Deno.readTextFileSync(new URL("../.env.example", import.meta.url));
  const names = [...text.matchAll(/^#?\s*(FESS_[A-Z0-9_]+)=/gm)].map((m) => m[1]!)
    .filter((n) => n !== "FESS_CONFIG_FILE" && n !== "FESS_MODELS_DIR")
    .map((n) => n.replace(/__PERSON$/, ""));
  assert.deepEqual(names.sort(), settingKeys().map(envName).sort());
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("a single-underscore variable stops the start, naming it and the real name", () => {
  const e = configError(() => loadConfig({ FESS_REDIS_HOST: "cache", FESS_KAFKA_BROKERS: "k:1" }));
  assert.equal(e.issues.length, 2);
  assert.match(e.message, /env FESS_REDIS_HOST\): .*did you mean FESS_REDIS__HOST\?/);
  assert.match(e.message, /env FESS_KAFKA_BROKERS\): .*did you mean FESS_KAFKA__BROKERS\?/);
});

Deno.test("a misspelt variable is refused with the nearest setting's variable", () => {
  const e = configError(() => loadConfig({ FESS_REDIS__HSOT: "cache" }));
  assert.equal(e.issues[0]!.source, "env FESS_REDIS__HSOT");
  assert.match(e.issues[0]!.message, /did you mean FESS_REDIS__HOST\?/);
  const far = configError(() => loadConfig({ FESS_SOMETHING_ELSE: "1" }));
  assert.match(far.issues[0]!.message, /FESS_SOMETHING_ELSE is not a FESS variable$/);
});

Deno.test("a mistyped _FILE secret variable is refused, not ignored", () => {
  const e = configError(() =>
    loadConfig({ FESS_REDIS_PASSWORD_FILE: "/run/secrets/pw" }, undefined, files({}))
  );
  assert.equal(e.issues[0]!.source, "env FESS_REDIS_PASSWORD_FILE");
  assert.match(e.issues[0]!.message, /did you mean FESS_REDIS__PASSWORD\?/);
});

Deno.test("an unknown key in the file names the file, the key and the nearest setting", () => {
  const e = configError(() =>
    loadConfig({}, "c.yaml", files({ "c.yaml": "redis:\n  hots: cache\nkafak:\n  brokers: []\n" }))
  );
  const byKey = Object.fromEntries(e.issues.map((i) => [i.key, i]));
  assert.equal(byKey["redis.hots"]!.source, "file c.yaml");
  assert.match(byKey["redis.hots"]!.message, /unknown setting; did you mean redis\.host\?/);
  assert.equal(byKey["kafak"]!.source, "file c.yaml");
  assert.match(byKey["kafak"]!.message, /did you mean kafka\?/);
});

Deno.test("listed non-setting FESS_ variables are accepted; PORT and HOST set the listener", () => {
  const c = loadConfig({
    FESS_MEDIA_DIR: "/m",
    FESS_PYTHON: "/usr/bin/python3",
    FESS_CACHE_DIR: "/c",
    PORT: "9000",
    HOST: "127.0.0.1",
  });
  assert.equal(c.server.port, 9000);
  assert.equal(c.server.host, "127.0.0.1");
  assert.equal(loadConfig({ PORT: "9000", FESS_SERVER__PORT: "9100" }).server.port, 9100);
});

const K1 = "0123456789abcdef-one";
const K2 = "0123456789abcdef-two";

Deno.test("API keys: a plain env list means admin keys; name:scope+scope:key scopes a key", () => {
  assert.deepEqual(loadConfig({ FESS_SERVER__API_KEYS: `${K1},${K2}` }).server.api_keys, [
    { key: K1, scopes: ["admin"], name: "key-1" },
    { key: K2, scopes: ["admin"], name: "key-2" },
  ]);
  assert.deepEqual(
    loadConfig({ FESS_SERVER__API_KEYS: `cam-1:detect:${K1}, ops:faces+events:${K2}` }).server
      .api_keys,
    [
      { key: K1, scopes: ["detect"], name: "cam-1" },
      { key: K2, scopes: ["faces", "events"], name: "ops" },
    ],
  );
  const json = JSON.stringify([{ key: K1, scopes: ["faces"], name: "gallery" }]);
  assert.deepEqual(loadConfig({ FESS_SERVER__API_KEYS: json }).server.api_keys, [
    { key: K1, scopes: ["faces"], name: "gallery" },
  ]);
});

Deno.test("API keys in YAML: entries with scopes, and bare strings as admin keys", () => {
  const yaml =
    `server:\n  api_keys:\n    - ${K1}\n    - {key: ${K2}, scopes: [detect], name: cam}\n`;
  const c = loadConfig({}, "c.yaml", files({ "c.yaml": yaml }));
  assert.deepEqual(c.server.api_keys, [
    { key: K1, scopes: ["admin"], name: "key-1" },
    { key: K2, scopes: ["detect"], name: "cam" },
  ]);
});

Deno.test("API keys: an unknown scope or a name:key entry without scopes is refused", () => {
  const bad = configError(() => loadConfig({ FESS_SERVER__API_KEYS: `cam:watch:${K1}` }));
  assert.equal(bad.issues[0]!.key, "server.api_keys.0.scopes.0");
  const short = configError(() => loadConfig({ FESS_SERVER__API_KEYS: `cam:${K1}` }));
  assert.match(short.message, /at least one scope \(env form: name:scope\+scope:key\)/);
  assert.doesNotMatch(short.message, new RegExp(K1));
});

Deno.test("redactConfig keeps API key names and scopes but not the keys", () => {
  const c = loadConfig({ FESS_SERVER__API_KEYS: `cam:detect:${K1}` });
  const text = JSON.stringify(redactConfig(c));
  assert.ok(!text.includes(K1));
  assert.match(text, /"scopes":\["detect"\],"name":"cam"/);
});

Deno.test("production refuses to start without API keys or an encryption key", () => {
  const e = configError(() => loadConfig({ FESS_ENVIRONMENT: "production" }));
  assert.deepEqual(e.issues.map((i) => i.key).sort(), [
    "faces.encryption_key",
    "server.api_keys",
  ]);
  assert.match(
    e.message,
    /environment is production \(env FESS_ENVIRONMENT\): at least one API key/,
  );
  assert.match(e.message, /FESS_FACES__ALLOW_PLAINTEXT_ENCODINGS=true/);
  const optedOut = loadConfig({
    FESS_ENVIRONMENT: "production",
    FESS_SERVER__API_KEYS: K1,
    FESS_FACES__ALLOW_PLAINTEXT_ENCODINGS: "true",
  });
  assert.equal(optedOut.server.api_keys.length, 1);
  const dev = loadConfig({ FESS_ENVIRONMENT: "development" });
  assert.deepEqual(dev.server.api_keys, []);
});

Deno.test("cameras_path adds each sidecar camera's settings; the service's own entry wins", () => {
  const sidecar = [
    "server: http://fess:8080",
    "cameras:",
    "  - id: door",
    "    url: rtsp://cam/door",
    "    settings:",
    "      zones: {porch: [[0, 0.5], [1, 0.5], [1, 1]]}",
    "      rules: [{id: porch, zone: porch, on: enter}]",
    "  - id: yard",
    "    url: rtsp://cam/yard",
    "    settings: {score_threshold: 0.7}",
    "  - id: plain",
    "    url: rtsp://cam/plain",
  ].join("\n");
  const files: Record<string, string> = {
    "fess.yaml": "cameras_path: cams.yaml\ncameras:\n  yard: {score_threshold: 0.5}\n",
    "cams.yaml": sidecar,
  };
  const config = loadConfig({ FESS_CONFIG_FILE: "fess.yaml" }, undefined, {
    readFile: (p) => files[p]!,
  });
  assert.deepEqual(Object.keys(config.cameras).sort(), ["door", "yard"]);
  assert.equal(config.cameras.door!.rules[0]!.zone, "porch");
  assert.equal(config.cameras.yard!.score_threshold, 0.5, "the service's entry wins");
});

Deno.test("problems in cameras_path are reported with the file and the camera entry", () => {
  const sidecar =
    "cameras:\n  - id: door\n    settings:\n      rules: [{id: r, zone: drive, on: enter}]\n";
  let err: ConfigError | null = null;
  try {
    loadConfig({ FESS_CAMERAS_PATH: "cams.yaml" }, undefined, { readFile: () => sidecar });
  } catch (e) {
    err = e as ConfigError;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.issues.map((i) => [i.key, i.source]), [
    ["cameras.door.rules.0.zone", "file cams.yaml cameras[0].settings"],
  ]);
  assert.match(err.message, /no zone named drive on this camera/);

  assert.throws(
    () =>
      loadConfig({ FESS_CAMERAS_PATH: "missing.yaml" }, undefined, {
        readFile: () => {
          throw new Deno.errors.NotFound("missing.yaml");
        },
      }),
    (e: ConfigError) =>
      e.issues.length === 1 && e.issues[0]!.key === "cameras_path" &&
      /cannot read missing.yaml: file not found/.test(e.issues[0]!.message) &&
      e.issues[0]!.source === "env FESS_CAMERAS_PATH",
  );
});
