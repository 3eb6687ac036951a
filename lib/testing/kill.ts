// The kill harness: runs a workload in a child process on a real mapping,
// kills it with SIGKILL, and checks that what it acknowledged survived.
//
// What it catches: a structure that is not atomic in program order (a
// record half-written when the process dies) and recovery that cannot cope
// with it, and lost acknowledged writes. What it misses: a missing flush or
// fence. A killed process's stores stay in the page cache, so they all
// "persist"; only the simulator (crashTest) or a power cut tests flushes.
//
// A crash takes down the workload's whole process tree, as a power cut
// would: the child leads a process group of its own, and every kill (the
// harness's, and a 'persist' child's own) is sent to the group. A process
// the workload starts (a helper, a server) dies at the same instant and
// cannot write the directory while verify() reads it or into the next run.
// A descendant that calls setsid(), or is spawned detached, leaves the group
// and escapes the kill.
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkIndex, checkOptions, typeName } from '../core/args';
import { makeDirs } from '../core/make-dirs';
import { seededRandom } from './random';
import { spawnRetrying } from './spawn';

export interface KillTestOptions {
  /** Absolute path of a JavaScript module that exports `run(ctx: KillContext)`. */
  child: string;
  /** How many runs must end in a kill. */
  kills: number;
  /** Seeds the kill moments. Default 1. */
  seed?: number;
  /**
   * 'random' (default): SIGKILL from the parent, a random delay after the
   * kill clock starts: at the run's Nth acknowledgement with `maxAcks`, else
   * at `ctx.started()` or the first acknowledgement, whichever comes first;
   * never at process start. 'persist': the child kills itself just before
   * its Nth drain or persist through ctx.region() (or ctx.point()), N random
   * in 1..maxCrashAt.
   */
  crashAt?: 'random' | 'persist';
  /**
   * 'random': the kill clock starts at the run's Nth acknowledgement, N
   * drawn from 1..maxAcks. A count of acknowledgements keeps the kill inside
   * the work on a fast machine and a slow one alike; give the workload more
   * operations than maxAcks plus what one socket buffer of acknowledgements
   * holds (see kill-child.ts), and a run that finishes first is reported in
   * `completed`.
   */
  maxAcks?: number;
  /** 'random': the delay is drawn from 0..maxDelayMs milliseconds (at most 2^31 - 1). Default 20, unless maxDelayUs is given. */
  maxDelayMs?: number;
  /** 'random': the delay is drawn from 0..maxDelayUs microseconds (the parent waits for it busy; at most 1,000,000), instead of maxDelayMs. */
  maxDelayUs?: number;
  /** 'persist': N is drawn from 1..maxCrashAt. Default 200. */
  maxCrashAt?: number;
  /** Where the workload keeps its files. Default: a new directory on /dev/shm, removed afterwards. */
  dir?: string;
  /** Extra environment for the child (PMEM_IS_PMEM_FORCE=1 is always set). */
  env?: Record<string, string>;
  /**
   * A run that sends nothing (no ack, note, start or end) for this long is
   * killed and reported as hung; before its work starts (its first ack or
   * ctx.started()), notes do not count. 1..2^31 - 1; default 30000.
   */
  timeoutMs?: number;
  /** Called once, before the first run. */
  prepare?(dir: string): void | Promise<void>;
  /**
   * Called after every run: reopen, recover, check, and confirm that every
   * acknowledged value (from every run so far, in order, with the values
   * sent by ctx.note() among them) is still there. Throw to report a
   * violation; returning (or resolving to) false is one too.
   */
  verify(dir: string, acked: unknown[]): void | Promise<void>;
}

export interface KillViolation {
  run: number;
  /** 'persist': the N the child died at; 'random': the delay, in ms or (with maxDelayUs) in µs. */
  at: number;
  /** 'random' with maxAcks: the acknowledgement the kill clock started at. */
  afterAcks?: number;
  message: string;
}

export interface KillReport {
  runs: number;
  /** Runs that ended in SIGKILL. */
  kills: number;
  /**
   * Kills that landed during the work: kills of runs that had sent at
   * least one acknowledgement and had not sent `done`, which the child
   * writes as soon as `run()` returns (a value) or its promise fulfils. A
   * kill in the few microseconds between that return and the write is
   * counted here: no child can close that window. A kill test should
   * assert that most of its kills landed during the work.
   */
  killsDuringWork: number;
  /** The same, for runs that had sent `ctx.started()` or at least one acknowledgement. */
  killsAfterStart: number;
  /** Runs whose workload returned before it was killed. */
  completed: number;
  /** Acknowledgements received, over all runs (ctx.note() values not counted). */
  acked: number;
  violations: KillViolation[];
  seconds: number;
}

/** Longest delay a Node timer keeps (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longest delay waited for busy: 1 s. */
const MAX_BUSY_US = 1_000_000;

const OPTION_KEYS = new Set([
  'child', 'kills', 'seed', 'crashAt', 'maxAcks', 'maxDelayMs', 'maxDelayUs', 'maxCrashAt', 'dir', 'env', 'timeoutMs',
  'prepare', 'verify',
]);

/** The compiled child runner: beside this file in dist/, or in dist/ when this file runs as TypeScript. */
function runnerPath(): string {
  const beside = path.join(__dirname, 'kill-child.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'testing', 'kill-child.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`cannot find kill-child.js; build the package first (bash scripts/setup.sh)`);
}

interface RunResult {
  killed: boolean;
  code: number | null;
  /** The signal that ended the run, if one did. */
  signal: NodeJS.Signals | null;
  /** Whether this harness sent a SIGKILL ('random' runs); a 'persist' run kills itself. */
  killSent: boolean;
  /** Whether a 'persist' child said it was killing itself at its crash point. */
  crashed: boolean;
  /** The run's acknowledgements and notes, in order. */
  records: unknown[];
  acks: number;
  started: boolean;
  done: boolean;
  stderr: string;
  timedOut: boolean;
  /** What the child wrote on the channel that is not a harness message; the run was killed for it. */
  garbage?: string;
}

/** Runs in a row that fail (neither killed nor completed) before killTest stops. */
const FAILED_IN_A_ROW = 5;

/** Longest message line: a child that writes more without a newline is not speaking the protocol. */
const MAX_MESSAGE = 2 ** 24;

type Message = { ack?: unknown; note?: unknown; started?: boolean; done?: number; crash?: number };

/** A line of the channel as a harness message (kill-child.ts send()), or undefined. */
function parseMessage(line: string): Message | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return undefined;
  const m = msg as Message;
  return 'ack' in m || 'note' in m || m.started === true || 'done' in m || 'crash' in m ? m : undefined;
}

/** When the parent kills a 'random' run: `delay` after the kill clock starts (at ack `afterAcks`, or at the start). */
interface KillPlan {
  afterAcks: number | null;
  delay: number;
  unit: 'ms' | 'us';
}

/** The process groups of the children running now, killed if this process exits with one still running. */
const groups = new Set<number>();

/**
 * SIGKILLs the process group `pid` leads: the child and every process it
 * started that stayed in its group. ESRCH (the group is gone) is no error.
 * After the leader is reaped its pid stays reserved while any process of
 * its group lives, so the kill cannot reach an unrelated process then; once
 * none lives, the pid could be reused by a new group leader only after the
 * kernel's pid counter wraps, far beyond the moment this runs.
 */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * A child in its own group does not get the terminal's Ctrl-C, nor die with
 * this process: if this process exits (process.exit(), an uncaught
 * exception) while a run is under way, its group is killed here. A harness
 * killed outright cannot run this; the child then notices that its parent
 * changed and kills its group itself (kill-child.ts).
 */
function killRunningGroups(): void {
  for (const pid of groups) killGroup(pid);
}

/** Starts the child as the leader of a process group of its own (a refused fork is tried again: see spawnRetrying). */
async function spawnChild(args: { runner: string; child: string; env: NodeJS.ProcessEnv }): Promise<ChildProcess> {
  const proc = await spawnRetrying(process.execPath, [args.runner, args.child], {
    env: args.env,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (groups.size === 0) process.on('exit', killRunningGroups);
  groups.add(proc.pid!);
  return proc;
}

/** The run's child has exited: kill what is left of its group, and stop watching it. */
function endGroup(pid: number): void {
  if (!groups.has(pid)) return;
  killGroup(pid);
  groups.delete(pid);
  if (groups.size === 0) process.removeListener('exit', killRunningGroups);
}

/**
 * How long a run waits, once its child exited and its group was killed, for
 * pipes held open by a process that left the group (setsid, a detached
 * spawn) and so outlived the kill.
 */
const AFTER_EXIT_MS = 1000;

async function runOnce(
  args: { runner: string; child: string; env: NodeJS.ProcessEnv; plan: KillPlan | null; timeoutMs: number },
): Promise<RunResult> {
  const proc = await spawnChild(args);
  const pid = proc.pid!;
  return new Promise<RunResult>((resolve, reject) => {
    const result: RunResult = {
      killed: false, code: null, signal: null, killSent: false, crashed: false, records: [], acks: 0, started: false, done: false, stderr: '', timedOut: false,
    };
    // The whole group, at once: no process of it runs another instruction
    // once the signal is delivered, so no process of it writes a message
    // after the kill. A write under way when it lands completes or is cut
    // off; one that completed is a message the child sent before the kill
    // (an ack() that may not have returned: its write was durable before it
    // was called). So every message read after this, however late, was
    // written before the kill and counts; only a process that left the
    // group could write one later (see the file's head).
    const kill = (): void => {
      result.killSent = true;
      killGroup(pid);
    };
    let pending = '';
    let fired = false;
    const timers: NodeJS.Timeout[] = [];
    // A hung workload, not a slow one: the clock restarts at every message
    // the child sends, so a slower machine only sends them further apart.
    const silence = setTimeout(() => {
      result.timedOut = true;
      kill();
    }, args.timeoutMs);
    timers.push(silence);
    const fire = (plan: KillPlan): void => {
      fired = true;
      if (plan.unit === 'ms') {
        timers.push(setTimeout(kill, plan.delay));
        return;
      }
      // Microseconds are below the timers' resolution: wait for them busy.
      const until = performance.now() + plan.delay / 1000;
      while (performance.now() < until) {
        // spin
      }
      kill();
    };
    proc.stderr!.on('data', (d: Buffer) => {
      result.stderr = (result.stderr + d.toString()).slice(-4000);
    });
    const channel = proc.stdio[3] as NodeJS.ReadableStream;
    // Decoded as a stream: a character split between two reads is joined,
    // not turned into two U+FFFD (an acknowledged string would differ).
    channel.setEncoding('utf8');
    /** Ends the run for a line that is not a harness message: the child does not speak the protocol. */
    const refuse = (line: string): void => {
      result.garbage = line.length > 80 ? `${line.slice(0, 80)}… (${line.length} characters)` : line;
      pending = '';
      kill();
    };
    channel.on('data', (d: string) => {
      if (result.garbage !== undefined) return;
      // A read with no line end adds to the pending line and nothing more:
      // searching the whole pending text at every read would take time
      // quadratic in a long line's length (a 16 MiB one: seconds).
      if (d.indexOf('\n') < 0) {
        if (!result.timedOut) silence.refresh(); // a long message on its way
        pending += d;
        if (pending.length > MAX_MESSAGE) refuse(pending);
        return;
      }
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        const msg = parseMessage(line);
        if (msg === undefined) return refuse(line);
        pending = pending.slice(nl + 1);
        // Every message restarts the silence clock, but a note before the
        // work started: a workload that only ever notes (never acks, starts
        // or returns) is neither killed in 'random' mode, whose clock waits
        // for the work, nor hung by this clock, and would run for ever.
        if (!result.timedOut && !('note' in msg && !result.started && result.acks === 0)) silence.refresh();
        if ('ack' in msg) {
          result.records.push(msg.ack);
          result.acks++;
        } else if ('note' in msg) {
          result.records.push(msg.note);
        } else if (msg.started) {
          result.started = true;
        } else if ('done' in msg) {
          result.done = true;
        } else if ('crash' in msg) {
          result.crashed = true;
        }
        const plan = args.plan;
        if (plan === null || fired || result.done) continue;
        if (plan.afterAcks !== null ? result.acks >= plan.afterAcks : result.started || result.acks > 0) fire(plan);
      }
      if (pending.length > MAX_MESSAGE) refuse(pending);
    });
    proc.on('error', (e) => {
      for (const t of timers) clearTimeout(t);
      endGroup(pid);
      reject(e);
    });
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      endGroup(pid);
      // A 'persist' run kills itself at its crash point, and says so first;
      // a 'random' run is killed only by this harness. A SIGKILL from
      // anywhere else (the kernel's OOM killer, say) is a failure of the
      // workload, not a kill that landed.
      result.killed = signal === 'SIGKILL' && !result.timedOut && result.garbage === undefined &&
        (args.plan === null ? result.crashed : result.killSent);
      result.code = code;
      result.signal = signal;
      resolve(result);
    };
    proc.on('exit', (code, signal) => {
      // The child is gone: no silence to time, no kill of its own to send.
      // What is left of its group goes now, whatever ended the run (a kill,
      // a return, a failure): a process the workload started does not
      // outlive it. Its pipes close ('close', below) once every process
      // holding them has died. What the group wrote before is in the pipes
      // and is read at once; a process that left the group may hold them
      // on, and after AFTER_EXIT_MS the run ends without waiting for it.
      endGroup(pid);
      for (const t of timers) clearTimeout(t);
      timers.push(setTimeout(() => {
        channel.removeAllListeners('data');
        proc.stderr!.destroy();
        (proc.stdio[3] as unknown as { destroy(): void }).destroy();
        finish(code, signal);
      }, AFTER_EXIT_MS));
    });
    proc.on('close', finish);
  });
}

/**
 * Runs the workload `child` again and again on the same directory, killing
 * it with SIGKILL, until `kills` runs have been killed (at most 3 * kills + 10
 * runs, and fewer kills than asked for is a violation; it stops after
 * FAILED_IN_A_ROW runs in a row that neither were killed nor completed).
 * After each run, `verify` reopens the files and checks them against
 * every value acknowledged so far. The report says how many kills landed
 * during the work (`killsDuringWork`): a kill test asserts that most did.
 * See docs/durability.md.
 * @throws TypeError, RangeError for bad options.
 */
export async function killTest(given: KillTestOptions): Promise<KillReport> {
  checkOptions(given, OPTION_KEYS);
  // Each option read once, then checked and used: a getter or a Proxy may
  // answer differently the second time (a `dir` named to the checks and
  // undefined at the end would be removed as the harness's own).
  const options = {} as KillTestOptions;
  for (const key of OPTION_KEYS) (options as unknown as Record<string, unknown>)[key] = (given as unknown as Record<string, unknown>)[key];
  const { child, prepare, verify } = options;
  const crashAt = options.crashAt === undefined ? 'random' : options.crashAt;
  if (typeof child !== 'string' || !path.isAbsolute(child)) throw new TypeError('child must be an absolute path');
  if (!fs.existsSync(child)) throw new RangeError(`child '${child}' does not exist`);
  if (typeof verify !== 'function') throw new TypeError('verify must be a function');
  if (prepare !== undefined && typeof prepare !== 'function') throw new TypeError('prepare must be a function');
  if (typeof crashAt !== 'string') throw new TypeError(`crashAt must be 'random' or 'persist', got ${typeName(crashAt)}`);
  if (crashAt !== 'random' && crashAt !== 'persist') throw new RangeError(`crashAt must be 'random' or 'persist'`);
  const kills = checkIndex(options.kills, 'kills');
  if (kills === 0) throw new RangeError('kills must be at least 1');
  const seed = checkIndex(options.seed === undefined ? 1 : options.seed, 'seed');
  if (options.maxDelayMs !== undefined && options.maxDelayUs !== undefined) {
    throw new TypeError('give maxDelayMs or maxDelayUs, not both');
  }
  const unit = options.maxDelayUs !== undefined ? 'us' : 'ms';
  const maxDelay = unit === 'us' ? checkIndex(options.maxDelayUs, 'maxDelayUs') : checkIndex(options.maxDelayMs === undefined ? 20 : options.maxDelayMs, 'maxDelayMs');
  // A timer longer than 2^31 - 1 ms fires after 1 ms (Node's TimeoutOverflowWarning);
  // a delay in µs is waited for busy, the event loop held.
  if (unit === 'ms' && maxDelay > MAX_TIMER_MS) throw new RangeError(`maxDelayMs must be at most ${MAX_TIMER_MS}, got ${maxDelay}`);
  if (unit === 'us' && maxDelay > MAX_BUSY_US) {
    throw new RangeError(`maxDelayUs must be at most ${MAX_BUSY_US} (the parent waits for it busy; use maxDelayMs), got ${maxDelay}`);
  }
  const maxAcks = options.maxAcks === undefined ? null : checkIndex(options.maxAcks, 'maxAcks');
  if (maxAcks === 0) throw new RangeError('maxAcks must be at least 1');
  if (crashAt === 'persist' && (maxAcks !== null || options.maxDelayUs !== undefined || options.maxDelayMs !== undefined)) {
    throw new RangeError(`maxAcks, maxDelayMs and maxDelayUs apply to crashAt 'random'`);
  }
  const maxCrashAt = checkIndex(options.maxCrashAt === undefined ? 200 : options.maxCrashAt, 'maxCrashAt');
  if (maxCrashAt === 0) throw new RangeError('maxCrashAt must be at least 1');
  const timeoutMs = checkIndex(options.timeoutMs === undefined ? 30000 : options.timeoutMs, 'timeoutMs');
  if (timeoutMs === 0 || timeoutMs > MAX_TIMER_MS) throw new RangeError(`timeoutMs must be 1..${MAX_TIMER_MS}, got ${timeoutMs}`);
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) {
    throw new TypeError('env must be an object');
  }
  if (options.dir !== undefined && typeof options.dir !== 'string') throw new TypeError('dir must be a string');
  // An empty string would name the working directory, by way of every path joined to it.
  if (options.dir === '') throw new RangeError('dir is an empty string; leave it out for a directory of the harness\'s own');

  const t0 = performance.now();
  const runner = runnerPath();
  const dir = options.dir ?? fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pmem-kill-'));
  makeDirs(dir);
  const random = seededRandom(seed);
  const report: KillReport = {
    runs: 0, kills: 0, killsDuringWork: 0, killsAfterStart: 0, completed: 0, acked: 0, violations: [], seconds: 0,
  };
  const acked: unknown[] = [];
  try {
    if (prepare) await prepare(dir);
    const maxRuns = 3 * kills + 10;
    let garbage = false;
    // Runs in a row that neither were killed nor completed: a workload that
    // fails every time is stopped after FAILED_IN_A_ROW, not run 3 * kills + 10 times.
    let failed = 0;
    for (let run = 0; report.kills < kills && run < maxRuns && !garbage && failed < FAILED_IN_A_ROW; run++) {
      const afterAcks = crashAt === 'random' && maxAcks !== null ? 1 + Math.floor(random() * maxAcks) : null;
      const at = crashAt === 'persist' ? 1 + Math.floor(random() * maxCrashAt) : Math.floor(random() * (maxDelay + 1));
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...options.env,
        PMEM_IS_PMEM_FORCE: '1',
        PMEM_KILL_DIR: dir,
        PMEM_KILL_RUN: String(run),
        // In BigInt, then below 2^53: as a double, seed * 1,000,003 past
        // 2^53 rounds runs to one seed (a seed of Date.now(), 256 runs).
        PMEM_KILL_SEED: String((BigInt(seed) * 1_000_003n + BigInt(run)) % 2n ** 53n),
      };
      if (crashAt === 'persist') env.PMEM_CRASH_AT = String(at);
      else delete env.PMEM_CRASH_AT;
      const plan = crashAt === 'random' ? { afterAcks, delay: at, unit } as const : null;
      const result = await runOnce({ runner, child, env, plan, timeoutMs });
      report.runs++;
      acked.push(...result.records);
      report.acked += result.acks;
      const violate = (message: string) =>
        report.violations.push(afterAcks === null ? { run, at, message } : { run, at, afterAcks, message });
      if (result.garbage !== undefined) {
        violate(`the workload wrote a line that is not a harness message on fd 3, and was killed: ${JSON.stringify(result.garbage)}`);
        // It does not speak the protocol: no later run would either, and
        // each would only repeat the violation (after verify, below).
        garbage = true;
      } else if (result.killed) {
        report.kills++;
        // The child's messages all reached the parent before 'close': an ack
        // counted here was sent before the kill, and a missing `done` means
        // the workload had not returned.
        if (!result.done && result.acks > 0) report.killsDuringWork++;
        if (!result.done && (result.started || result.acks > 0)) report.killsAfterStart++;
      } else if (result.timedOut) {
        violate(result.records.length > 0 && !result.started && result.acks === 0
          ? `the workload sent only notes for ${timeoutMs} ms: it did not start its work (no ack, no ctx.started())`
          : `the workload sent nothing for ${timeoutMs} ms`);
      }
      else if (result.code === 0 && result.done) report.completed++;
      else if (result.code === 0) violate('the workload exited (code 0) before its run returned');
      else if (result.signal !== null) {
        const foreign = crashAt === 'persist' ? 'not at its crash point' : 'not by this harness';
        violate(`the workload was killed by ${result.signal}${result.signal === 'SIGKILL' ? `, ${foreign} (the kernel's OOM killer?)` : ''}: ${result.stderr.trim()}`);
      } else violate(`the workload failed (exit ${result.code}): ${result.stderr.trim()}`);
      failed = result.killed || (result.code === 0 && result.done) ? 0 : failed + 1;
      if (failed === FAILED_IN_A_ROW) violate(`the workload failed in ${FAILED_IN_A_ROW} runs in a row: stopped`);
      try {
        // A verify written as a predicate: false is the violation it meant.
        if ((await verify(dir, acked.slice())) === (false as unknown)) violate('verify returned false');
      } catch (e) {
        let text: string;
        try {
          text = e instanceof Error ? e.message : String(e);
        } catch {
          text = `verify threw a ${typeName(e)} with no string form`;
        }
        violate(text);
      }
    }
    // The runs ran out before `kills` of them were killed: the workload
    // returned before its crash point too often. A report with no
    // violation would pass a test that did not do what it asked for.
    if (report.kills < kills && !garbage && failed < FAILED_IN_A_ROW) {
      const cure = crashAt === 'persist'
        ? `lower maxCrashAt (${maxCrashAt}) toward the persists a run makes`
        : `lower ${unit === 'us' ? `maxDelayUs (${maxDelay})` : `maxDelayMs (${maxDelay})`}${maxAcks !== null ? ` or maxAcks (${maxAcks})` : ''}`;
      report.violations.push({
        run: report.runs - 1,
        at: 0,
        message: `only ${report.kills} of the ${kills} kills asked for landed in ${report.runs} runs ` +
          `(${report.completed} returned before their crash point): ${cure}, or give each run more work`,
      });
    }
  } finally {
    if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
