// Shared by the test files: where test files go, and small assertions.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { procStat } from '../lib/core/owner';

/** A directory on /dev/shm for this test process (scripts/test.sh sets PMEM_TEST_DIR). */
export function testDir(): string {
  const dir = process.env.PMEM_TEST_DIR ?? `/dev/shm/pmem-test-${process.pid}`;
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

let counter = 0;
/** A fresh file path (the file does not exist yet). */
export function tmpFile(name: string): string {
  const p = path.join(testDir(), `${process.pid}-${counter++}-${name}`);
  fs.rmSync(p, { force: true });
  return p;
}

/** A deterministic generator of numbers in [0, 1) (xorshift32 over `seed`). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Expects `fn` to throw a PmemError with `code`. */
export function expectPmemError(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect((thrown as { name: string }).name).toBe('PmemError');
  expect((thrown as { code: string }).code).toBe(code);
}

/**
 * Expects `fn` to throw an error named `name`. Errors thrown by native code
 * and by Node's core come from another realm than jest's globals, so
 * `toThrow(RangeError)` cannot recognise them; the name can.
 */
export function expectThrowName(fn: () => unknown, name: 'TypeError' | 'RangeError' | 'PmemError'): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeDefined();
  expect((thrown as { name?: string }).name).toBe(name);
}

/**
 * Whether `file`, mapped by this process, is mapped with 2 MiB pages (a
 * tmpfs mounted with huge=, shmem_enabled=force, a DAX mount's PMD faults).
 * A page fault then brings in 512 pages, and a test counting faults per
 * 4 KiB page has nothing to count: it says so and checks nothing of it.
 * Read while the file is mapped and touched.
 */
export function hugePagesMapped(file: string): boolean {
  const smaps = fs.readFileSync('/proc/self/smaps', 'latin1').split('\n');
  const real = fs.realpathSync(file);
  let mine = false;
  let huge = false;
  for (const line of smaps) {
    // A mapping's header: "start-end perms offset dev inode path".
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mine = line.endsWith(` ${real}`);
    else if (mine && /^(ShmemPmdMapped|FilePmdMapped):\s+[1-9]/.test(line)) huge = true;
  }
  // eslint-disable-next-line no-console
  if (huge) console.warn(`${file} is mapped with huge pages; faults per 4 KiB page not checked`);
  return huge;
}

/** A process's state letter and CPU ticks (utime + stime), from /proc; null once it is gone. */
function procState(pid: number): { state: string; ticks: number } | null {
  const f = procStat(pid);
  return f === null ? null : { state: f[0], ticks: Number(f[11]) + Number(f[12]) };
}

/**
 * Runs `file` with `args`, its stdout a pipe that is not read until the
 * process has exited, or sleeps with its CPU time unchanged across five
 * looks 20 ms apart: waiting for the pipe, which fills (64 KiB and this
 * side's buffer) and holds the rest. Then reads every byte. `waited` says
 * the process was still there, waiting, when the reading began: the case
 * of a reader slower than the writer; `rssAnon`, its anonymous memory then
 * (-1 when gone).
 */
export async function readAfterWait(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: Buffer; err: string; waited: boolean; rssAnon: number }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout.pause();
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const closed = new Promise<number | null>((resolve) => child.once('close', (c: number | null) => resolve(c)));
  let last = -1;
  let still = 0;
  while (!exited && still < 5) {
    await new Promise((r) => setTimeout(r, 20));
    const s = procState(child.pid as number);
    if (s === null) break;
    still = s.state === 'S' && s.ticks === last ? still + 1 : 0;
    last = s.ticks;
  }
  const waited = !exited && procState(child.pid as number) !== null;
  // Its anonymous memory then (its heap and what it queued for the pipe; not the files it maps).
  let rssAnon = -1;
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'latin1'));
    if (m !== null) rssAnon = Number(m[1]) * 1024;
  } catch {
    rssAnon = -1;
  }
  const out: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stdout.resume();
  const code = await closed;
  return { code, out: Buffer.concat(out), err: Buffer.concat(err).toString('utf8'), waited, rssAnon };
}

/** Takes every free block of the filesystem of `file` with plain writes into it (nothing mapped). */
export function fillFilesystem(file: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [1024 * 1024, 65536, 4096]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Mounts a filesystem of `type` on a new directory (needs root), or returns
 * null after saying which tests are skipped (`what`: the tests on it).
 */
export function mountFs(type: string, options: string[], what: string): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-mount-'));
  try {
    execFileSync('mount', ['-t', type, ...options, type, dir], { stdio: 'pipe' });
    return dir;
  } catch (e) {
    fs.rmdirSync(dir);
    console.warn(`${path.basename(expect.getState().testPath ?? 'test')}: cannot mount ${type} (${(e as Error).message.split('\n')[0]}); ` +
      `the tests on ${what} are skipped (they need root)`);
    return null;
  }
}

/** A tmpfs of `size` ("8m", "512k"; see mountFs). */
export function mountTmpfs(size: string, what: string): string | null {
  return mountFs('tmpfs', ['-o', `size=${size}`], what);
}

/** Unmounts and removes a directory of mountFs (nothing for null). */
export function unmount(dir: string | null): void {
  if (dir === null) return;
  execFileSync('umount', [dir]);
  fs.rmdirSync(dir);
}
