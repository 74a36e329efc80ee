/**
 * Capture timestamps for `X-Frame-Timestamp`: RFC 3339 with an explicit UTC offset (the local
 * one, so logs on both sides read in local time), millisecond precision.
 *
 * @module
 */

/** `epochMs` as RFC 3339 with the offset `offsetMinutes` east of UTC (default: local). */
export function formatCaptureTime(
  epochMs: number,
  offsetMinutes = -new Date(epochMs).getTimezoneOffset(),
): string {
  const shifted = new Date(epochMs + offsetMinutes * 60_000).toISOString().slice(0, -1);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${shifted}${sign}${hh}:${mm}`;
}
