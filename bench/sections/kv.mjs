// 5. Workers KV operations per session lifecycle, counted on a wrapped
// binding in a warm isolate, and what they cost at list prices.
import { installFakePeers } from "../support/fake-peers.mjs";
import { MemoryKV } from "../support/memory-kv.mjs";
import { heading, line, table, usd, yesNo } from "../support/print.mjs";
import { createKeys, jwksOf, mintAsymmetric } from "../support/tokens.mjs";
import {
  BASE_VARS,
  caller,
  coldIsolate,
  isolateEnv,
  scopeTimeoutsToRequests,
  silenceConsole,
} from "../support/worker-instance.mjs";

/** Workers KV list prices in US dollars per million operations, as of 2026 (paid plan, beyond the included amounts). */
const PRICE_PER_MILLION = { read: 0.5, write: 5.0, list: 5.0, delete: 5.0 };
/** Issue #5's targets, per request. */
const TARGETS = {
  create: { write: 1 },
  get: { read: 1 },
  cancel: { read: 1, write: 1 },
  list: { list: 1 },
};
/** Sessions open when the user logs out, for the cancel_all line. */
const OPEN_AT_LOGOUT = 3;
const KINDS = ["read", "write", "list", "delete"];
const SESSIONS = "/v1/chatkit/sessions";

const costPerMillion = (ops) => KINDS.reduce((sum, kind) => sum + (ops[kind] ?? 0) * PRICE_PER_MILLION[kind], 0);
const describe = (ops) =>
  KINDS.filter((kind) => ops[kind] > 0)
    .map((kind) => `${ops[kind]} ${kind}${ops[kind] > 1 ? "s" : ""}`)
    .join(" + ") || "none";
const sum = (...all) =>
  Object.fromEntries(KINDS.map((kind) => [kind, all.reduce((n, ops) => n + (ops[kind] ?? 0), 0)]));

export async function kvSection({ bundle }) {
  heading(5, "Workers KV operations per session lifecycle (wrapped binding, warm isolate)");
  const keys = await createKeys();
  const token = await mintAsymmetric(keys.ES256);
  const kv = new MemoryKV();
  const peers = installFakePeers(jwksOf(keys));
  const quiet = silenceConsole();
  const timeouts = scopeTimeoutsToRequests();
  const steps = [];
  try {
    const call = caller(await coldIsolate(bundle.entry), isolateEnv(BASE_VARS, kv).env);
    await call("GET", SESSIONS, token);
    kv.clearSessions();
    const step = async (name, method, path) => {
      kv.resetCounts();
      const answer = await call(method, path, token);
      steps.push({ name, status: answer.status, ops: { ...kv.counts.session }, other: { ...kv.counts.other } });
      return answer;
    };
    const { session_id: id } = JSON.parse((await step("create", "POST", SESSIONS)).body);
    await step("get", "GET", `${SESSIONS}/${id}`);
    await step("cancel", "POST", `${SESSIONS}/${id}/cancel`);
    await step("list", "GET", SESSIONS);
    await step("cancel again (idempotent)", "POST", `${SESSIONS}/${id}/cancel`);
    for (let i = 0; i < OPEN_AT_LOGOUT; i++) await call("POST", SESSIONS, token);
    await step(`cancel_all with ${OPEN_AT_LOGOUT} open`, "POST", `${SESSIONS}/cancel_all`);
  } finally {
    timeouts.restore();
    quiet.restore();
    peers.restore();
  }
  return report(steps);
}

function report(steps) {
  const rows = [["request", "status", "KV operations", "target", "met", "cost per million"]];
  let allMet = true;
  for (const { name, status, ops, other } of steps) {
    const target = TARGETS[name];
    const met = target === undefined || KINDS.every((kind) => (ops[kind] ?? 0) === (target[kind] ?? 0));
    allMet &&= met;
    const extra = KINDS.some((kind) => other[kind] > 0) ? ` (+ ${describe(other)} outside session keys)` : "";
    rows.push([
      name,
      status,
      describe(ops) + extra,
      target ? describe(target) : "",
      target ? yesNo(met) : "",
      usd(costPerMillion(sum(ops, other))),
    ]);
  }
  table(rows);
  const byName = Object.fromEntries(steps.map((s) => [s.name, sum(s.ops, s.other)]));
  const lifecycle = sum(byName.create, byName.cancel);
  const full = sum(byName.create, byName.get, byName.cancel, byName.list);
  line(`   per million sessions, create and cancel: ${describe(lifecycle)} = ${usd(costPerMillion(lifecycle))}`);
  line(`   per million sessions, create, get, cancel and list: ${describe(full)} = ${usd(costPerMillion(full))}`);
  line(
    "   prices: Workers KV list prices as of 2026, per million: " +
      KINDS.map((kind) => `${kind}s ${usd(PRICE_PER_MILLION[kind])}`).join(", "),
  );
  line(`   goal 1 write per create, 1 read + 1 write per cancel, 1 list per list: ${yesNo(allMet)}`);
  return [
    {
      goal: "KV: 1 write per create, 1 read + 1 write per cancel, 1 list per list",
      result: ["create", "cancel", "list"].map((name) => describe(byName[name])).join(" / "),
      met: allMet,
    },
  ];
}
