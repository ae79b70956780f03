// Child processes in their own process group (setsid via `detached`), so that
// stopping one also stops what it started (npx → wrangler → workerd). Every
// group still running is killed when the bench exits, fails or is interrupted.
import { spawn } from "node:child_process";

/** How long a group gets to exit on SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

const groups = new Set();

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

export function spawnGroup(command, args, options) {
  const child = spawn(command, args, { ...options, detached: true });
  groups.add(child.pid);
  return child;
}

/** SIGTERM to the whole group, SIGKILL after the grace period, and SIGKILL again for stragglers. */
export async function stopGroup(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    signalGroup(child.pid, "SIGTERM");
    const timer = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS));
    await Promise.race([exited, timer]);
  }
  signalGroup(child.pid, "SIGKILL");
  groups.delete(child.pid);
}

function killAll() {
  for (const pid of groups) signalGroup(pid, "SIGKILL");
  groups.clear();
}

process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  });
}
