/**
 * What the sidecar shows while it runs. On a terminal: a table redrawn in place about once a
 * second (per camera: state, fps in/out, dropped, p50 latency, last error) with the latest log
 * messages under it. Otherwise: one JSON `camera status` log line per camera every
 * `log_interval_seconds`, through the shared logger. Rates come from the difference of two
 * snapshots, so they read "over the last interval".
 *
 * @module
 */
import type { Logger } from "../shared/logger.ts";
import type { CameraSnapshot } from "./camera_stats.ts";

/** A camera's snapshot with rates over the last interval. */
export interface StatusRow {
  readonly snapshot: CameraSnapshot;
  readonly fpsIn: number;
  readonly fpsOut: number;
}

/** Turns successive snapshots into rows with rates. */
export function createRateTracker(): (
  snapshots: readonly CameraSnapshot[],
  nowMs: number,
) => StatusRow[] {
  let previous = new Map<string, { at: number; framesIn: number; framesOut: number }>();
  return (snapshots, nowMs) => {
    const next = new Map<string, { at: number; framesIn: number; framesOut: number }>();
    const rows = snapshots.map((s) => {
      const before = previous.get(s.cameraId);
      const seconds = before ? (nowMs - before.at) / 1000 : 0;
      next.set(s.cameraId, { at: nowMs, framesIn: s.framesIn, framesOut: s.framesOut });
      return {
        snapshot: s,
        fpsIn: before && seconds > 0 ? (s.framesIn - before.framesIn) / seconds : 0,
        fpsOut: before && seconds > 0 ? (s.framesOut - before.framesOut) / seconds : 0,
      };
    });
    previous = next;
    return rows;
  };
}

const HEADERS = ["camera", "state", "fps in", "fps out", "dropped", "p50 ms", "detected", "errors"];

/** The status table as text, at most `width` characters a line. */
export function renderStatusTable(rows: readonly StatusRow[], width = 120): string {
  const cells = rows.map(({ snapshot: s, fpsIn, fpsOut }) => [
    s.cameraId,
    s.serverDown && s.state === "streaming" ? "server-down" : s.state,
    fpsIn.toFixed(1),
    fpsOut.toFixed(1),
    String(s.dropped),
    s.latencyP50Ms === null ? "-" : s.latencyP50Ms.toFixed(0),
    String(s.framesDetected),
    String(s.uploadErrors),
  ]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (row: readonly string[]) =>
    row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const used = widths.reduce((a, b) => a + b, 0) + 2 * HEADERS.length;
  const room = Math.max(10, width - used);
  const clip = (s: string) => (s.length > room ? s.slice(0, room - 1) + "…" : s);
  const lines = [fmt(HEADERS) + "  last error"];
  rows.forEach(({ snapshot }, i) => lines.push(fmt(cells[i]!) + "  " + clip(snapshot.lastError)));
  return lines.join("\n");
}

/** Options of {@link startStatusReporter}. */
export interface StatusReporterOptions {
  readonly snapshots: () => readonly CameraSnapshot[];
  /** `table`: redraw on a terminal; `json`: periodic log lines. */
  readonly mode: "table" | "json";
  readonly logger: Logger;
  /** Redraw (table) or logging (json) period, ms. */
  readonly intervalMs: number;
  /** Writes to the terminal (table mode). */
  readonly write?: (text: string) => void;
  /** Terminal width (table mode). */
  readonly columns?: () => number;
  /** Recent log messages shown under the table (table mode). */
  readonly recent?: () => readonly string[];
}

/** A running reporter. */
export interface StatusReporter {
  /** Draws once more (table mode) and stops. */
  stop(): void;
}

/** Starts reporting. */
export function startStatusReporter(options: StatusReporterOptions): StatusReporter {
  const rates = createRateTracker();
  const write = options.write ?? ((text: string) => {
    Deno.stdout.writeSync(new TextEncoder().encode(text));
  });
  let drawnLines = 0;
  const tick = () => {
    const rows = rates(options.snapshots(), performance.now());
    if (options.mode === "json") {
      for (const { snapshot: s, fpsIn, fpsOut } of rows) {
        options.logger.info("camera status", {
          camera_id: s.cameraId,
          state: s.state,
          server_down: s.serverDown,
          fps_in: round(fpsIn),
          fps_out: round(fpsOut),
          frames_in: s.framesIn,
          frames_out: s.framesOut,
          detected: s.framesDetected,
          skipped: s.framesSkipped,
          dropped: s.dropped,
          upload_errors: s.uploadErrors,
          reconnects: s.reconnects,
          latency_p50_ms: s.latencyP50Ms === null ? null : round(s.latencyP50Ms),
          last_error: s.lastError || undefined,
        });
      }
      return;
    }
    const width = options.columns?.() ?? 120;
    // Lines are clipped to the width: a wrapped line would break the cursor-up redraw.
    const recent = (options.recent?.() ?? []).map((l) => l.slice(0, width));
    const text = renderStatusTable(rows, width) +
      (recent.length ? "\n\n" + recent.join("\n") : "") + "\n";
    // Cursor up over the previous drawing, clear to the end of the screen, draw again.
    write((drawnLines ? `\x1b[${drawnLines}F\x1b[J` : "") + text);
    drawnLines = text.split("\n").length - 1;
  };
  // The first table-mode tick only seeds the rates; the first log line waits a full interval.
  rates(options.snapshots(), performance.now());
  const timer = setInterval(tick, options.intervalMs);
  return {
    stop() {
      clearInterval(timer);
      if (options.mode === "table") tick();
    },
  };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
