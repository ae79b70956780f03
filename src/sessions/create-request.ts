import type { JWTPayload } from "jose";
import { claimAt } from "../auth/claims";
import { authError } from "../auth/failures";
import type { StateValue } from "../chatkit/types";
import type { Config, Workflow } from "../config/config";
import { GateError } from "../http/errors";
import { firstProblem, type Schema } from "../http/schema";
import { createRequestSchema } from "./schemas";

/** What a client may ask for when it starts a session; everything else is pinned on the server. */
export interface CreateRequest {
  /** The chosen or default workflow; undefined only in self-hosted mode with no workflow configured. */
  workflow?: Workflow;
  /** The `CHATKIT_WORKFLOWS` alias that chose `workflow`; absent for the default workflow. */
  alias?: string;
  stateVariables?: Record<string, StateValue>;
}

/** A claim copied into workflow state is an id, a plan or a tenant, never a document. */
const MAX_CLAIM_STATE_LENGTH = 1024;

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
  const state: Array<[string, StateValue]> = [];
  for (const [name, path] of config.stateFromClaims) {
    const value = claimAt(claims, path);
    const usable =
      (typeof value === "string" && value.length <= MAX_CLAIM_STATE_LENGTH) ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value));
    if (!usable) throw authError("claims");
    state.push([name, value as StateValue]);
  }
  // fromEntries defines own properties: no name can reach a setter inherited from Object.prototype.
  return Object.fromEntries(state);
}

/** Schemas by configuration, built once per isolate like the configuration itself. */
const schemas = new WeakMap<Config, Schema>();

/** The create body schema for this configuration; also published in /openapi.json. */
export function createRequestSchemaFor(config: Config): Schema {
  let schema = schemas.get(config);
  if (schema === undefined) {
    schema = createRequestSchema(config);
    schemas.set(config, schema);
  }
  return schema;
}

function parseBody(body: unknown, config: Config): CreateRequest {
  const request: CreateRequest = {};
  if (body === undefined) {
    if (config.workflow !== undefined) request.workflow = config.workflow;
    return request;
  }
  const problem = firstProblem(body, createRequestSchemaFor(config));
  if (problem) throw new GateError("invalid_request", problem);
  const { workflow, state_variables } = body as { workflow?: string; state_variables?: Record<string, StateValue> };
  const chosen = workflow === undefined ? config.workflow : config.workflowAliases.get(workflow);
  if (chosen !== undefined) request.workflow = chosen;
  // Set only once the alias was found among the configured ones: the body's text itself is never kept.
  if (workflow !== undefined && chosen !== undefined) request.alias = workflow;
  if (state_variables && Object.keys(state_variables).length > 0) request.stateVariables = state_variables;
  return request;
}
