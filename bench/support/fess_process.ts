/**
 * Waiting for a FESS process a benchmark started: its port opens at once, and
 * `/health/ready` answers 200 once the app is built and the detector loaded.
 *
 * @module
 */

/** Resolves once `url`'s `/health/ready` is 200; throws if `proc` exits or 180 s pass. */
export async function waitReady(url: string, proc?: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  let exited = false;
  proc?.status.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const r = await fetch(`${url}/health/ready`);
      await r.body?.cancel();
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`FESS at ${url} did not get ready${exited ? " (it exited)" : ""}`);
}
