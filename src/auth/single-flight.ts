/** What {@link boundedWait} returns when the bound passed first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * Waits for `work`, but at most `ms`. On Workers a promise whose I/O belongs
 * to another request can stay pending for good once that request ends, so a
 * request must never wait on shared work without a bound of its own. The
 * timer is cleared either way, so nothing outlives the wait.
 */
export async function boundedWait<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const bound = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

/** One piece of shared work in flight, and when it started. */
export interface Flight {
  readonly work: Promise<void>;
  readonly startedAt: number;
  /** How long anyone, its starter included, waits for it before giving up. */
  readonly boundMs: number;
}

/**
 * At most one piece of work in flight per key, for requests of one isolate:
 * the first caller starts it, later callers join it. Everyone waits through
 * {@link boundedWait}; a flight that outlives its bound is dropped, so the next
 * caller is never stuck behind it.
 */
export class SingleFlight {
  private flight: Flight | undefined;

  /** The flight in progress, if any. */
  get current(): Flight | undefined {
    return this.flight;
  }

  /** Starts `work` unless a flight is in progress; returns the flight to wait for. */
  start(startedAt: number, boundMs: number, work: () => Promise<void>): Flight {
    if (this.flight !== undefined) return this.flight;
    const promise = work();
    const flight: Flight = {
      startedAt,
      boundMs,
      work: promise.finally(() => {
        if (this.flight === flight) this.flight = undefined;
      }),
    };
    this.flight = flight;
    return flight;
  }

  /** Waits for `flight`; "stalled" when it did not settle within its bound, after which it is dropped. */
  async wait(flight: Flight): Promise<"settled" | "stalled"> {
    const outcome = await boundedWait(
      flight.work.catch(() => {}),
      flight.boundMs,
    );
    if (outcome !== TIMED_OUT) return "settled";
    if (this.flight === flight) this.flight = undefined;
    return "stalled";
  }
}
