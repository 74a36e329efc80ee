/**
 * A frame's capture time, as clients give it: RFC 3339 with an explicit offset (`Z` or
 * `±hh:mm`; a naive time is ambiguous across cameras in other zones), or an integer of epoch
 * milliseconds. Either must fall within `skewSeconds` of now, so a wrong unit (seconds for
 * milliseconds), a sentinel (`-1`) or a far-future value is refused before any work is done.
 * Everything else is a 422 naming the value. Accepted times are returned normalised to UTC
 * (`YYYY-MM-DDTHH:mm:ss.sssZ`), the form every event carries.
 *
 * @module
 */
import { ValidationError } from "../errors.ts";

// Date and time fields, optional fraction, then a mandatory offset.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const EPOCH_MS = /^-?\d{1,16}$/;

/** The accepted window around now. */
export interface TimestampWindow {
  /** Now, in epoch ms. */
  readonly nowMs: number;
  /** Largest accepted distance from now, seconds. */
  readonly skewSeconds: number;
}

/** Parses a client timestamp, throwing {@link ValidationError} (422) naming the value. */
export function parseFrameTimestamp(raw: string, window: TimestampWindow): string {
  const shown = JSON.stringify(raw.length > 64 ? raw.slice(0, 64) + "…" : raw);
  let millis: number;
  if (EPOCH_MS.test(raw)) {
    millis = Number(raw);
  } else {
    const m = RFC3339.exec(raw);
    if (!m || !validFields(m)) {
      throw new ValidationError(
        `timestamp ${shown} is neither RFC 3339 with an offset (e.g. 2024-05-01T12:00:00Z) ` +
          "nor integer epoch milliseconds",
        { detail: { timestamp: raw.slice(0, 64) } },
      );
    }
    millis = Date.parse(raw.toUpperCase().replace(" ", "T"));
  }
  const skewMs = window.skewSeconds * 1000;
  if (!Number.isFinite(millis) || Math.abs(millis - window.nowMs) > skewMs) {
    throw new ValidationError(
      `timestamp ${shown} is not within ${window.skewSeconds} s of now ` +
        `(${new Date(window.nowMs).toISOString()}); epoch values are milliseconds`,
      { detail: { timestamp: raw.slice(0, 64), skew_seconds: window.skewSeconds } },
    );
  }
  return new Date(millis).toISOString();
}

function validFields(m: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) return false;
  const offset = m[8]!;
  if (offset.length === 6) {
    const oh = Number(offset.slice(1, 3)), om = Number(offset.slice(4, 6));
    if (oh > 23 || om > 59) return false;
  }
  return true;
}
