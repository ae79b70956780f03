import { describe, expect, it } from "vitest";
import { EXPIRY_MARGIN_MS, GateSession, type SessionClock, type StartedSession } from "../../client/gate-session";

/** A clock that moves only when told, and runs the timers that fall due. */
class ManualClock implements SessionClock {
  time = 1_700_000_000_000;
  private readonly timers = new Map<number, { at: number; run: () => void }>();
  private next = 0;

  now = () => this.time;
  setTimeout = (run: () => void, ms: number) => {
    this.timers.set(++this.next, { at: this.time + ms, run });
    return this.next;
  };
  clearTimeout = (handle: unknown) => {
    this.timers.delete(handle as number);
  };

  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter(([, timer]) => timer.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].run();
    }
    this.time = until;
  }

  pending(): number {
    return this.timers.size;
  }
}

/** A start that answers sessions of `lifetimeSeconds`, on a worker clock far from the browser's. */
function starts(lifetimeSeconds: number) {
  const started: StartedSession[] = [];
  const start = async () => {
    const n = started.length + 1;
    // The worker's clock is a day behind: only the difference of its times may count.
    const createdAt = 1_600_000_000 + n;
    const session = {
      session_id: `s${n}`,
      client_secret: `secret_${n}`,
      created_at: createdAt,
      expires_at: createdAt + lifetimeSeconds,
    };
    started.push(session);
    return session;
  };
  return { started, start };
}

/** Like {@link starts}, but each start waits until `release()`. */
function heldStarts(lifetimeSeconds: number) {
  const { started, start } = starts(lifetimeSeconds);
  const waiting: Array<() => void> = [];
  return {
    started,
    start: async () => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      return start();
    },
    release: () => waiting.shift()?.(),
  };
}

/** The private state, to show the secret is gone from memory and not merely unused. */
const heldOf = (session: GateSession) => (session as unknown as { held?: { secret: string } }).held;

describe("GateSession: how long a secret is kept", () => {
  it("reuses the secret until the session's lifetime minus the margin, measured from when the create was sent", async () => {
    const clock = new ManualClock();
    const { started, start } = starts(600);
    const session = new GateSession(start, clock);

    expect((await session.acquire()).secret).toBe("secret_1");
    clock.advance(600_000 - EXPIRY_MARGIN_MS - 1);
    expect((await session.acquire()).secret).toBe("secret_1");
    clock.advance(1);

    expect(heldOf(session)).toBeUndefined();
    expect((await session.acquire()).secret).toBe("secret_2");
    expect(started).toHaveLength(2);
  });

  it("drops the secret from memory when its time comes, with no request needed", async () => {
    const clock = new ManualClock();
    const session = new GateSession(starts(600).start, clock);
    await session.acquire();
    expect(heldOf(session)?.secret).toBe("secret_1");

    clock.advance(600_000 - EXPIRY_MARGIN_MS);

    expect(heldOf(session)).toBeUndefined();
    expect(JSON.stringify(session)).not.toContain("secret_1");
    expect(clock.pending()).toBe(0);
  });

  it("does not use a secret past its time even when the timer was held back (a sleeping tab)", async () => {
    const clock = new ManualClock();
    const session = new GateSession(starts(600).start, clock);
    await session.acquire();

    clock.time += 600_000;

    expect((await session.acquire()).secret).toBe("secret_2");
  });

  it("keeps half of a short session's lifetime usable", async () => {
    const clock = new ManualClock();
    const session = new GateSession(starts(10).start, clock);
    await session.acquire();

    clock.advance(4_999);
    expect((await session.acquire()).secret).toBe("secret_1");
    clock.advance(1);
    expect((await session.acquire()).secret).toBe("secret_2");
  });

  it("waits out a lifetime longer than one timer can in steps", async () => {
    const clock = new ManualClock();
    const thirtyDays = 30 * 24 * 3600;
    const session = new GateSession(starts(thirtyDays).start, clock);
    await session.acquire();

    clock.advance(2 ** 31);
    expect(heldOf(session)?.secret).toBe("secret_1");
    clock.advance(thirtyDays * 1000 - EXPIRY_MARGIN_MS - 2 ** 31);
    expect(heldOf(session)).toBeUndefined();
  });

  it("keeps nothing of a session answered already expired, but lets the waiting request try it", async () => {
    const clock = new ManualClock();
    const session = new GateSession(starts(0).start, clock);

    expect((await session.acquire()).secret).toBe("secret_1");
    expect(heldOf(session)).toBeUndefined();
    expect(clock.pending()).toBe(0);
  });
});

describe("GateSession: starts, refusals and revokes", () => {
  it("shares one start between concurrent callers", async () => {
    const { started, start } = starts(600);
    const session = new GateSession(start, new ManualClock());

    const leases = await Promise.all([session.acquire(), session.acquire(), session.acquire()]);

    expect(leases.map((lease) => lease.secret)).toEqual(["secret_1", "secret_1", "secret_1"]);
    expect(started).toHaveLength(1);
  });

  it("does not keep a failed start: the next caller starts again", async () => {
    let fail = true;
    const { start } = starts(600);
    const session = new GateSession(async () => {
      if (fail) throw new Error("no token");
      return start();
    }, new ManualClock());

    await expect(session.acquire()).rejects.toThrow("no token");
    fail = false;

    expect((await session.acquire()).secret).toBe("secret_1");
  });

  it("a refusal drops the refused secret once, and concurrent refusals share the replacement", async () => {
    const { started, start } = starts(600);
    const session = new GateSession(start, new ManualClock());
    const lease = await session.acquire();

    expect(session.refused(lease)).toBe(true);
    const first = session.acquire();
    expect(session.refused(lease)).toBe(true);
    const second = session.acquire();

    expect([(await first).secret, (await second).secret]).toEqual(["secret_2", "secret_2"]);
    expect(started).toHaveLength(2);
  });

  it("after a revoke, a refused lease from before it may not start a replacement", async () => {
    const session = new GateSession(starts(600).start, new ManualClock());
    const lease = await session.acquire();

    await session.revoke();

    expect(heldOf(session)).toBeUndefined();
    expect(session.refused(lease)).toBe(false);
  });

  it("a revoke during a start waits for it, hands its secret to the waiting caller once, and keeps none", async () => {
    const { started, start, release } = heldStarts(600);
    const session = new GateSession(start, new ManualClock());

    const waiting = session.acquire();
    let revoked = false;
    const revoking = session.revoke().then(() => {
      revoked = true;
    });
    await Promise.resolve();
    expect(revoked).toBe(false);
    release();
    await revoking;

    expect((await waiting).secret).toBe("secret_1");
    expect(heldOf(session)).toBeUndefined();
    const after = session.acquire();
    release();
    expect((await after).secret).toBe("secret_2");
    expect(started).toHaveLength(2);
  });

  it("a caller during a revoke shares the start being revoked instead of beginning another", async () => {
    const { started, start, release } = heldStarts(600);
    const session = new GateSession(start, new ManualClock());

    const before = session.acquire();
    const revoking = session.revoke();
    const during = session.acquire();
    release();
    await revoking;

    expect([(await before).secret, (await during).secret]).toEqual(["secret_1", "secret_1"]);
    expect(started).toHaveLength(1);
    expect(heldOf(session)).toBeUndefined();
  });

  it("forgets the secret of a session cancelled by id, and only that one", async () => {
    const session = new GateSession(starts(600).start, new ManualClock());
    await session.acquire();

    session.forget("s2");
    expect(heldOf(session)?.secret).toBe("secret_1");
    session.forget("s1");
    expect(heldOf(session)).toBeUndefined();
  });
});
