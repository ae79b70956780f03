/**
 * Sums the time a request spends waiting for ChatKit (OpenAI in hosted mode,
 * the app's server in self-hosted mode), for the `upstreamMs` and
 * `upstreamCalls` of its metric. One timer per request.
 *
 * A call counts until its promise settles: for a fetch that is the arrival
 * of the response headers, so a streamed body that the gate passes through
 * is not counted as upstream time.
 */
export class UpstreamTimer {
  /** Milliseconds spent in upstream calls, summed (overlapping calls each count in full). */
  ms = 0;
  /** Upstream calls made, whether they succeeded or not. */
  calls = 0;

  /** @param now the clock, in milliseconds (`Date.now` in the worker) */
  constructor(private readonly now: () => number = Date.now) {}

  /** Runs `call` and adds its time, also when it throws. */
  async time<T>(call: () => Promise<T>): Promise<T> {
    const started = this.now();
    this.calls++;
    try {
      return await call();
    } finally {
      this.ms += Math.max(0, this.now() - started);
    }
  }
}

/**
 * Runs `call` under `timer`, or just runs it when there is none (no
 * `METRICS` binding): the one line each upstream fetch is wrapped in.
 */
export function timed<T>(timer: UpstreamTimer | undefined, call: () => Promise<T>): Promise<T> {
  return timer === undefined ? call() : timer.time(call);
}
