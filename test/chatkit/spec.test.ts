import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { callWith } from "../support/app";
import { call, clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { validate } from "../support/schema";

declare module "vitest" {
  interface ProvidedContext {
    /** ../shared/upstream/chatkit-openapi.{yaml,json} as JSON text, or "" when it is not beside the repo. */
    chatkitSpec: string;
  }
}

// vitest.config.ts reads it (YAML or JSON) and warns when it is missing.
const specText = inject("chatkitSpec");
type Node = Record<string, unknown>;
interface Spec extends Node {
  paths: Record<string, { post: { requestBody?: unknown } }>;
  components: { schemas: Record<string, Node>; parameters: Record<string, Node> };
}
const spec = (specText === "" ? {} : JSON.parse(specText)) as Spec;
const schemas = () => spec.components.schemas;

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

const title =
  specText === ""
    ? "Should speak OpenAI's published ChatKit contract (SKIPPED: ../shared/upstream/chatkit-openapi.{yaml,json} is not beside the repo)"
    : "Should speak OpenAI's published ChatKit contract";

describe.skipIf(specText === "")(title, () => {
  it("declares the two operations and the beta header we use", () => {
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(["/chatkit/sessions", "/chatkit/sessions/{session_id}/cancel"]),
    );
    expect(spec.components.parameters.OpenAIBetaChatKit).toMatchObject({ name: "OpenAI-Beta", in: "header" });
  });

  it.each([
    ["the default workflow", {}, {}],
    ["an alias with state variables", { workflow: "support", state_variables: { locale: "de", theme: true } }, {}],
    ["no optional settings", {}, { CHATKIT_CONFIGURATION: "", CHATKIT_WORKFLOW_VERSION: "" }],
    [
      "every ChatKit configuration field",
      {},
      {
        CHATKIT_CONFIGURATION: JSON.stringify({
          automatic_thread_titling: { enabled: false },
          file_upload: { enabled: true, max_file_size: 512, max_files: 3 },
          history: { enabled: true, recent_threads: 1 },
        }),
      },
    ],
  ])("sends a create body valid against CreateChatSessionBody: %s", async (_name, body, env) => {
    const response = await callWith({ env }, "POST", "/v1/chatkit/sessions", { token: await mintToken(), body });

    expect(response.status).toBe(201);
    const sent = peers.upstreamCalls()[0]?.body;
    expect(validate(sent, schemas().CreateChatSessionBody as Node, spec)).toEqual([]);
  });

  it("has a validator that catches what the API would refuse", () => {
    const body = {
      user: "",
      workflow: { state_variables: { a: { nested: 1 } } },
      expires_after: { anchor: "x", seconds: 601 },
      scope: {},
    };

    expect(validate(body, schemas().CreateChatSessionBody as Node, spec)).toEqual([
      "$.user: too short",
      "$.workflow.id: required",
      "$.workflow.state_variables.a: matches 0 of oneOf",
      "$.expires_after.anchor: not in enum",
      "$.expires_after.seconds: above maximum",
      "$.scope: not in the schema",
    ]);
  });

  it("tests against a fake whose answers are valid ChatSessionResource objects", async () => {
    const created = await call("POST", "/v1/chatkit/sessions", { token: await mintToken() });
    const { session_id } = (await created.json()) as { session_id: string };
    const fakeCreate = await peers.fakeChatKit(
      new Request("https://api.openai.test/v1/chatkit/sessions", {
        method: "POST",
        body: JSON.stringify(peers.upstreamCalls()[0]?.body),
      }),
    );
    const fakeCancel = await peers.fakeChatKit(
      new Request(`https://api.openai.test/v1/chatkit/sessions/${session_id}/cancel`, { method: "POST" }),
    );

    for (const answer of [await fakeCreate.json(), await fakeCancel.json()]) {
      expect(validate(answer, schemas().ChatSessionResource as Node, spec)).toEqual([]);
    }
  });

  it("sends a cancel with no body to the documented path", async () => {
    const token = await mintToken();
    const created = await call("POST", "/v1/chatkit/sessions", { token });
    const { session_id } = (await created.json()) as { session_id: string };

    await call("POST", `/v1/chatkit/sessions/${session_id}/cancel`, { token });

    const cancel = peers.upstreamCalls()[1];
    const template = new RegExp(`/v1${"/chatkit/sessions/{session_id}/cancel".replace("{session_id}", "[^/]+")}$`);
    expect(cancel?.url).toMatch(template);
    expect(spec.paths["/chatkit/sessions/{session_id}/cancel"]?.post.requestBody).toBeUndefined();
    expect(cancel?.body).toBeUndefined();
  });
});
