import { isPlainObject, parseClaimPath, type SettingsReader } from "./reader";

/** The API caps a session's state map at 64 entries (WorkflowParam.state_variables). */
const MAX_STATE_VARIABLES = 64;
/*
 * The name patterns below start with `(?!(?:__proto__|constructor|prototype)$)`: names JavaScript gives
 * meaning to on every object (`obj.__proto__ = x` swaps the prototype, `constructor`/`prototype` lead to
 * functions). The gate looks names up as own properties only, but a name like these is never a real
 * variable or alias, so it is refused before anything can trip on it.
 */
/** State variable keys may be up to 64 characters (WorkflowParam.state_variables). */
const STATE_VARIABLE_NAME = /^(?!(?:__proto__|constructor|prototype)$)[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** Aliases travel in request bodies and logs: keep them short and plain. */
const WORKFLOW_ALIAS = /^(?!(?:__proto__|constructor|prototype)$)[A-Za-z0-9_-]{1,64}$/;
/** Workflow ids and versions are opaque, but never contain spaces or controls. */
const OPAQUE_ID = /^[\x21-\x7e]{1,256}$/;
const NOT_RESERVED = "not __proto__, constructor or prototype";

export interface Workflow {
  id: string;
  version?: string;
}

export interface WorkflowConfig {
  /**
   * The workflow used when the client names no alias. Always set in hosted
   * mode, where OpenAI needs one; optional in self-hosted mode, where it only
   * travels in the assertion for the app's server to use.
   */
  workflow?: Workflow;
  /** Workflows a client may choose, by alias only. */
  workflowAliases: ReadonlyMap<string, Workflow>;
  /** State variable names a client may set. */
  clientStateVariables: ReadonlySet<string>;
  /** State variables filled from verified claims: name to claim path. The client can never set these. */
  stateFromClaims: ReadonlyMap<string, readonly string[]>;
}

/** @param required whether `CHATKIT_WORKFLOW_ID` must be set (hosted mode) */
export function readWorkflows(read: SettingsReader, required: boolean): WorkflowConfig | undefined {
  const workflow = readWorkflow(read, required);
  const workflowAliases = readWorkflowAliases(read);

  const clientNames = read.list("CHATKIT_CLIENT_STATE_VARIABLES");
  if (clientNames.length > MAX_STATE_VARIABLES || !clientNames.every((n) => STATE_VARIABLE_NAME.test(n))) {
    read.problem(
      "CHATKIT_CLIENT_STATE_VARIABLES",
      `must list at most ${MAX_STATE_VARIABLES} names of letters, digits, _ . - (up to 64 characters, not starting with a digit; ${NOT_RESERVED})`,
    );
  }
  const stateFromClaims = readStateFromClaims(read);
  if (clientNames.some((name) => stateFromClaims.has(name))) {
    read.problem("CHATKIT_CLIENT_STATE_VARIABLES", "must not list a CHATKIT_STATE_FROM_CLAIMS variable");
  }
  if (clientNames.length + stateFromClaims.size > MAX_STATE_VARIABLES) {
    read.problem(
      "CHATKIT_STATE_FROM_CLAIMS",
      `and CHATKIT_CLIENT_STATE_VARIABLES together may name at most ${MAX_STATE_VARIABLES} variables`,
    );
  }
  if (workflow === undefined && required) return undefined;
  return { workflow, workflowAliases, clientStateVariables: new Set(clientNames), stateFromClaims };
}

function readWorkflow(read: SettingsReader, required: boolean): Workflow | undefined {
  const id = required ? read.required("CHATKIT_WORKFLOW_ID") : read.string("CHATKIT_WORKFLOW_ID");
  const version = read.string("CHATKIT_WORKFLOW_VERSION");
  if (id !== undefined && !OPAQUE_ID.test(id)) read.problem("CHATKIT_WORKFLOW_ID", "must be an id without spaces");
  if (version !== undefined && !OPAQUE_ID.test(version)) {
    read.problem("CHATKIT_WORKFLOW_VERSION", "must be a version without spaces");
  }
  // A version alone would be silently ignored (hosted mode already reports the missing id).
  if (!required && id === undefined && version !== undefined) {
    read.problem("CHATKIT_WORKFLOW_VERSION", "is set without CHATKIT_WORKFLOW_ID; set both or neither");
  }
  return id === undefined ? undefined : version === undefined ? { id } : { id, version };
}

function readWorkflowAliases(read: SettingsReader): Map<string, Workflow> {
  const aliases = new Map<string, Workflow>();
  const raw = read.json("CHATKIT_WORKFLOWS");
  if (raw === undefined) return aliases;
  if (!isPlainObject(raw)) {
    read.problem("CHATKIT_WORKFLOWS", "must be a JSON object of aliases");
    return aliases;
  }
  for (const [index, [alias, entry]] of Object.entries(raw).entries()) {
    if (!WORKFLOW_ALIAS.test(alias)) {
      read.problem(
        "CHATKIT_WORKFLOWS",
        `alias #${index + 1} must be 1 to 64 letters, digits, _ or - (${NOT_RESERVED})`,
      );
      continue;
    }
    // With only these own keys, `id` and `version` are own properties (Object.prototype has neither).
    const { id, version } =
      isPlainObject(entry) && Object.keys(entry).every((k) => k === "id" || k === "version") ? entry : {};
    if (
      typeof id !== "string" ||
      !OPAQUE_ID.test(id) ||
      !(version === undefined || (typeof version === "string" && OPAQUE_ID.test(version)))
    ) {
      read.problem("CHATKIT_WORKFLOWS", `alias #${index + 1} must be {"id", "version"?} without spaces`);
      continue;
    }
    aliases.set(alias, version === undefined ? { id } : { id, version });
  }
  return aliases;
}

function readStateFromClaims(read: SettingsReader): Map<string, readonly string[]> {
  const mapping = new Map<string, readonly string[]>();
  const raw = read.json("CHATKIT_STATE_FROM_CLAIMS");
  if (raw === undefined) return mapping;
  if (!isPlainObject(raw)) {
    read.problem("CHATKIT_STATE_FROM_CLAIMS", 'must be a JSON object like {"plan": "app_metadata.plan"}');
    return mapping;
  }
  for (const [index, [name, path]] of Object.entries(raw).entries()) {
    const segments = parseClaimPath(path);
    if (!STATE_VARIABLE_NAME.test(name) || segments === undefined) {
      read.problem(
        "CHATKIT_STATE_FROM_CLAIMS",
        `entry #${index + 1} must map a variable name (${NOT_RESERVED}) to a claim dot path`,
      );
      continue;
    }
    mapping.set(name, segments);
  }
  return mapping;
}
