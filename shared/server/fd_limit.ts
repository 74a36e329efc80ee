/**
 * Sizing the connection cap to the process's open-file limit. Every client connection holds
 * three descriptors (the client socket, the listener's upstream socket and the HTTP server's
 * accepted end); a process out of descriptors cannot accept and `Deno.serve` stops for good,
 * so the cap must fit under the limit with room left for files, Redis, Kafka and the models.
 *
 * @module
 */

/** Descriptors each client connection holds. */
export const FDS_PER_CONNECTION = 3;

/** Descriptors kept for everything but client connections. */
export const RESERVED_FDS = 128;

/**
 * The soft "Max open files" limit from `/proc/self/limits` (Linux); null where it cannot be
 * read or is unlimited.
 */
export function openFileLimit(
  read: () => string = () => Deno.readTextFileSync("/proc/self/limits"),
): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  const n = soft === undefined ? NaN : Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** The most client connections that fit in `limit` descriptors (Infinity without a limit). */
export function connectionsWithin(limit: number | null): number {
  if (limit === null) return Infinity;
  return Math.max(1, Math.floor((limit - RESERVED_FDS) / FDS_PER_CONNECTION));
}
