// Process plumbing for demo/test.mjs: free loopback ports, `npm run dev`'s
// script in its own process group, readiness polling, and a clean stop.
import { spawn } from "node:child_process";

/** After SIGTERM, the group gets this long to exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;
const POLL_MS = 200;
/** Enough of the dev output to explain a failed start. */
const OUTPUT_TAIL_CHARS = 6_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ports for `npm run dev` and its stand-ins: below the kernel's ephemeral range, so nothing else takes them first. */
export { freePorts } from "../scripts/free-ports.mjs";

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `node <script> ...args` in a new session and process group
 * (`detached` calls setsid), so stopping it also stops wrangler and workerd.
 */
export function startGroup(script, args, { cwd, env }) {
  const child = spawn(process.execPath, [script, ...args], {
    cwd,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // Everything, for checks on what was printed (a run's output is a few kilobytes); `output()` is its tail.
  const keep = (chunk) => {
    output += chunk;
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  /** For exit and signal handlers, where nothing can be awaited. */
  const killNow = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  /** SIGTERM to the whole group, then SIGKILL once the grace period is over. */
  const stop = async () => {
    if (!groupAlive(child.pid)) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const deadline = Date.now() + STOP_GRACE_MS;
    while (groupAlive(child.pid) && Date.now() < deadline) await sleep(POLL_MS);
    killNow();
  };
  return { child, output: () => output.slice(-OUTPUT_TAIL_CHARS), everything: () => output, stop, killNow };
}

/** Waits until every URL answers 200, or throws when `child` exits or time runs out. */
export async function waitFor200(urls, { child, timeoutMs }) {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(urls);
  while (pending.size > 0) {
    if (child.exitCode !== null) throw new Error(`npm run dev exited with code ${child.exitCode}`);
    if (Date.now() > deadline)
      throw new Error(`no answer within ${timeoutMs / 1000} s from ${[...pending].join(", ")}`);
    for (const url of pending) {
      const ok = await fetch(url, { signal: AbortSignal.timeout(POLL_MS * 5) }).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) pending.delete(url);
    }
    if (pending.size > 0) await sleep(POLL_MS);
  }
}

/**
 * Runs `node <script> ...args` in its own process group until it exits, or
 * kills the group after `timeoutMs`; resolves with its exit code (null when
 * killed) and everything it printed.
 */
export async function runToExit(script, args, { cwd, env, timeoutMs }) {
  const group = startGroup(script, args, { cwd, env });
  const exited = new Promise((resolve) => group.child.once("exit", (code) => resolve(code)));
  const code = await Promise.race([exited, sleep(timeoutMs).then(() => "timeout")]);
  await group.stop();
  return { code: code === "timeout" ? null : code, output: group.everything() };
}

/** Resolves once `server` listens on 127.0.0.1:`port` (0 picks one), with the port. */
export function listenOn(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}
