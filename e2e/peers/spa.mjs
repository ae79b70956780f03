// Serves the SPA (e2e/spa/) from two origins: one the worker allows in
// ALLOWED_ORIGINS and one it does not. Both are registered redirect URIs
// at the provider, so only the worker's CORS decision differs.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { closeNow, listen, sendJson } from "../support.mjs";

const SPA_DIR = new URL("../spa/", import.meta.url);
/** chatkit-gate/client as the package ships it (`npm run build:client`, run by `npm ci`'s prepare). */
const CLIENT_DIST = new URL("../../client/dist/", import.meta.url);
const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/callback": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/chatkit-flow.js": ["chatkit-flow.js", "text/javascript; charset=utf-8"],
  "/sse.js": ["../../demo/sse.js", "text/javascript; charset=utf-8"],
};

/** The built client's modules, served as /client/<name>.js: a fixed list, read once, so no path reaches the disk. */
function clientFiles() {
  if (!existsSync(new URL("index.js", CLIENT_DIST))) {
    throw new Error("client/dist/index.js is missing: run `npm run build:client`");
  }
  return Object.fromEntries(
    readdirSync(CLIENT_DIST)
      .filter((name) => name.endsWith(".js"))
      .map((name) => [`/client/${name}`, readFileSync(new URL(name, CLIENT_DIST))]),
  );
}

/** Binds both origins first: the provider and the worker need them before the SPA knows its own config. */
export async function startSpaOrigins({ register }) {
  let config = {};
  const client = clientFiles();
  const handler = (req, res) => {
    const { pathname } = new URL(req.url, "http://127.0.0.1");
    if (pathname === "/config.json") return sendJson(res, 200, config, { "cache-control": "no-store" });
    if (Object.hasOwn(client, pathname)) {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
      return res.end(client[pathname]);
    }
    const file = FILES[pathname];
    if (!file) return sendJson(res, 404, { error: "not found" });
    res.writeHead(200, { "content-type": file[1], "cache-control": "no-store" });
    res.end(readFileSync(new URL(file[0], SPA_DIR)));
  };
  const servers = [createServer(handler), createServer(handler)];
  const [allowed, blocked] = await Promise.all(servers.map((server) => listen(server, 0)));
  register({
    name: "SPA origins",
    stop: () => Promise.all(servers.map(closeNow)),
    kill: () => {
      for (const server of servers) server.closeAllConnections();
    },
  });
  return {
    allowedOrigin: `http://127.0.0.1:${allowed}`,
    blockedOrigin: `http://127.0.0.1:${blocked}`,
    /** What the page reads from /config.json: the provider's endpoints and the worker. */
    configure(next) {
      config = next;
    },
  };
}
