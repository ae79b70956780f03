// The flows, in the order they run. Rotation comes right after the first
// session flows, while the worker's last JWKS fetch is recent, so the kid-miss
// cooldown is still running and can be observed.
import { browserFlows } from "./browser.mjs";
import { devVarsFlows } from "./dev-vars.mjs";
import { prismFlows } from "./prism.mjs";
import { rotationFlows } from "./rotation.mjs";
import { selfHostedFlows } from "./self-hosted.mjs";
import { selfHostedBrowserFlows } from "./self-hosted-browser.mjs";
import { sessionFlows } from "./sessions.mjs";
import { sweepFlows } from "./sweep.mjs";

const [tokens, ownership, idempotent, cancelAll, expiry] = sessionFlows;

export const flows = [
  tokens,
  ownership,
  idempotent,
  cancelAll,
  ...rotationFlows,
  expiry,
  ...sweepFlows,
  ...browserFlows,
  // Their own worker (self-hosted mode) and ChatKit server: nothing above depends on them.
  ...selfHostedFlows,
  ...selfHostedBrowserFlows,
  ...prismFlows,
  // Starts its own wrangler dev and ChatKit fake, so it can run anywhere; last, to keep the others' timing.
  ...devVarsFlows,
];
