/**
 * A deadline that moves on every chunk of a connection or a request body, kept with at most
 * one timer: moving it later touches no timer (the armed one, firing early, re-arms for what
 * is left), moving it earlier re-arms, and clearing it leaves the timer to fire into nothing.
 * Per chunk that is a number written, not a `clearTimeout` + `setTimeout` pair.
 *
 * Invariants: `onExpire` runs once per deadline reached, never after `clear` or `dispose`
 * until the next `set`; `dispose` removes the timer (call it when the owner ends, so no timer
 * outlives it).
 *
 * @module
 */

/** A movable deadline; see {@link createDeadline}. */
export interface Deadline {
  /** Expire at `atMs` (on the `now` clock) unless set again or cleared first. */
  set(atMs: number): void;
  /** No deadline until the next `set`. */
  clear(): void;
  /** Clears and removes the timer. */
  dispose(): void;
}

/** Creates a deadline calling `onExpire` when it passes. `now` defaults to `performance.now`. */
export function createDeadline(
  onExpire: () => void,
  now: () => number = () => performance.now(),
): Deadline {
  let deadline = Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;
  const arm = (at: number) => {
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(fire, Math.max(0, at - now()));
  };
  const fire = () => {
    timer = undefined;
    timerAt = Infinity;
    if (deadline === Infinity) return;
    if (deadline > now()) return arm(deadline); // moved later meanwhile
    deadline = Infinity;
    onExpire();
  };
  return {
    set(atMs) {
      deadline = atMs;
      if (atMs < timerAt) arm(atMs);
    },
    clear() {
      deadline = Infinity;
    },
    dispose() {
      deadline = Infinity;
      clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
    },
  };
}
