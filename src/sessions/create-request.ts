import type { StateValue } from "../chatkit/types";
import type { Config, Workflow } from "../config/config";
import { isPlainObject } from "../config/reader";
import { GateError } from "../http/errors";

/** What a client may ask for when it starts a session; everything else is pinned on the server. */
export interface CreateRequest {
  workflow: Workflow;
  stateVariables?: Record<string, StateValue>;
}

const FIELDS = new Set(["workflow", "state_variables"]);
/** Names echoed back in error messages are cut to this length. */
const ECHO_LIMIT = 64;

const bad = (message: string) => new GateError("invalid_request", message);
const echo = (name: string) => JSON.stringify(name.length > ECHO_LIMIT ? `${name.slice(0, ECHO_LIMIT)}…` : name);

/**
 * Validates the optional create body `{workflow?: alias, state_variables?: {...}}`.
 * The client can pick a workflow only by an alias the operator configured,
 * and set only the state variables the operator allowed.
 */
export function parseCreateRequest(body: unknown, config: Config): CreateRequest {
  if (body === undefined) return { workflow: config.workflow };
  if (!isPlainObject(body)) throw bad("The request body must be a JSON object");
  for (const field of Object.keys(body)) {
    if (!FIELDS.has(field)) throw bad(`Unknown field ${echo(field)}; allowed fields are workflow and state_variables`);
  }

  let workflow = config.workflow;
  if (body.workflow !== undefined) {
    if (typeof body.workflow !== "string") throw bad("workflow must be the alias of a configured workflow");
    const chosen = config.workflowAliases.get(body.workflow);
    if (chosen === undefined) throw bad(`Unknown workflow alias ${echo(body.workflow)}`);
    workflow = chosen;
  }

  if (body.state_variables === undefined) return { workflow };
  if (!isPlainObject(body.state_variables)) throw bad("state_variables must be an object");
  const stateVariables: Record<string, StateValue> = {};
  for (const [name, value] of Object.entries(body.state_variables)) {
    if (!config.clientStateVariables.has(name)) throw bad(`State variable ${echo(name)} may not be set by the client`);
    if (
      typeof value !== "string" &&
      typeof value !== "boolean" &&
      !(typeof value === "number" && Number.isFinite(value))
    ) {
      throw bad(`State variable ${echo(name)} must be a string, number or boolean`);
    }
    stateVariables[name] = value;
  }
  return Object.keys(stateVariables).length > 0 ? { workflow, stateVariables } : { workflow };
}
