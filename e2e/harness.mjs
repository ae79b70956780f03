// A minimal sequential runner for the flows. Flows share long-lived peers
// (a provider restart, an upstream outage), so they run one at a time, in
// order, and report what each proved. Outcomes: passed, failed, pending (a
// known gap in the worker, reported but not failing) and skipped (a peer
// this machine lacks, such as the shared OpenAI spec).

class Outcome extends Error {}
class Pending extends Outcome {}
class Skipped extends Outcome {}

const MARKS = { passed: "✔", failed: "✖", pending: "…", skipped: "-" };

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** Runs `flows` against `ctx` and returns counts by outcome. */
export async function runFlows(flows, ctx, { write = (line) => console.log(line) } = {}) {
  const counts = { passed: 0, failed: 0, pending: 0, skipped: 0 };
  for (const flow of flows) {
    const notes = [];
    const t = {
      /** Records a fact the flow established, printed under its name. */
      note: (message) => notes.push(message),
      /** Ends the flow as a known gap: reported, not counted as a failure. */
      pending: (reason) => {
        throw new Pending(reason);
      },
      /** Ends the flow because this machine lacks one of its peers. */
      skip: (reason) => {
        throw new Skipped(reason);
      },
    };
    const started = Date.now();
    let outcome = "passed";
    let detail;
    try {
      await flow.run(ctx, t);
    } catch (error) {
      outcome = error instanceof Pending ? "pending" : error instanceof Skipped ? "skipped" : "failed";
      detail = error instanceof Outcome ? `${outcome}: ${error.message}` : (error?.stack ?? String(error));
    }
    counts[outcome]++;
    write(`${MARKS[outcome]} ${flow.name} (${seconds(Date.now() - started)})`);
    for (const note of notes) write(`    ${note}`);
    if (detail) write(detail.replace(/^/gm, "    "));
  }
  return counts;
}

export function summary(counts, elapsedMs) {
  const extra = ["pending", "skipped"].filter((k) => counts[k] > 0).map((k) => `, ${counts[k]} ${k}`);
  return `${counts.passed} passed, ${counts.failed} failed${extra.join("")} (${seconds(elapsedMs)})`;
}
