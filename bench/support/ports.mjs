import { createServer } from "node:net";

/** Ports another engineer's `npm run dev` uses on this machine; never take them. */
const RESERVED_PORTS = new Set([8787, 8788, 8789]);

/** A port on 127.0.0.1 that the kernel just reported free. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (!RESERVED_PORTS.has(port)) return port;
  }
}
