/**
 * Headless Chromium for the page's browser tests, driven by puppeteer-core with the system
 * executable (Debian `chromium`). Outside CI a machine without Chromium ignores these tests
 * with one loud line naming the install command; with `CI=true` they run and fail instead.
 *
 * @module
 */
import puppeteer, { type Browser } from "puppeteer-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** Path of a Chromium executable, or null. */
export function chromiumPath(): string | null {
  const fromEnv = Deno.env.get("CHROMIUM_PATH");
  for (const path of fromEnv ? [fromEnv] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** Deno.test option fragment: ignore without Chromium outside CI, never in CI. */
export function requireChromium(): { ignore: boolean } {
  const ci = ["true", "1"].includes((Deno.env.get("CI") ?? "").toLowerCase());
  if (ci || chromiumPath() !== null) return { ignore: false };
  // deno-lint-ignore no-console
  console.error(
    "\n!!! browser tests ignored: Chromium is not installed.\n" +
      "!!! Install it with:  sudo apt-get install -y chromium\n" +
      "!!! (with CI=true these tests fail instead of being skipped)\n",
  );
  return { ignore: true };
}

/** Launches headless Chromium; throws naming the install command when it is missing. */
export function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) {
    throw new Error("Chromium not found: sudo apt-get install -y chromium (or set CHROMIUM_PATH)");
  }
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}
