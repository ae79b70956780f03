// Side-by-side timing for the figures a goal is decided on. mitata runs one
// benchmark at a time, so two benchmarks compared by a goal run seconds
// apart; on a shared 2-vCPU VM the machine's speed, the state of Node's
// WebCrypto thread pool and the heap differ between those seconds, and the
// same commit's ratios moved by up to 2× from run to run. Here every
// benchmark runs once per turn, in an order shuffled anew each turn, so the
// benchmarks a ratio compares meet the same machine call by call; ratios are
// taken within each round and the median round is the figure.

import { seeded } from "./seeded.mjs";
import { median, spread } from "./stats.mjs";

/**
 * A benchmark: `run` is timed; `prepare` makes its input outside the timing
 * (a fresh token, a new session).
 * @typedef {{ name: string, run: (input: unknown) => Promise<unknown>, prepare?: () => unknown }} Interleaved
 */

/**
 * Times every call of every benchmark on two clocks: the wall clock, and the
 * process's CPU time over all of its threads. Workers bill CPU time, and in
 * Node a verify or a signature runs on libuv's thread pool while the main
 * thread waits, so the wall clock counts that wait as well as the work.
 *
 * Returns, per benchmark, the mean of each clock per round in ns, less the
 * mean of an empty call timed among them (the two clock reads
 * themselves), so the figures price the calls alone.
 *
 * @param {Interleaved[]} benchmarks
 * @param {{ rounds: number, turns: number, warmupTurns?: number, beforeRound?: () => unknown, between?: (turn: number) => unknown }} plan
 *   `warmupTurns` (at most `turns`) run untimed before the first round, so a benchmark's first calls (a token
 *   not yet cached, code not yet optimised) are not in it. `beforeRound` (also before the warm-up) and
 *   `between` (after each turn) run outside the timing: token pools, clearing KV.
 */
export async function interleave(benchmarks, { rounds, turns, warmupTurns = 0, beforeRound, between }) {
  if (warmupTurns > turns) throw new Error("warmupTurns is at most turns: the round's pools hold one input a turn");
  const empty = { name: EMPTY_CALL, run: async () => {} };
  const all = [...benchmarks, empty];
  const figures = new Map(all.map(({ name }) => [name, { cpu: [], wall: [] }]));
  const order = all.map((_, index) => index);
  const random = seeded(ORDER_SEED);
  if (warmupTurns > 0) {
    await beforeRound?.();
    for (let turn = 0; turn < warmupTurns; turn++) {
      for (const bench of all) await bench.run(bench.prepare === undefined ? undefined : await bench.prepare());
      await between?.(turn);
    }
  }
  for (let round = 0; round < rounds; round++) {
    await beforeRound?.();
    const sums = all.map(() => ({ cpu: 0, wall: 0 }));
    for (let turn = 0; turn < turns; turn++) {
      shuffle(order, random);
      for (const index of order) {
        const bench = all[index];
        const input = bench.prepare === undefined ? undefined : await bench.prepare();
        const cpuBefore = process.cpuUsage();
        const wallBefore = process.hrtime.bigint();
        await bench.run(input);
        const wall = Number(process.hrtime.bigint() - wallBefore);
        const cpu = process.cpuUsage(cpuBefore);
        sums[index].cpu += (cpu.user + cpu.system) * 1000;
        sums[index].wall += wall;
      }
      await between?.(turn);
    }
    // The empty call's own sums are kept as they are: they are the overhead.
    const overhead = sums.at(-1);
    all.forEach(({ name }, index) => {
      const less = all[index] === empty ? { cpu: 0, wall: 0 } : overhead;
      const figure = figures.get(name);
      figure.cpu.push((sums[index].cpu - less.cpu) / turns);
      figure.wall.push((sums[index].wall - less.wall) / turns);
    });
  }
  return new Results(figures, rounds);
}

/** The name of the empty call in the results: its means are the clocks' own cost per call, already taken off the others. */
export const EMPTY_CALL = "(empty call)";

/**
 * The order is shuffled anew each turn, not rotated: in a rotation each
 * benchmark follows the same neighbour almost every turn, and whatever a
 * call leaves behind (GC work, a thread pool woken or asleep) would land on
 * that same next benchmark every time. Seeded, so every run shuffles alike.
 */
const ORDER_SEED = 20261201;

/** Fisher-Yates, in place. */
function shuffle(items, random) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/** The per-round figures of an {@link interleave} run, and ratios taken within rounds. */
export class Results {
  constructor(figures, rounds) {
    this.figures = figures;
    this.rounds = rounds;
  }

  #of(name, clock) {
    const figure = this.figures.get(name);
    if (figure === undefined) throw new Error(`no interleaved benchmark named ${name}`);
    return figure[clock];
  }

  /** The median round's mean, in ns, on `clock` ("cpu" or "wall"). */
  mean(name, clock) {
    return median(this.#of(name, clock));
  }

  /** (max - min) / median of the rounds' means. */
  spread(name, clock) {
    return spread(this.#of(name, clock));
  }

  /**
   * `numerator(round) / denominator(round)` in each round, the median of
   * those: each argument maps a round's means (by name) to a number, so a
   * ratio can compare sums and differences, all from the same round.
   */
  ratio(clock, numerator, denominator) {
    const perRound = [];
    for (let round = 0; round < this.rounds; round++) {
      const at = (name) => this.#of(name, clock)[round];
      perRound.push(numerator(at) / denominator(at));
    }
    return { value: median(perRound), spread: spread(perRound) };
  }
}
