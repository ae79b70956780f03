import type { JWTPayload } from "jose";
import { claimAt } from "../auth/claims";
import { authError } from "../auth/failures";
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
/** A claim copied into workflow state is an id, a plan or a tenant, never a document. */
const MAX_CLAIM_STATE_LENGTH = 1024;

const bad = (message: string) => new GateError("invalid_request", message);
const echo = (name: string) => JSON.stringify(name.length > ECHO_LIMIT ? `${name.slice(0, ECHO_LIMIT)}…` : name);

/**
 * Validates the optional create body `{workflow?: alias, state_variables?: {...}}`.
 * The client can pick a workflow only by an alias the operator configured,
 * and set only the state variables the operator allowed.
 */
export function parseCreateRequest(body: unknown, config: Config, claims: JWTPayload): CreateRequest {
  const request = parseBody(body, config);
  if (config.stateFromClaims.size === 0) return request;
  // Claims go last, so nothing the client sent can shadow them (the names are disjoint by configuration too).
  return { ...request, stateVariables: { ...request.stateVariables, ...stateFromClaims(claims, config) } };
}

/**
 * Workflow state taken from the verified token. A configured claim that is
 * missing or not a primitive fails closed: the session would otherwise run
 * without, say, its tenant.
 */
function stateFromClaims(claims: JWTPayload, config: Config): Record<string, StateValue> {
  const state: Record<string, StateValue> = {};
  for (const [name, path] of config.stateFromClaims) {
    const value = claimAt(claims, path);
    const usable =
      (typeof value === "string" && value.length <= MAX_CLAIM_STATE_LENGTH) ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value));
    if (!usable) throw authError("claims");
    state[name] = value as StateValue;
  }
  return state;
}

function parseBody(body: unknown, config: Config): CreateRequest {
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
