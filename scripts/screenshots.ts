/**
 * Screenshots of the live page for the docs (`docs/page-desktop.png`, `docs/page-phone.png`):
 * starts the app on a loopback port with an API key, posts vtest frames for two cameras,
 * publishes an alert, enrols a face, and captures the page in headless Chromium at 1280x800 and
 * at phone width (390x844).
 *
 *   deno run -A scripts/screenshots.ts [outDir]     (default docs/)
 *
 * @module
 */
import { launchBrowser } from "../tests/support/browser.ts";
import { startTestApp } from "../tests/support/app.ts";
import { VTEST_HEIGHT, VTEST_WIDTH, vtestFramesBgr } from "../tests/support/media.ts";

const KEY = "screenshot-key-0123456789abcdef";
const out = Deno.args[0] ?? new URL("../docs/", import.meta.url).pathname;

const t = await startTestApp({ FESS_SERVER__API_KEYS: KEY }, "error");
const browser = await launchBrowser();
try {
  const post = async (camera: string, frame: Uint8Array<ArrayBuffer>, n: number) => {
    const res = await fetch(`${t.url}/detect/${camera}?frame_number=${n}`, {
      method: "POST",
      body: frame,
      headers: {
        "x-api-key": KEY,
        "content-type": "application/octet-stream",
        "x-frame-width": String(VTEST_WIDTH),
        "x-frame-height": String(VTEST_HEIGHT),
        "x-pixel-format": "bgr24",
      },
    });
    await res.body?.cancel();
  };
  for (
    const [viewport, name] of [
      [{ width: 1280, height: 800 }, "page-desktop.png"],
      [{ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true }, "page-phone.png"],
    ] as const
  ) {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    await page.evaluateOnNewDocument((k: string) => sessionStorage.setItem("fess.api_key", k), KEY);
    await page.goto(`${t.url}/`, { waitUntil: "domcontentloaded" });
    await new Promise((r) => setTimeout(r, 1500));
    const a = await vtestFramesBgr([100, 101, 102, 103, 104, 105]);
    const b = await vtestFramesBgr([400, 401, 402, 403, 404, 405]);
    for (let i = 0; i < a.length; i++) {
      await post("entrance", a[i]!, i + 1);
      await post("plaza", b[i]!, i + 1);
    }
    await fetch(`${t.url}/events`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({
        event_type: "alert",
        schema_version: 1,
        event_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        camera_id: "plaza",
        frame_number: 6,
        alert_type: "dwell",
        severity: "warning",
        message: "person loitering in zone fountain for 60 s",
        face_id: null,
      }),
    }).then((r) => r.body?.cancel());
    await new Promise((r) => setTimeout(r, 3000));
    await page.screenshot({ path: `${out}/${name}` });
    await page.close();
  }
} finally {
  await browser.close();
  await t.close();
}
