// A process named so that it can be told from a later one with the same
// pid: its host, pid and start time (field 22 of /proc/PID/stat, in clock
// ticks since boot). Written into a file that the process owns, so that
// another process can tell whether the owner is gone (killed) and what it
// left may be removed.
import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * The fields of /proc/PID/stat after the command name (field 3, the state,
 * first), or null when there is no such process.
 */
export function procStat(pid: number): string[] | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name, in parentheses, may hold spaces and parentheses: the fields start after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The start time of process `pid` (clock ticks since boot), or null when there is no such process. */
export function processStartTime(pid: number): string | null {
  // Field 22 of the line is the 20th after the name (fields 3 on).
  return procStat(pid)?.[19] ?? null;
}

/** This process, as an owner file's one line. */
export function ownerLine(): string {
  return `${os.hostname()} ${process.pid} ${processStartTime(process.pid)}\n`;
}

/**
 * Whether the owner an owner file's `text` names is gone: a process of this
 * host whose pid is free, or taken by a later process. False for text that
 * is not an owner line, and for an owner on another host (it cannot be
 * checked from here).
 */
export function ownerGone(text: string): boolean {
  const m = /^(\S+) (\d+) (\d+)\n$/.exec(text);
  if (m === null || m[1] !== os.hostname()) return false;
  return processStartTime(Number(m[2])) !== m[3];
}
