import { describe, expect, it } from "vitest";
import { SettingsReader } from "../../src/config/reader";
import {
  DEFAULT_MAX_REQUEST_BYTES,
  MAX_REQUEST_BYTES_LIMIT,
  MAX_SIGNING_KEYS,
  MIN_REQUEST_BYTES_LIMIT,
  readMode,
  readSelfHosted,
  reportMixedSettings,
} from "../../src/config/self-hosted";
import { gateKeys, privateJwk, reduced } from "./support";

const KEY = JSON.stringify(gateKeys.current);

/** Parses a self-hosted environment; returns the config and every problem. */
function parse(env: Record<string, unknown>) {
  const read = new SettingsReader(env);
  const config = readSelfHosted(read);
  return { config, problems: read.problems };
}

const base = { CHATKIT_SERVER_URL: "https://chat.example.com/api/chatkit", GATE_SIGNING_KEY: KEY };

describe("Should read a self-hosted configuration", () => {
  it("with defaults for every optional setting", () => {
    expect(parse(base)).toEqual({
      config: {
        serverUrl: "https://chat.example.com/api/chatkit",
        signingKeys: [reduced(gateKeys.current)],
        assertionAudience: "https://chat.example.com",
        maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
      },
      problems: [],
    });
    expect(DEFAULT_MAX_REQUEST_BYTES).toBe(1048576);
  });

  it("with every setting given", () => {
    const { config, problems } = parse({
      ...base,
      CHATKIT_UPLOAD_URL: "https://files.example.com/upload?tenant=a",
      GATE_SIGNING_KEY: JSON.stringify({ keys: [gateKeys.current, gateKeys.previous] }),
      ASSERTION_AUDIENCE: "urn:example:chatkit",
      CHATKIT_MAX_REQUEST_BYTES: "4096",
    });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      serverUrl: "https://chat.example.com/api/chatkit",
      uploadUrl: "https://files.example.com/upload?tenant=a",
      signingKeys: [reduced(gateKeys.current), reduced(gateKeys.previous)],
      assertionAudience: "urn:example:chatkit",
      maxRequestBytes: 4096,
    });
  });

  it("keeping only the members it uses, so nothing else of a pasted JWK is ever published", async () => {
    const pasted = { ...(await privateJwk("k1")), alg: "ES256", use: "sig", key_ops: ["sign"], ext: true };
    expect(parse({ ...base, GATE_SIGNING_KEY: JSON.stringify(pasted) }).config?.signingKeys).toEqual([reduced(pasted)]);
  });

  it.each([
    ["http on localhost", "http://localhost:8000/chatkit"],
    ["http on 127.0.0.1", "http://127.0.0.1:8000/chatkit"],
    ["http on [::1]", "http://[::1]:8000/chatkit"],
  ])("plain %s for local servers", (_name, url) => {
    expect(parse({ ...base, CHATKIT_SERVER_URL: url, CHATKIT_UPLOAD_URL: url }).problems).toEqual([]);
  });

  it.each([
    [String(MIN_REQUEST_BYTES_LIMIT), MIN_REQUEST_BYTES_LIMIT],
    [String(MAX_REQUEST_BYTES_LIMIT), MAX_REQUEST_BYTES_LIMIT],
  ])("CHATKIT_MAX_REQUEST_BYTES=%s at its bounds", (value, expected) => {
    expect(parse({ ...base, CHATKIT_MAX_REQUEST_BYTES: value }).config?.maxRequestBytes).toBe(expected);
  });
});

describe("Should name every problem, never a value", () => {
  it("both required settings missing", () => {
    expect(parse({})).toEqual({
      config: undefined,
      problems: [
        "CHATKIT_SERVER_URL is required",
        "GATE_SIGNING_KEY is required: a secret (wrangler secret put; locally .dev.vars)",
      ],
    });
  });

  it.each([
    ["CHATKIT_SERVER_URL", "http://chat.example.com/chatkit", "must use https (plain http only for localhost)"],
    ["CHATKIT_SERVER_URL", "chat.example.com", "must be an absolute URL"],
    ["CHATKIT_SERVER_URL", "https://user:pw@chat.example.com/", "must not contain credentials or a fragment"],
    ["CHATKIT_UPLOAD_URL", "http://files.example.com/upload", "must use https (plain http only for localhost)"],
    ["ASSERTION_AUDIENCE", "two words", "must be printable characters without spaces"],
    ["CHATKIT_MAX_REQUEST_BYTES", "1023", "must be a whole number from 1024 to 8388608"],
    ["CHATKIT_MAX_REQUEST_BYTES", "8388609", "must be a whole number from 1024 to 8388608"],
    ["CHATKIT_MAX_REQUEST_BYTES", "1e6", "must be a whole number from 1024 to 8388608"],
  ])("%s=%s", (name, value, expectation) => {
    const { config, problems } = parse({ ...base, [name]: value });
    expect(problems).toEqual([`${name} ${expectation}`]);
    if (name !== "CHATKIT_MAX_REQUEST_BYTES" && name !== "CHATKIT_UPLOAD_URL") expect(config).toBeUndefined();
  });

  const current = gateKeys.current;
  const { kid: _kid, ...withoutKid } = current;
  const { d: _d, ...publicOnly } = current;
  it.each([
    ["not JSON", "{kty:EC", "GATE_SIGNING_KEY must be valid JSON"],
    ["a JSON string", '"abc"', "shape"],
    ["an array", JSON.stringify([current]), "shape"],
    ["an empty key set", JSON.stringify({ keys: [] }), "shape"],
    ["keys that are not a list", JSON.stringify({ keys: current }), "shape"],
    ["a symmetric key", JSON.stringify({ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQ", kid: "a" }), "kind"],
    ["an RSA key", JSON.stringify({ kty: "RSA", n: "AQAB", e: "AQAB", d: "AQAB", kid: "a" }), "kind"],
    ["a P-384 key", JSON.stringify({ ...current, crv: "P-384" }), "kind"],
    ["a public key only", JSON.stringify(publicOnly), "members"],
    ["a short d", JSON.stringify({ ...current, d: current.d.slice(1) }), "members"],
    ["padded coordinates", JSON.stringify({ ...current, x: `${current.x}=` }), "members"],
    ["no kid", JSON.stringify(withoutKid), "kid"],
    ["an empty kid", JSON.stringify({ ...current, kid: "" }), "kid"],
    ["a kid with a space", JSON.stringify({ ...current, kid: "a b" }), "kid"],
    ["alg RS256", JSON.stringify({ ...current, alg: "RS256" }), "algUse"],
    ["use enc", JSON.stringify({ ...current, use: "enc" }), "algUse"],
  ])("GATE_SIGNING_KEY as %s", (_name, value, expected) => {
    const expectations: Record<string, string> = {
      shape: `GATE_SIGNING_KEY must be a private EC P-256 JWK with a kid, or {"keys":[...]} of 1 to ${MAX_SIGNING_KEYS} of them`,
      kind: "GATE_SIGNING_KEY key #1 must have kty EC and crv P-256",
      members: "GATE_SIGNING_KEY key #1 must have d (the private part), x and y as 43-character base64url values",
      algUse: "GATE_SIGNING_KEY key #1 may only have alg ES256 and use sig",
      kid: "GATE_SIGNING_KEY key #1 must have a kid of 1 to 128 printable characters, no spaces",
    };
    const { config, problems } = parse({ ...base, GATE_SIGNING_KEY: value });
    expect(config).toBeUndefined();
    expect(problems).toEqual([expectations[expected] ?? expected]);
    for (const secret of [current.d, current.x, current.y, "c2VjcmV0LXNlY3JldC1zZWNyZXQ"]) {
      expect(problems.join(" ")).not.toContain(secret);
    }
  });

  it("a repeated kid, naming the second key", () => {
    const { config, problems } = parse({
      ...base,
      GATE_SIGNING_KEY: JSON.stringify({ keys: [gateKeys.current, gateKeys.stranger] }),
    });
    expect(config).toBeUndefined();
    expect(problems).toEqual(["GATE_SIGNING_KEY key #2 repeats an earlier key's kid"]);
  });

  it("a bad key among good ones refuses the whole set", () => {
    const { config, problems } = parse({
      ...base,
      GATE_SIGNING_KEY: JSON.stringify({ keys: [gateKeys.current, { kty: "oct", k: "AAAA", kid: "x" }] }),
    });
    expect(config).toBeUndefined();
    expect(problems).toEqual(["GATE_SIGNING_KEY key #2 must have kty EC and crv P-256"]);
  });

  it(`more than ${MAX_SIGNING_KEYS} keys`, async () => {
    const keys = await Promise.all(Array.from({ length: MAX_SIGNING_KEYS + 1 }, (_, i) => privateJwk(`k${i}`)));
    expect(parse({ ...base, GATE_SIGNING_KEY: JSON.stringify({ keys }) }).problems).toEqual([
      `GATE_SIGNING_KEY must be a private EC P-256 JWK with a kid, or {"keys":[...]} of 1 to ${MAX_SIGNING_KEYS} of them`,
    ]);
  });
});

describe("Should read the mode", () => {
  it.each([
    [undefined, "hosted", []],
    ["hosted", "hosted", []],
    ["self-hosted", "self-hosted", []],
    ["Self-Hosted", "hosted", ["CHATKIT_MODE must be hosted or self-hosted"]],
    ["proxy", "hosted", ["CHATKIT_MODE must be hosted or self-hosted"]],
  ])("CHATKIT_MODE=%s", (value, mode, problems) => {
    const read = new SettingsReader(value === undefined ? {} : { CHATKIT_MODE: value });
    expect(readMode(read)).toBe(mode);
    expect(read.problems).toEqual(problems);
  });
});

describe("Should refuse settings of the other mode", () => {
  const mixed = (mode: "hosted" | "self-hosted", env: Record<string, unknown>, configuration?: object) => {
    const read = new SettingsReader(env);
    reportMixedSettings(read, mode, configuration);
    return read.problems;
  };

  it("self-hosted settings in hosted mode", () => {
    expect(mixed("hosted", { ...base, CHATKIT_MAX_REQUEST_BYTES: "2048", OPENAI_API_KEY: "sk-x" })).toEqual([
      "CHATKIT_SERVER_URL is only read in self-hosted mode; remove it or set CHATKIT_MODE",
      "GATE_SIGNING_KEY is only read in self-hosted mode; remove it or set CHATKIT_MODE",
      "CHATKIT_MAX_REQUEST_BYTES is only read in self-hosted mode; remove it or set CHATKIT_MODE",
    ]);
  });

  it("hosted settings in self-hosted mode", () => {
    expect(
      mixed("self-hosted", { ...base, OPENAI_API_KEY: "sk-x", OPENAI_BASE_URL: "https://proxy.example.com/v1" }),
    ).toEqual([
      "OPENAI_API_KEY is only read in hosted mode; remove it or set CHATKIT_MODE",
      "OPENAI_BASE_URL is only read in hosted mode; remove it or set CHATKIT_MODE",
    ]);
  });

  it("but not OPENAI_BASE_URL at the default wrangler.toml ships, which asks for nothing", () => {
    expect(mixed("self-hosted", { ...base, OPENAI_BASE_URL: "https://api.openai.com/v1" })).toEqual([]);
  });

  it("hosted-only ChatKit configuration in self-hosted mode", () => {
    expect(
      mixed("self-hosted", base, {
        history: { enabled: true },
        file_upload: { enabled: true, max_file_size: 10, max_files: 3 },
      }),
    ).toEqual(["CHATKIT_CONFIGURATION sets history, file_upload.max_files, which only hosted mode applies"]);
  });

  it("nothing for settings both modes read, or the upload fields the gate enforces", () => {
    const env = { ...base, CHATKIT_WORKFLOW_ID: "wf_1", ALLOWED_ORIGINS: "https://app.example.com" };
    expect(mixed("self-hosted", env, { file_upload: { enabled: true, max_file_size: 10 } })).toEqual([]);
    expect(mixed("hosted", { CHATKIT_WORKFLOW_ID: "wf_1" }, { history: { enabled: true } })).toEqual([]);
  });
});
