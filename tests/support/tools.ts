/**
 * Command-line tools that deployment checks run (haproxy, promtool, docker-compose): a test
 * that needs one is ignored outside CI when it is missing (one loud line naming the install
 * command), and fails with `CI=true`, like the services in `services.ts`.
 *
 * @module
 */
import { isCi, onPath } from "./services.ts";

/** Tools and the Debian package that provides each. */
const PACKAGES: Readonly<Record<string, string>> = {
  haproxy: "haproxy",
  promtool: "prometheus",
  "docker-compose": "docker-compose",
  flock: "util-linux",
};

const warned = new Set<string>();

/** Deno.test option fragment for a test that runs `tools`. */
export function requireTool(...tools: string[]): { ignore: boolean } {
  if (isCi()) return { ignore: false };
  const missing = tools.filter((t) => !onPath(t));
  for (const tool of missing) {
    if (warned.has(tool)) continue;
    warned.add(tool);
    const bar = "!".repeat(100);
    // deno-lint-ignore no-console
    console.error(
      `\n${bar}\n!!! SKIPPING TESTS THAT RUN ${tool}: it is not on PATH.\n` +
        `!!! Install it with:  sudo apt-get install -y ${PACKAGES[tool] ?? tool}\n` +
        `!!! (with CI=true these tests fail instead of being skipped)\n${bar}\n`,
    );
  }
  return { ignore: missing.length > 0 };
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  readonly cwd?: string;
  /** Added to (or replacing) the inherited environment. */
  readonly env?: Record<string, string>;
  /** Inherited variables to drop, e.g. `DENO_COVERAGE_DIR` for code in throwaway copies. */
  readonly unset?: readonly string[];
}

/** Runs `cmd args...` and returns its exit code and combined output. */
export async function runTool(
  cmd: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<{ code: number; output: string }> {
  const unset = options.unset ?? [];
  const env = unset.length === 0 ? options.env : Object.fromEntries(
    Object.entries({ ...Deno.env.toObject(), ...options.env }).filter(([k]) => !unset.includes(k)),
  );
  const out = await new Deno.Command(cmd, {
    args: [...args],
    cwd: options.cwd,
    env,
    clearEnv: unset.length > 0,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, output: text };
}
