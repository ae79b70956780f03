/**
 * The parts of OpenAI's ChatKit API that chatkit-gate speaks, written from
 * the published OpenAPI schemas (`CreateChatSessionBody`,
 * `ChatSessionResource`). test/chatkit/spec.test.ts checks what we send
 * against those schemas whenever the spec is available.
 */

/** A primitive workflow state value; the API accepts nothing nested. */
export type StateValue = string | number | boolean;

export interface WorkflowParam {
  id: string;
  version?: string;
  state_variables?: Record<string, StateValue>;
}

export interface ChatkitConfigurationParam {
  automatic_thread_titling?: { enabled?: boolean };
  file_upload?: { enabled?: boolean; max_file_size?: number; max_files?: number };
  history?: { enabled?: boolean; recent_threads?: number };
}

export interface CreateChatSessionBody {
  user: string;
  workflow: WorkflowParam;
  expires_after: { anchor: "created_at"; seconds: number };
  rate_limits: { max_requests_per_1_minute: number };
  chatkit_configuration?: ChatkitConfigurationParam;
}

export type ChatSessionStatus = "active" | "expired" | "cancelled";

/** The fields of `ChatSessionResource` we rely on; the rest are passed over. */
export interface ChatSessionResource {
  id: string;
  object: "chatkit.session";
  client_secret: string;
  expires_at: number;
  status: ChatSessionStatus;
  user: string;
}
