// OpenAI's published ChatKit contract as the upstream: Prism mocks it from
// the shared spec (read in place, never copied) and validates every request
// against its schemas. A small recording proxy in front plays the spec's
// `servers` base path (/v1, which Prism ignores) and keeps, per exchange,
// what we sent and what Prism said about it (`sl-violations`).
import { existsSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { join, resolve } from "node:path";
import { killGroupNow, spawnGroup, stopGroup } from "../processes.mjs";
import { closeNow, fatal, freePort, listen, readBody, waitFor } from "../support.mjs";

/** Prism parses and dereferences the spec before listening; a few seconds, more on a cold CI cache. */
const STARTUP_TIMEOUT_MS = 60_000;
/** ChatKit's default session length, given to the example session when its stale `expires_at` is moved. */
const EXAMPLE_SESSION_SECONDS = 600;
/** The spec's `servers[0]` is https://api.openai.com/v1; Prism serves its paths without that prefix. */
const BASE_PATH = "/v1";

/** The shared spec beside the repository, YAML or JSON (same content); undefined when absent. */
export function findSpec(repoRoot) {
  const dir = resolve(repoRoot, "..", "shared", "upstream");
  return ["chatkit-openapi.yaml", "chatkit-openapi.json"].map((file) => join(dir, file)).find(existsSync);
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

function parseViolations(header) {
  if (!header) return [];
  try {
    return JSON.parse(header);
  } catch {
    return [{ location: ["unparsed"], message: header }];
  }
}

/**
 * Starts Prism on `spec` and the recording proxy; await `ready()` before
 * use. `exchanges` lists every proxied call with Prism's status and its
 * request and response violations.
 */
export async function startPrism({ spec, repoRoot, outputDir, register }) {
  const prismPort = await freePort();
  const lines = [];
  const child = spawnGroup("npx", ["prism", "mock", "-h", "127.0.0.1", "-p", String(prismPort), spec], {
    cwd: repoRoot,
    env: process.env,
    logFile: join(outputDir, "prism.log"),
    onLine: (line) => lines.push(line),
  });
  register({ name: "prism", stop: () => stopGroup(child), kill: () => killGroupNow(child) });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });

  const exchanges = [];
  const forward = async (req, res) => {
    const body = await readBody(req);
    const path = req.url.startsWith(`${BASE_PATH}/`) ? req.url.slice(BASE_PATH.length) : req.url;
    const upstream = await new Promise((done, fail) => {
      const out = httpRequest(
        { host: "127.0.0.1", port: prismPort, method: req.method, path, headers: { ...req.headers } },
        async (answer) => done({ status: answer.statusCode, headers: answer.headers, text: await readBody(answer) }),
      );
      out.on("error", fail);
      out.end(body);
    }).catch((error) => ({ status: 502, headers: {}, text: JSON.stringify({ error: String(error) }) }));

    const violations = parseViolations(upstream.headers["sl-violations"]);
    let text = upstream.text;
    let adjusted = [];
    // Prism serves the spec's one example session whatever was asked: user_789, cancelled, expired
    // in 2024. The worker rightly refuses such an answer to a create (a session for someone else
    // that is not active), so the fields that must echo the request are set from it. Prism has
    // already validated the request itself, which is what this peer is for.
    if (upstream.status < 300 && /json/.test(upstream.headers["content-type"] ?? "")) {
      const json = parseJson(text);
      if (json !== undefined && json !== null) {
        adjusted = echoRequest(json, path, parseJson(body));
        text = JSON.stringify(json);
      }
    }
    exchanges.push({
      method: req.method,
      path: req.url,
      prismPath: path,
      headers: req.headers,
      body: parseJson(body),
      status: upstream.status,
      requestViolations: violations.filter((v) => v.location?.[0] !== "response"),
      responseViolations: violations.filter((v) => v.location?.[0] === "response"),
      adjusted,
    });
    const headers = { ...upstream.headers, "content-length": Buffer.byteLength(text) };
    delete headers["transfer-encoding"];
    res.writeHead(upstream.status, headers);
    res.end(text);
  };
  const proxy = createServer((req, res) => {
    forward(req, res).catch((error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`e2e proxy failed: ${error.message}`);
    });
  });
  const proxyPort = await listen(proxy, 0);
  register({ name: "prism proxy", stop: () => closeNow(proxy), kill: () => proxy.closeAllConnections() });

  return {
    spec,
    /** Resolves once Prism listens; the proxy and a worker pointed at it may start meanwhile. */
    ready: () =>
      waitFor(
        `Prism on 127.0.0.1:${prismPort}`,
        () => {
          if (exited) throw fatal(`Prism exited early:\n${lines.slice(-20).join("\n")}`);
          return lines.some((line) => line.includes("Prism is listening"));
        },
        { timeoutMs: STARTUP_TIMEOUT_MS },
      ),
    /** What the worker uses as OPENAI_BASE_URL. */
    baseUrl: `http://127.0.0.1:${proxyPort}${BASE_PATH}`,
    /** Prism itself, for calls that bypass the worker. */
    directUrl: `http://127.0.0.1:${prismPort}`,
    exchanges,
    lines,
  };
}

/**
 * Sets the example session's fields that must echo the request, as the real API would: on a
 * create the caller's user, `active` and an expiry within the asked window; on a cancel the
 * path's id and `cancelled`. Returns the names of the fields it changed.
 */
function echoRequest(session, path, request) {
  const now = Math.floor(Date.now() / 1000);
  const wanted = {};
  const cancel = /^\/chatkit\/sessions\/([^/]+)\/cancel$/.exec(path);
  if (cancel) {
    wanted.id = cancel[1];
    wanted.status = "cancelled";
    if (!(session.expires_at > now)) wanted.expires_at = now + EXAMPLE_SESSION_SECONDS;
  } else if (path === "/chatkit/sessions") {
    wanted.user = request?.user;
    wanted.status = "active";
    wanted.expires_at = now + (request?.expires_after?.seconds ?? EXAMPLE_SESSION_SECONDS);
  }
  const changed = Object.keys(wanted).filter((key) => session[key] !== wanted[key]);
  for (const key of changed) session[key] = wanted[key];
  return changed;
}
