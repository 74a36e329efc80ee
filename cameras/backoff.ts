/**
 * Capped exponential backoff for reconnects: `initial`, then doubling up to `max`, each delay
 * spread by up to ±`jitter` so cameras that dropped together do not reconnect in lockstep.
 * {@link Backoff.reset} after a success starts the next failure from `initial` again.
 *
 * @module
 */

/** Options of {@link createBackoff}. */
export interface BackoffOptions {
  /** First delay, ms. */
  readonly initialMs: number;
  /** Largest delay, ms. */
  readonly maxMs: number;
  /** Relative spread, 0..1 (default 0.2). */
  readonly jitter?: number;
  /** Uniform [0, 1) source, for tests. */
  readonly random?: () => number;
}

/** A backoff sequence. */
export interface Backoff {
  /** The next delay in ms (grows until the cap). */
  next(): number;
  /** Failures since the last reset. */
  readonly attempts: number;
  /** Starts over from the initial delay. */
  reset(): void;
}

/** Creates a capped exponential backoff. */
export function createBackoff(options: BackoffOptions): Backoff {
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  const max = Math.max(options.initialMs, options.maxMs);
  let attempts = 0;
  return {
    next() {
      const base = Math.min(max, options.initialMs * 2 ** Math.min(attempts, 30));
      attempts++;
      const spread = base * jitter * (2 * random() - 1);
      return Math.max(1, Math.round(Math.min(max, base + spread)));
    },
    get attempts() {
      return attempts;
    },
    reset() {
      attempts = 0;
    },
  };
}
