// A writable open that cannot reserve a file's holes on ext4. A failed
// fallocate there keeps the unwritten extents it made before it ran out
// (tmpfs, under test/15.space, undoes them itself): the open must give them
// back, or a failed open would take the filesystem's last free blocks and
// keep them in the file. Runs on a small ext4 image this file makes and
// loop-mounts (as root, with mkfs.ext4); skipped, saying why, otherwise.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ObjPool, openMapping } from '../lib';
import { fillFilesystem, tmpFile } from './helpers';

const child = path.join(__dirname, 'fixtures', 'space', 'full.js');
const MiB = 1024 * 1024;
/**
 * Blocks a failed open may leave in the file: the extent tree's, which the
 * fallocate grew and a punch does not shrink. The extents' own blocks are
 * given back: without that, a failed open kept megabytes.
 */
const EXTENT_TREE_SLACK = 64 * 1024;

/** Runs a scenario of fixtures/space/full.js; it must exit normally (no SIGBUS). */
function run(scenario: string, ...args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [child, scenario, ...args], { encoding: 'utf8' });
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** A 64 MiB ext4 image loop-mounted on a new directory, or null after saying why the tests are skipped. */
function mountExt4(): { dir: string; image: string } | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-mount-'));
  const image = `${dir}.img`;
  try {
    if (process.getuid?.() !== 0) throw new Error('not root');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 * MiB);
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', image], { stdio: 'pipe' });
    execFileSync('mount', ['-t', 'ext4', '-o', 'loop', image, dir], { stdio: 'pipe' });
    return { dir, image };
  } catch (e) {
    fs.rmSync(image, { force: true });
    fs.rmdirSync(dir);
    console.warn(`15.space-ext4: cannot mount an ext4 image (${(e as Error).message.split('\n')[0]}); ` +
      'the tests on a nearly full ext4 filesystem are skipped (they need root, mkfs.ext4 and a loop device)');
    return null;
  }
}

const ext4 = mountExt4();
const onExt4 = ext4 === null ? test.skip : test;

afterAll(() => {
  if (ext4 === null) return;
  execFileSync('umount', [ext4.dir]);
  fs.rmdirSync(ext4.dir);
  fs.rmSync(ext4.image, { force: true });
});

beforeEach(() => {
  if (ext4 === null) return;
  for (const f of fs.readdirSync(ext4.dir)) {
    if (f !== 'lost+found') fs.rmSync(path.join(ext4.dir, f), { recursive: true, force: true });
  }
});

/** Free bytes of the filesystem as root sees them (ext4's reserved blocks included). */
function freeBytes(dir: string): number {
  const st = fs.statfsSync(dir);
  return st.bfree * st.bsize;
}

/** Writes the file back: ext4 allocates blocks, and the extent tree's, at writeback. */
function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills the filesystem of `dir`, then frees `left` bytes of the filler again. */
function leaveFree(dir: string, left: number): void {
  const filler = path.join(dir, 'filler');
  fillFilesystem(filler);
  fs.truncateSync(filler, fs.statSync(filler).size - left);
}

describe('a nearly full ext4 filesystem', () => {
  onExt4('a writable open that cannot reserve the holes leaves the file\'s blocks and the free space as they were', () => {
    const dir = ext4!.dir;
    const file = path.join(dir, 'holes');
    fs.writeFileSync(file, 'head');
    fs.truncateSync(file, 16 * MiB); // a data block, then a 16 MiB hole
    syncFile(file);
    leaveFree(dir, 4 * MiB);
    const before = fs.statSync(file);
    const free = freeBytes(dir);
    expect(free).toBeGreaterThanOrEqual(3 * MiB);
    expect(run('holes', file)).toEqual({ writable: 'ERR_PMEM_NO_SPACE', readOnlyLength: 16 * MiB, readOnlySum: 'head'.split('').reduce((s, c) => s + c.charCodeAt(0), 0) });
    const after = fs.statSync(file);
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);
    expect(after.blocks * 512 - before.blocks * 512).toBeLessThanOrEqual(EXTENT_TREE_SLACK);
    expect(free - freeBytes(dir)).toBeLessThanOrEqual(EXTENT_TREE_SLACK);
    // The space the open could not use is there for the next file.
    const other = openMapping(path.join(dir, 'other'), { size: 2 * MiB, create: true });
    other.close();
  });

  onExt4('ObjPool.open of a pool with holes: ERR_PMEM_NO_SPACE, the file and the free space as they were', () => {
    const dir = ext4!.dir;
    const made = tmpFile('ext4-holes.pool');
    const pool = ObjPool.create(made, { size: 16 * MiB });
    pool.write(pool.root(64), Buffer.from('kept'));
    pool.close();
    const file = path.join(dir, 'pool');
    execFileSync('cp', ['--sparse=always', made, file]);
    fs.rmSync(made);
    syncFile(file); // its blocks allocated (ext4 allocates at writeback), so that they are counted
    const before = fs.statSync(file);
    expect(before.blocks * 512).toBeLessThan(before.size / 2); // the copy has holes
    const bytes = fs.readFileSync(file);
    leaveFree(dir, 4 * MiB);
    const free = freeBytes(dir);
    expect(run('poolHoles', file)).toEqual({ open: 'ERR_PMEM_NO_SPACE' });
    const after = fs.statSync(file);
    expect(after.size).toBe(before.size);
    expect(after.blocks * 512 - before.blocks * 512).toBeLessThanOrEqual(EXTENT_TREE_SLACK);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    expect(free - freeBytes(dir)).toBeLessThanOrEqual(EXTENT_TREE_SLACK);
    // With room, it opens and keeps its root.
    fs.rmSync(path.join(dir, 'filler'));
    expect(run('poolHoles', file)).toEqual({ open: 'ok', allocs: expect.any(Number), after: 'ERR_PMEM_NO_SPACE', root: 'kept' });
  });
});
