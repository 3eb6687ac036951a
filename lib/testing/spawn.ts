// Starting a child process for a test harness, when the kernel may refuse
// the fork for a while.
//
// fork() fails with ENOMEM or EAGAIN when the kernel cannot copy the calling
// process at that moment (memory it cannot charge or allocate, too many
// processes). A harness that forks hundreds of children beside its own
// workload meets this on a crowded machine. A refusal is not a verdict on
// the code under test, so it is tried again with a growing pause, and the
// last refusal says what this process held then.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { checkIndex, checkOptions } from '../core/args';

/** How long refused forks are tried again, in all, before the refusal is thrown. Default 30 s. */
export const SPAWN_PATIENCE_MS = 30_000;

export interface SpawnRetryingOptions {
  /** How long refused forks are tried again, in all, in ms. Default SPAWN_PATIENCE_MS. */
  patienceMs?: number;
  /** The function that forks: node:child_process's spawn unless given (a test gives one that refuses). */
  spawn?: typeof spawn;
}

/**
 * `spawn(command, args, options)`, with a fork refused for ENOMEM or EAGAIN
 * tried again (pauses of 100 ms, doubling up to 2 s) for up to `patienceMs`
 * in all, whether the refusal is thrown or emitted. Any other error is
 * thrown at once, also one spawn emits (ENOENT): the child returned has
 * started. The error of the last refusal
 * gets the number of tries and what this process held (see processMemory).
 */
export async function spawnRetrying(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
  retrying: SpawnRetryingOptions = {},
): Promise<ChildProcess> {
  const o = checkOptions(retrying, ['patienceMs', 'spawn']);
  const patienceMs = o.patienceMs === undefined ? SPAWN_PATIENCE_MS : checkIndex(o.patienceMs, 'patienceMs');
  if (o.spawn !== undefined && typeof o.spawn !== 'function') throw new TypeError('spawn must be a function');
  const fork = (o.spawn as typeof spawn | undefined) ?? spawn;
  const start = Date.now();
  let pause = 100;
  for (let attempt = 1; ; attempt++) {
    let e: unknown;
    try {
      const child = fork(command, args, options);
      // node:child_process throws some refusals (ENOMEM) and emits others
      // (EAGAIN, EMFILE, ENOENT, ...) as 'error' on the next tick, with no
      // pid: a child without one never started, and its error is had here.
      if (child.pid !== undefined) return child;
      e = await new Promise((resolve) => child.once('error', resolve));
    } catch (thrown) {
      e = thrown;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOMEM' && code !== 'EAGAIN') throw e;
    if (Date.now() - start + pause > patienceMs) {
      (e as Error).message += ` (after ${attempt} tries in ${Date.now() - start} ms; ${processMemory()})`;
      throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 2000);
  }
}

/**
 * What a refused fork is charged against: this process's mappings and size,
 * its largest mappings and the largest the kernel charges against overcommit
 * (VmFlags "ac": a fork charges each of them again), its stack and address
 * space limits (a thread's stack is as large as RLIMIT_STACK), and the
 * machine's available and committed memory and overcommit mode.
 */
function processMemory(): string {
  try {
    const all: { kb: number; what: string; charged: boolean }[] = [];
    for (const line of fs.readFileSync('/proc/self/smaps', 'latin1').split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) {
        all.push({ kb: (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024, what: `${head[3]} ${head[4] || '[anon]'}`, charged: false });
      } else if (line.startsWith('VmFlags:') && all.length > 0) {
        all[all.length - 1].charged = line.split(' ').includes('ac');
      }
    }
    const charged = all.filter((m) => m.charged);
    const largest = (list: typeof all): string =>
      [...list].sort((a, b) => b.kb - a.kb).slice(0, 3).map((m) => `${m.kb} kB ${m.what}`).join(', ');
    const status = read('/proc/self/status');
    const meminfo = read('/proc/meminfo');
    const limits = read('/proc/self/limits');
    const limit = (name: string): string => new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits)?.slice(1).join('/') ?? '?';
    return [
      `${all.length} mappings, VmSize ${field(status, 'VmSize')}, threads ${/Threads:\s*(\d+)/.exec(status)?.[1] ?? '?'}`,
      `largest: ${largest(all)}`,
      `charged ${charged.reduce((n, m) => n + m.kb, 0)} kB, largest charged: ${largest(charged)}`,
      `stack limit ${limit('Max stack size')}, address space limit ${limit('Max address space')}`,
      `MemAvailable ${field(meminfo, 'MemAvailable')}, Committed_AS ${field(meminfo, 'Committed_AS')}, ` +
        `CommitLimit ${field(meminfo, 'CommitLimit')}, overcommit_memory ${read('/proc/sys/vm/overcommit_memory').trim() || '?'}`,
    ].join('; ');
  } catch {
    return 'no /proc';
  }
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return '';
  }
}

function field(text: string, name: string): string {
  return new RegExp(`${name}:\\s*(\\d+ kB)`).exec(text)?.[1] ?? '?';
}
