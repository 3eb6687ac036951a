// Shared by the test files: where test files go, and small assertions.
import * as fs from 'node:fs';
import * as path from 'node:path';

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
