// CPU time and resident memory of a process group's workerd processes, read
// from /proc: what the runtime spent on a run, whatever else competes for the
// machine meanwhile.
import { readdirSync, readFileSync } from "node:fs";

/** Linux reports utime and stime in clock ticks; 100 per second on every mainstream kernel config. */
const TICKS_PER_SECOND = 100;

/** Calls `visit(pid, fields)` for each workerd process in group `pgid`; fields after the name, numbered from 3 as in proc(5). */
function eachWorkerd(pgid, visit) {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // the process exited while we looked
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    if (!stat.slice(open + 1, close).startsWith("workerd")) continue;
    // Fields after the command name, numbered from 3 (state) as in proc(5).
    const fields = stat.slice(close + 2).split(" ");
    if (Number(fields[5 - 3]) !== pgid) continue;
    visit(entry, fields);
  }
}

/** Seconds of CPU (user + system) used so far by the workerd processes in process group `pgid`. */
export function workerdCpuSeconds(pgid) {
  let ticks = 0;
  eachWorkerd(pgid, (_pid, fields) => {
    ticks += Number(fields[14 - 3]) + Number(fields[15 - 3]);
  });
  return ticks / TICKS_PER_SECOND;
}

/** Resident memory (VmRSS) of the workerd processes in process group `pgid`, in bytes. */
export function workerdRssBytes(pgid) {
  let bytes = 0;
  eachWorkerd(pgid, (pid) => {
    try {
      const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      bytes += Number(kib ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  });
  return bytes;
}
