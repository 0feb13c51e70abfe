/**
 * Moving `Date.now()` forward, for the timers jose and the metadata cache
 * measure with it (JWKS cooldown, cache ages) without sleeping.
 */

/** Runs `body` with a `Date.now()` that {@linkcode ClockControl.advance} moves forward. */
export async function withClock<T>(
  body: (clock: ClockControl) => Promise<T>,
): Promise<T> {
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  try {
    return await body({ advance: (ms) => void (offset += ms) });
  } finally {
    Date.now = realNow;
  }
}

/** Moves the clock. */
export interface ClockControl {
  advance(ms: number): void;
}
