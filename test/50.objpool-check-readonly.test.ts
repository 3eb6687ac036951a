// ObjPool.check (and `pmem check`) of a pool this process may read but not
// write: pmemobj_check opens the file read-write before it maps it
// privately (PMDK 1.12.1), so such a pool is checked through a private
// copy in memory (native/obj/check.cc). On a read-only tmpfs, a read-only
// bind mount, and a file mode 0444 (root ignores the mode: as root, that
// case runs `pmem check` as another user).
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ObjPool } from '../lib';
import { EXIT } from '../lib/cli/exit';
import { expectBuilt, fails, pmem, ROOT } from './cli-helpers';
import { expectPmemError, mountTmpfs, testDir, unmount } from './helpers';

const MiB = 1024 * 1024;

/** A pool with a root and a few objects, closed; returns its bytes. */
function makePool(file: string, layout: string, sds?: boolean): Buffer {
  const pool = ObjPool.create(file, { layout, size: 16 * MiB, ...(sds === undefined ? {} : { sds }) });
  const root = pool.root(256);
  pool.write(root, Buffer.from('root of a read-only check'));
  for (let i = 0; i < 50; i++) pool.write(pool.alloc(1000 + i * 37), Buffer.alloc(64, i));
  pool.close();
  return fs.readFileSync(file);
}

/** The pools of a directory: healthy ones, and damaged copies of one. */
function makePools(dir: string): void {
  const good = makePool(path.join(dir, 'good.pool'), 'ro-check', false);
  makePool(path.join(dir, 'sds.pool'), 'ro-check'); // SDS on: the copy is on memory, the file on tmpfs, neither counts
  fs.writeFileSync(path.join(dir, 'short.pool'), good.subarray(0, 9 * MiB)); // past the minimum, short of its size
  fs.writeFileSync(path.join(dir, 'half.pool'), good.subarray(0, 4 * MiB));
  fs.writeFileSync(path.join(dir, 'text'), 'not a pool\n');
}

/** What the pools of makePools give, checked at `dir` (through a copy when `copied`). */
function expectChecks(dir: string, copied: boolean): void {
  const at = (name: string): string => path.join(dir, name);
  const before = fs.readFileSync(at('good.pool'));
  expect(ObjPool.check(at('good.pool'))).toBe(true);
  expect(ObjPool.check(at('good.pool'), 'ro-check')).toBe(true);
  expect(ObjPool.check(at('sds.pool'), 'ro-check')).toBe(true);
  expect(ObjPool.check(at('short.pool'))).toBe(false);
  expectPmemError(() => ObjPool.check(at('half.pool')), 'ERR_PMEM_CORRUPT');
  expectPmemError(() => ObjPool.check(at('text')), 'ERR_PMEM_NOT_POOL');
  expectPmemError(() => ObjPool.check(at('missing.pool')), 'ERR_PMEM_NOT_FOUND');
  // An error names the user's path, never the copy's /proc/self/fd name, and says a copy was checked.
  let e: { code?: string; message?: string; path?: string } = {};
  try {
    ObjPool.check(at('good.pool'), 'another');
  } catch (thrown) {
    e = thrown as typeof e;
  }
  expect(e.code).toBe('ERR_PMEM_LAYOUT');
  expect(e.path).toBe(at('good.pool'));
  if (copied) expect(e.message).toContain('(checked through a private copy in memory: the file is not writable here, EROFS: a read-only filesystem)');
  else expect(e.message).not.toContain('copy');
  expect(e.message).not.toContain('/proc/self/fd');
  expect(fs.readFileSync(at('good.pool')).equals(before)).toBe(true);
  // pmem check: the same verdicts, through the installed command.
  expect(pmem(['check', at('good.pool')])).toMatchObject({ code: EXIT.OK, out: [`${at('good.pool')}: ok (objpool, pmemobj_check passed)`] });
  fails(pmem(['check', at('short.pool')]), EXIT.CORRUPT, 'damaged (pmemobj_check found the pool inconsistent)');
}

beforeAll(() => expectBuilt(['obj/pool', 'cli/main']));

const tmpfs = mountTmpfs('96m', 'ObjPool.check on a read-only filesystem');
const onTmpfs = tmpfs === null ? test.skip : test;
afterAll(() => unmount(tmpfs));

onTmpfs('a read-only tmpfs: every pool is checked, through a copy, with the verdict of a writable check', () => {
  makePools(tmpfs!);
  execFileSync('mount', ['-o', 'remount,ro', tmpfs!]);
  try {
    expect(() => fs.writeFileSync(path.join(tmpfs!, 'probe'), 'x')).toThrow(/EROFS/);
    expectChecks(tmpfs!, true);
    // Opening still needs to write (recovery, the run id): refused as before.
    expectPmemError(() => ObjPool.open(path.join(tmpfs!, 'good.pool')), 'ERR_PMEM_ACCESS');
    // A copy that cannot be made is an error that says why a copy was
    // needed: here a file size limit (ulimit -f, 1 MiB) under the pool's
    // 16 MiB refuses the copy's ftruncate with EFBIG (Node ignores SIGXFSZ).
    const child = spawnSync('bash', ['-c', 'ulimit -f 1024 && exec "$0" -e "$1" "$2"', process.execPath, `
      try { require(${JSON.stringify(path.join(ROOT, 'dist'))}).ObjPool.check(process.argv[1]); console.log('checked'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`, path.join(tmpfs!, 'good.pool')], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({
      code: 'ERR_PMEM_NO_SPACE',
      message: `cannot check '${path.join(tmpfs!, 'good.pool')}': it is not writable here (EROFS: a read-only filesystem), ` +
        'and pmemobj_check opens the file to write, so it is checked through a private copy in memory, which failed: ftruncate: File too large',
    });
  } finally {
    execFileSync('mount', ['-o', 'remount,rw', tmpfs!]);
  }
  // The same pools, writable: the same verdicts, without a copy.
  expectChecks(tmpfs!, false);
});

/** A read-only bind mount of `src` on a new directory, or null after saying why the tests on it are skipped. */
function bindReadOnly(src: string, what: string): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-bind-'));
  try {
    execFileSync('mount', ['--bind', src, dir], { stdio: 'pipe' });
  } catch (e) {
    fs.rmdirSync(dir);
    console.warn(`50.objpool-check-readonly: cannot bind-mount (${(e as Error).message.split('\n')[0]}); the tests on ${what} are skipped (they need root)`);
    return null;
  }
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', dir], { stdio: 'pipe' });
  } catch (e) {
    unmount(dir);
    console.warn(`50.objpool-check-readonly: cannot make a bind mount read-only (${(e as Error).message.split('\n')[0]}); the tests on ${what} are skipped`);
    return null;
  }
  return dir;
}

const source = fs.mkdtempSync(path.join(testDir(), 'ro-bind-'));
const bound = bindReadOnly(source, 'a read-only bind mount');
const onBound = bound === null ? test.skip : test;
afterAll(() => {
  unmount(bound);
  fs.rmSync(source, { recursive: true, force: true });
});

onBound('a read-only bind mount of a writable directory: checked through a copy; a pool open through the writable path is ERR_PMEM_LOCKED', () => {
  makePools(source);
  expect(() => fs.writeFileSync(path.join(bound!, 'probe'), 'x')).toThrow(/EROFS/);
  expectChecks(bound!, true);
  const open = ObjPool.open(path.join(source, 'good.pool'));
  try {
    expectPmemError(() => ObjPool.check(path.join(bound!, 'good.pool')), 'ERR_PMEM_LOCKED');
  } finally {
    open.close();
  }
  expect(ObjPool.check(path.join(bound!, 'good.pool'))).toBe(true);
});

test('a file mode 0444: checked (as root, directly; as another user, through a copy)', () => {
  const dir = fs.mkdtempSync(path.join(testDir(), 'ro-mode-'));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'good.pool');
  makePool(file, 'ro-check', false);
  fs.chmodSync(file, 0o444);
  try {
    // Root may open it read-write whatever its mode: pmemobj_check takes it
    // as it is. Any other user cannot, and gets the copy.
    expect(ObjPool.check(file, 'ro-check')).toBe(true);
    if (process.getuid?.() !== 0) {
      console.warn('50.objpool-check-readonly: not root; the 0444 file is this user\'s own and was checked in this process, through a copy');
      return;
    }
    const as: SpawnSyncOptions = { uid: 65534, gid: 65534 };
    expect(pmem(['check', file], as)).toMatchObject({ code: EXIT.OK, out: [`${file}: ok (objpool, pmemobj_check passed)`] });
    // A file that user cannot read at all is still refused, as before.
    fs.chmodSync(file, 0o400);
    fails(pmem(['check', file], as), EXIT.CANNOT_USE, 'cannot be read (EACCES)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
