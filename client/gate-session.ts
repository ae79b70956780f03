/** A session just started at chatkit-gate, as its create answers (times in unix seconds, the worker's clock). */
export interface StartedSession {
  session_id: string;
  client_secret: string;
  created_at: number;
  expires_at: number;
}

/** The secret one request is sent with, and which revocation epoch it belongs to. */
export interface Lease {
  readonly secret: string;
  /** Bumped by {@link GateSession.revoke}; a lease from an older epoch must not start a replacement. */
  readonly epoch: number;
}

/** The clock and timers, injected so tests can move time. */
export interface SessionClock {
  /** Milliseconds, like `Date.now()`. */
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: SessionClock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * A secret is dropped this long before its session ends, so that a request
 * sent with it still reaches the gate while the session is live (the gate
 * checks the secret when a request arrives, and a slow network or a large
 * upload takes seconds to get there).
 */
export const EXPIRY_MARGIN_MS = 30_000;
const settle = () => {};

/** A short session (the gate allows 1 s) keeps at least this share of its lifetime usable. */
const MAX_MARGIN_SHARE = 0.5;
/** setTimeout fires at once for longer delays (2^31 - 1 ms); a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Held {
  readonly sessionId: string;
  readonly secret: string;
  /** Local clock, ms: the secret is not used from this instant on. */
  readonly dropAt: number;
  timer: unknown;
}

/**
 * The one gate session that `chatKitApi().fetch` sends ChatKit traffic
 * with. Its secret lives only in memory, only until shortly before the
 * session ends, and not past `revoke()`; concurrent callers share one start.
 *
 * The lifetime is measured on the local clock from the moment the create
 * was sent, as `expires_at - created_at` (both the worker's clock), so a
 * browser clock that is off does not stretch it.
 */
export class GateSession {
  private held: Held | undefined;
  private starting: Promise<Lease> | undefined;
  private epoch = 0;

  constructor(
    private readonly start: () => Promise<StartedSession>,
    private readonly clock: SessionClock = SYSTEM_CLOCK,
  ) {}

  /** The live secret, starting a session when there is none; rejects with whatever the start throws. */
  acquire(): Promise<Lease> {
    const held = this.held;
    if (held !== undefined && this.clock.now() < held.dropAt) {
      return Promise.resolve({ secret: held.secret, epoch: this.epoch });
    }
    this.drop();
    if (this.starting === undefined) {
      const starting = this.begin();
      this.starting = starting;
      const settled = () => {
        if (this.starting === starting) this.starting = undefined;
      };
      starting.then(settled, settled);
    }
    return this.starting;
  }

  /**
   * Called when the gate refused `lease` (401). Drops its secret if it is
   * still the held one, and says whether a replacement may be started: not
   * once `revoke()` has run since the lease was given.
   */
  refused(lease: Lease): boolean {
    if (this.held?.secret === lease.secret) this.drop();
    return lease.epoch === this.epoch;
  }

  /** Drops the secret of `sessionId` if it is the held one (that session was cancelled). */
  forget(sessionId: string): void {
    if (this.held?.sessionId === sessionId) this.drop();
  }

  /**
   * For logout: drops the secret at once, and resolves once a start still
   * in flight has settled, so that the session it creates exists before
   * the caller asks the gate to cancel everything. That start's secret is
   * not kept.
   */
  async revoke(): Promise<void> {
    this.epoch++;
    this.drop();
    // A caller meanwhile shares this start rather than begin another, which the cancel that follows might miss.
    const starting = this.starting;
    if (starting !== undefined) await starting.then(settle, settle);
  }

  private async begin(): Promise<Lease> {
    const epoch = this.epoch;
    const sentAt = this.clock.now();
    const session = await this.start();
    const lifetimeMs = (session.expires_at - session.created_at) * 1000;
    const dropAt = sentAt + lifetimeMs - Math.min(EXPIRY_MARGIN_MS, lifetimeMs * MAX_MARGIN_SHARE);
    // After a revoke the secret is not kept: the callers already waiting get it for their one request.
    if (epoch === this.epoch && this.clock.now() < dropAt) this.hold(session, dropAt);
    return { secret: session.client_secret, epoch };
  }

  private hold(session: StartedSession, dropAt: number): void {
    const held: Held = { sessionId: session.session_id, secret: session.client_secret, dropAt, timer: undefined };
    const arm = () => {
      held.timer = this.clock.setTimeout(
        () => {
          if (this.held !== held) return;
          if (this.clock.now() < held.dropAt) arm();
          else this.drop();
        },
        Math.min(Math.max(0, held.dropAt - this.clock.now()), MAX_TIMER_MS),
      );
    };
    this.held = held;
    arm();
  }

  private drop(): void {
    if (this.held === undefined) return;
    this.clock.clearTimeout(this.held.timer);
    this.held = undefined;
  }
}
