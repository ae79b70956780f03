// The demo page for `npm run dev` demo mode: demo/ served as static files on
// 127.0.0.1, with /client.js bundled from client/index.ts by esbuild, so the
// page runs the very client module the package exports. Dev-only.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLIENT_ENTRY = `${ROOT}client/index.ts`;

/** The only files served: a fixed map, so no request path ever reaches the file system. */
const FILES = {
  "/": ["demo/index.html", "text/html; charset=utf-8"],
  "/index.html": ["demo/index.html", "text/html; charset=utf-8"],
  "/app.js": ["demo/app.js", "text/javascript; charset=utf-8"],
  "/messages.js": ["demo/messages.js", "text/javascript; charset=utf-8"],
  "/chat.js": ["demo/chat.js", "text/javascript; charset=utf-8"],
  "/sse.js": ["demo/sse.js", "text/javascript; charset=utf-8"],
  "/style.css": ["demo/style.css", "text/css; charset=utf-8"],
};

/**
 * The page talks only to itself and to the loopback worker and issuer,
 * whose ports a query parameter may change.
 */
const HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self' http://127.0.0.1:* http://localhost:*; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // Edits to demo/ or client/ show on the next reload.
  "cache-control": "no-store",
};

/** client/index.ts as one browser module, rebuilt on each request so edits show on reload. */
async function bundleClient() {
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}

/** Serves the demo page on `http://127.0.0.1:<port>`. */
export async function startDemoPage({ port = 0 } = {}) {
  // Fail at start, not at the first page load, when the client does not build.
  await bundleClient();
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url ?? "/", "http://127.0.0.1");
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { ...HEADERS, allow: "GET, HEAD" }).end();
      } else if (pathname === "/client.js") {
        const code = await bundleClient();
        res.writeHead(200, { ...HEADERS, "content-type": "text/javascript; charset=utf-8" });
        res.end(req.method === "HEAD" ? undefined : code);
      } else if (Object.hasOwn(FILES, pathname)) {
        const [file, type] = FILES[pathname];
        const body = await readFile(`${ROOT}${file}`);
        res.writeHead(200, { ...HEADERS, "content-type": type });
        res.end(req.method === "HEAD" ? undefined : body);
      } else {
        res.writeHead(404, { ...HEADERS, "content-type": "text/plain; charset=utf-8" }).end("not found");
      }
    } catch (error) {
      if (res.headersSent) return res.destroy();
      res.writeHead(500, { ...HEADERS, "content-type": "text/plain; charset=utf-8" }).end(String(error));
    }
  });
  const bound = await listen(server, port);
  return { url: `http://127.0.0.1:${bound}`, port: bound, close: () => new Promise((r) => server.close(r)) };
}
