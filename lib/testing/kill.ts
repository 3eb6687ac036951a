// The kill harness: runs a workload in a child process on a real mapping,
// kills it with SIGKILL, and checks that what it acknowledged survived.
//
// What it catches: a structure that is not atomic in program order (a
// record half-written when the process dies) and recovery that cannot cope
// with it, and lost acknowledged writes. What it misses: a missing flush or
// fence. A killed process's stores stay in the page cache, so they all
// "persist"; only the simulator (crashTest) or a power cut tests flushes.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkIndex } from '../args';
import { seededRandom } from './random';

export interface KillTestOptions {
  /** Absolute path of a JavaScript module that exports `run(ctx: KillContext)`. */
  child: string;
  /** How many runs must end in a kill. */
  kills: number;
  /** Seeds the kill moments. Default 1. */
  seed?: number;
  /**
   * 'random' (default): SIGKILL from the parent, a random delay after the
   * workload starts. 'persist': the child kills itself just before its Nth
   * drain or persist through ctx.region() (or ctx.point()), N random in
   * 1..maxCrashAt.
   */
  crashAt?: 'random' | 'persist';
  /** 'random': the delay is drawn from 0..maxDelayMs milliseconds. Default 20. */
  maxDelayMs?: number;
  /** 'persist': N is drawn from 1..maxCrashAt. Default 200. */
  maxCrashAt?: number;
  /** Where the workload keeps its files. Default: a new directory on /dev/shm, removed afterwards. */
  dir?: string;
  /** Extra environment for the child (PMEM_IS_PMEM_FORCE=1 is always set). */
  env?: Record<string, string>;
  /** A run still alive after this long is killed and reported. Default 30000. */
  timeoutMs?: number;
  /** Called once, before the first run. */
  prepare?(dir: string): void | Promise<void>;
  /**
   * Called after every run: reopen, recover, check, and confirm that every
   * acknowledged value (from every run so far, in order) is still there.
   * Throw to report a violation.
   */
  verify(dir: string, acked: unknown[]): void | Promise<void>;
}

export interface KillViolation {
  run: number;
  /** 'persist': the N the child died at; 'random': the delay in ms. */
  at: number;
  message: string;
}

export interface KillReport {
  runs: number;
  /** Runs that ended in SIGKILL. */
  kills: number;
  /** Runs whose workload returned before it was killed. */
  completed: number;
  /** Acknowledgements received, over all runs. */
  acked: number;
  violations: KillViolation[];
  seconds: number;
}

const OPTION_KEYS = new Set([
  'child', 'kills', 'seed', 'crashAt', 'maxDelayMs', 'maxCrashAt', 'dir', 'env', 'timeoutMs', 'prepare', 'verify',
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
  acked: unknown[];
  stderr: string;
  timedOut: boolean;
}

function runOnce(
  args: { runner: string; child: string; env: NodeJS.ProcessEnv; delayMs: number | null; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [args.runner, args.child], {
      env: args.env,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    const acked: unknown[] = [];
    let stderr = '';
    let pending = '';
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    timers.push(setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, args.timeoutMs));
    proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const channel = proc.stdio[3] as NodeJS.ReadableStream;
    channel.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const msg = JSON.parse(pending.slice(0, nl)) as { ack?: unknown; ready?: boolean };
        pending = pending.slice(nl + 1);
        if ('ack' in msg) acked.push(msg.ack);
        if (msg.ready && args.delayMs !== null) {
          timers.push(setTimeout(() => proc.kill('SIGKILL'), args.delayMs));
        }
      }
    });
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ killed: signal === 'SIGKILL' && !timedOut, code, acked, stderr, timedOut });
    });
  });
}

/**
 * Runs the workload `child` again and again on the same directory, killing
 * it with SIGKILL, until `kills` runs have been killed (at most 3 * kills + 10
 * runs). After each run, `verify` reopens the files and checks them against
 * every value acknowledged so far. See docs/durability.md.
 * @throws TypeError, RangeError for bad options.
 */
export async function killTest(options: KillTestOptions): Promise<KillReport> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}'`);
  }
  const { child, crashAt = 'random', prepare, verify } = options;
  if (typeof child !== 'string' || !path.isAbsolute(child)) throw new TypeError('child must be an absolute path');
  if (!fs.existsSync(child)) throw new RangeError(`child '${child}' does not exist`);
  if (typeof verify !== 'function') throw new TypeError('verify must be a function');
  if (prepare !== undefined && typeof prepare !== 'function') throw new TypeError('prepare must be a function');
  if (crashAt !== 'random' && crashAt !== 'persist') throw new RangeError(`crashAt must be 'random' or 'persist'`);
  const kills = checkIndex(options.kills, 'kills');
  if (kills === 0) throw new RangeError('kills must be at least 1');
  const seed = checkIndex(options.seed ?? 1, 'seed');
  const maxDelayMs = checkIndex(options.maxDelayMs ?? 20, 'maxDelayMs');
  const maxCrashAt = checkIndex(options.maxCrashAt ?? 200, 'maxCrashAt');
  if (maxCrashAt === 0) throw new RangeError('maxCrashAt must be at least 1');
  const timeoutMs = checkIndex(options.timeoutMs ?? 30000, 'timeoutMs');
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) {
    throw new TypeError('env must be an object');
  }
  if (options.dir !== undefined && typeof options.dir !== 'string') throw new TypeError('dir must be a string');

  const t0 = performance.now();
  const runner = runnerPath();
  const dir = options.dir ?? fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pmem-kill-'));
  fs.mkdirSync(dir, { recursive: true });
  const random = seededRandom(seed);
  const report: KillReport = { runs: 0, kills: 0, completed: 0, acked: 0, violations: [], seconds: 0 };
  const acked: unknown[] = [];
  try {
    if (prepare) await prepare(dir);
    const maxRuns = 3 * kills + 10;
    for (let run = 0; report.kills < kills && run < maxRuns; run++) {
      const at = crashAt === 'persist' ? 1 + Math.floor(random() * maxCrashAt) : Math.floor(random() * (maxDelayMs + 1));
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...options.env,
        PMEM_IS_PMEM_FORCE: '1',
        PMEM_KILL_DIR: dir,
        PMEM_KILL_RUN: String(run),
        PMEM_KILL_SEED: String(seed * 1_000_003 + run),
      };
      if (crashAt === 'persist') env.PMEM_CRASH_AT = String(at);
      else delete env.PMEM_CRASH_AT;
      const result = await runOnce({ runner, child, env, delayMs: crashAt === 'random' ? at : null, timeoutMs });
      report.runs++;
      acked.push(...result.acked);
      report.acked += result.acked.length;
      const violate = (message: string) => report.violations.push({ run, at, message });
      if (result.killed) report.kills++;
      else if (result.timedOut) violate(`the workload ran past ${timeoutMs} ms`);
      else if (result.code === 0) report.completed++;
      else violate(`the workload failed (exit ${result.code}): ${result.stderr.trim()}`);
      try {
        await verify(dir, acked.slice());
      } catch (e) {
        violate(e instanceof Error ? e.message : String(e));
      }
    }
  } finally {
    if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
