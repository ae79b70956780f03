// Serves the SPA (e2e/spa/) from two origins: one the worker allows in
// ALLOWED_ORIGINS and one it does not. Both are registered redirect URIs
// at the provider, so only the worker's CORS decision differs.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { closeNow, listen, sendJson } from "../support.mjs";

const SPA_DIR = new URL("../spa/", import.meta.url);
const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/callback": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
};

/** Binds both origins first: the provider and the worker need them before the SPA knows its own config. */
export async function startSpaOrigins({ register }) {
  let config = {};
  const handler = (req, res) => {
    const { pathname } = new URL(req.url, "http://127.0.0.1");
    if (pathname === "/config.json") return sendJson(res, 200, config, { "cache-control": "no-store" });
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
