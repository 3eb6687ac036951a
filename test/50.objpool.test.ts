import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { OBJ_MAX_ALLOC, OBJ_MIN_POOL, ObjPool } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

const MiB = 1024 * 1024;
const dist = path.join(__dirname, '..', 'dist');

function fresh(name: string, options = {}): { pool: ObjPool; file: string } {
  const file = tmpFile(name);
  return { pool: ObjPool.create(file, { layout: 'test', size: 16 * MiB, ...options }), file };
}

describe('create, open, check, close', () => {
  test('a created pool reopens with its root and objects', () => {
    const { pool, file } = fresh('reopen');
    expect(pool.size).toBe(16 * MiB);
    expect(pool.root()).toBe(0);
    expect(pool.rootSize).toBe(0);
    const root = pool.root(64);
    expect(root).toBeGreaterThan(0);
    expect(pool.rootSize).toBe(64);
    expect(pool.view(root, 64).every((b) => b === 0)).toBe(true);
    const obj = pool.alloc(100);
    pool.write(obj, Buffer.from('hello'));
    pool.write(root, Buffer.from([obj & 0xff, (obj >> 8) & 0xff, (obj >> 16) & 0xff, obj >>> 24]));
    pool.close();
    expect(pool.closed).toBe(true);
    expect(ObjPool.check(file, 'test')).toBe(true);
    expect(ObjPool.check(file)).toBe(true);

    const again = ObjPool.open(file, { layout: 'test' });
    expect(again.root()).toBe(root);
    const ptr = again.view(root, 4).readUInt32LE(0);
    expect(ptr).toBe(obj);
    expect(again.view(obj, 5).toString()).toBe('hello');
    expect(again.usableSize(obj)).toBeGreaterThanOrEqual(100);
    again.close();
    // No layout: any layout is accepted.
    ObjPool.open(file).close();
  });

  test('the root grows, keeping its bytes, and its old Ptr becomes invalid if it moved', () => {
    const { pool } = fresh('root-grow');
    const r1 = pool.root(16);
    pool.write(r1, Buffer.from('0123456789abcdef'));
    expect(pool.root(8)).toBe(r1); // never shrinks
    const r2 = pool.root(4096);
    expect(pool.rootSize).toBe(4096);
    expect(pool.view(r2, 16).toString()).toBe('0123456789abcdef');
    expect(pool.view(r2 + 16, 4080).every((b) => b === 0)).toBe(true);
    if (r2 !== r1) expect(() => pool.view(r1, 16)).toThrow(RangeError);
    pool.close();
  });

  test('defaults: layout "", 8 MiB, and options are checked', () => {
    const file = tmpFile('defaults');
    const pool = ObjPool.create(file);
    expect(pool.size).toBe(OBJ_MIN_POOL);
    pool.close();
    expect(ObjPool.check(file, '')).toBe(true);
    expect(() => ObjPool.create(tmpFile('x'), { size: MiB })).toThrow(RangeError);
    expect(() => ObjPool.create(tmpFile('x'), { layout: 'x'.repeat(1024) })).toThrow(RangeError);
    expect(() => ObjPool.create(tmpFile('x'), { layout: 5 as unknown as string })).toThrow(TypeError);
    expect(() => ObjPool.create(tmpFile('x'), { layout: 'a\0b' })).toThrow(/layout must not contain a NUL byte/);
    expect(fs.existsSync(tmpFile('x'))).toBe(false);
    expect(() => ObjPool.create(tmpFile('x'), { bogus: 1 } as object)).toThrow(TypeError);
    expect(() => ObjPool.create(tmpFile('x'), { sds: 'no' as unknown as boolean })).toThrow(TypeError);
    expect(() => ObjPool.create('', {})).toThrow(TypeError);
    expect(() => ObjPool.open(file, { layout: 1 as unknown as string })).toThrow(TypeError);
    // Its layout is '': the part of '\0x' before the NUL.
    expect(() => ObjPool.open(file, { layout: '\0x' })).toThrow(/layout must not contain a NUL byte/);
  });

  // null is a value, not an option left out: create took a layout of null
  // as '', and open as "any layout".
  test('options or an option given as null is a TypeError naming it; an option left out takes its default', () => {
    const file = tmpFile('opt-null.pool');
    expect(() => ObjPool.create(file, null as never)).toThrow(new TypeError('options must be an object'));
    for (const name of ['layout', 'size', 'mode', 'sds', 'stats']) {
      expect(() => ObjPool.create(file, { [name]: null } as never)).toThrow(TypeError);
      expect(() => ObjPool.create(file, { [name]: null } as never)).toThrow(new RegExp(`^${name} `));
    }
    expect(fs.existsSync(file)).toBe(false);
    const { pool, file: made } = fresh('opt-null-open');
    pool.close();
    expect(() => ObjPool.open(made, null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => ObjPool.open(made, { layout: null } as never)).toThrow(new TypeError('layout must be a string'));
    expect(() => ObjPool.open(made, { stats: null } as never)).toThrow(new TypeError('stats must be a boolean'));

    // Left out: layout '' (open checks it), 8 MiB; open takes any layout.
    const left = ObjPool.create(file, { layout: undefined, size: undefined, mode: undefined, sds: undefined, stats: undefined });
    expect(left.size).toBe(OBJ_MIN_POOL);
    left.close();
    expect(ObjPool.check(file, '')).toBe(true);
    expectPmemError(() => ObjPool.open(file, { layout: 'test' }), 'ERR_PMEM_LAYOUT');
    ObjPool.open(made, { layout: undefined, stats: undefined }).close();
  });

  test('creating over an existing file is ERR_PMEM_EXISTS', () => {
    const { pool, file } = fresh('exists');
    pool.close();
    expectPmemError(() => ObjPool.create(file, { layout: 'test', size: 16 * MiB }), 'ERR_PMEM_EXISTS');
  });

  // libpmemobj creates the file with mode 0 and chmods it to `mode` after,
  // so the umask never applied: 0o666 under umask 022, and a mode of
  // 0o7777 made a setuid, setgid and sticky file.
  test('the file gets mode & ~umask, as any file open(2) creates', () => {
    const modeOf = (f: string) => fs.statSync(f).mode & 0o7777;
    const old = process.umask(0o022);
    try {
      for (const [umask, mode, want] of [
        [0o022, undefined, 0o644],
        [0o022, 0o600, 0o600],
        [0o077, 0o640, 0o600],
        [0o027, 0o777, 0o750],
        [0o000, 0o666, 0o666],
        [0o000, 0o777, 0o777],
      ] as const) {
        process.umask(umask);
        const file = tmpFile(`mode-${umask.toString(8)}-${mode?.toString(8)}`);
        ObjPool.create(file, { layout: 'mode', mode }).close();
        expect([umask, mode, modeOf(file)]).toEqual([umask, mode, want]);
        fs.rmSync(file);
      }
    } finally {
      process.umask(old);
    }
  });

  test('a mode with bits outside 0o777 is a RangeError, and no file is created', () => {
    const file = tmpFile('mode-bits');
    for (const mode of [0o7777, 0o4755, 0o2755, 0o1777, 0o1000, 0o10000]) {
      expect(() => ObjPool.create(file, { mode })).toThrow(new RangeError(`mode must be 0..0o777, got 0o${mode.toString(8)}`));
      expect(fs.existsSync(file)).toBe(false);
    }
    expect(() => ObjPool.create(file, { mode: -1 })).toThrow(RangeError);
    expect(fs.existsSync(file)).toBe(false);
  });

  test('sds: false creates a pool without the unsafe-shutdown feature; both kinds reopen', () => {
    // Pool header: the incompat feature word is at byte 16; SDS is bit 0x4.
    const withSds = fresh('sds-on');
    withSds.pool.close();
    const without = fresh('sds-off', { sds: false });
    without.pool.close();
    const incompat = (f: string) => fs.readFileSync(f).readUInt32LE(16);
    expect(incompat(withSds.file) & 4).toBe(4);
    expect(incompat(without.file) & 4).toBe(0);
    // The process-wide ctl was restored: the next default create has SDS again.
    const next = fresh('sds-after');
    next.pool.close();
    expect(incompat(next.file) & 4).toBe(4);
    for (const f of [withSds.file, without.file]) {
      ObjPool.open(f, { layout: 'test' }).close();
      expect(ObjPool.check(f, 'test')).toBe(true);
    }
  });
});

describe('alloc, free, view', () => {
  test('alloc and free, zeroed or not, with their limits', () => {
    const { pool } = fresh('alloc');
    const a = pool.alloc(64, { zero: true });
    expect(pool.view(a, 64).every((b) => b === 0)).toBe(true);
    expect(pool.usableSize(a)).toBeGreaterThanOrEqual(64);
    expect(pool.usableSize(a + 8)).toBe(0); // not an object start
    expect(() => pool.alloc(0)).toThrow(RangeError);
    expect(() => pool.alloc(OBJ_MAX_ALLOC + 1)).toThrow(RangeError);
    expect(() => pool.alloc(-1)).toThrow(RangeError);
    expect(() => pool.alloc(1.5)).toThrow(RangeError);
    expect(() => pool.alloc('8' as unknown as number)).toThrow(TypeError);
    expect(() => pool.alloc(8, { zero: 1 as unknown as boolean })).toThrow(TypeError);
    expectPmemError(() => pool.alloc(64 * MiB), 'ERR_PMEM_NO_SPACE');
    pool.free(a);
    expect(pool.usableSize(a)).toBe(0);
    pool.close();
  });

  test('filling the pool ends in ERR_PMEM_NO_SPACE, and freeing makes room again', () => {
    const { pool } = fresh('fill');
    const ptrs: number[] = [];
    let err: unknown;
    try {
      for (;;) ptrs.push(pool.alloc(256 * 1024));
    } catch (e) {
      err = e;
    }
    expect((err as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
    // Said as a full pool, not with libpmemobj's last words (its attempt to
    // grow the pool, or what the open left behind).
    expect((err as Error).message).toMatch(/^pmemobj_alloc failed for '.*': no free block of that size is left in the pool \(ENOMEM\)$/);
    expect(ptrs.length).toBeGreaterThan(10);
    for (const p of ptrs) pool.free(p);
    expect(pool.alloc(256 * 1024)).toBeGreaterThan(0);
    pool.close();
  });

  test('a freed, interior, out-of-range or root Ptr is a RangeError, never a crash', () => {
    const { pool } = fresh('bad-ptr');
    const root = pool.root(32);
    const a = pool.alloc(64);
    const usable = pool.usableSize(a);
    pool.view(a, usable); // the whole usable size is allowed
    expect(() => pool.view(a, usable + 1)).toThrow(RangeError);
    expect(() => pool.view(a + usable, 1)).toThrow(RangeError);
    expect(() => pool.view(0, 8)).toThrow(RangeError); // the pool header is not an object
    expect(() => pool.view(pool.size, 1)).toThrow(RangeError);
    expect(() => pool.view(2 ** 53, 1)).toThrow(RangeError);
    expect(() => pool.free(a + 16)).toThrow(RangeError);
    expect(() => pool.free(root)).toThrow(RangeError);
    expect(() => pool.write(a + usable - 2, Buffer.alloc(4))).toThrow(RangeError);
    expect(() => pool.persist(a, usable + 1)).toThrow(RangeError);
    pool.free(a);
    expect(() => pool.free(a)).toThrow(RangeError);
    expect(() => pool.view(a, 1)).toThrow(RangeError);
    expect(() => pool.write(a, Buffer.alloc(1))).toThrow(RangeError);
    pool.close();
  });

  test('views share one buffer, persist through persist(), and are detached on close', () => {
    const { pool, file } = fresh('views');
    const a = pool.alloc(128);
    const v1 = pool.view(a, 64);
    const v2 = pool.view(a + 32, 64);
    expect(v1.buffer).toBe(v2.buffer);
    v1.fill(7);
    pool.persist(a, 64);
    expect(v2[0]).toBe(7);
    pool.close();
    expect(v1.byteLength).toBe(0);
    expect(v1.buffer.byteLength).toBe(0);
    const again = ObjPool.open(file);
    expect(again.view(a, 64).every((b) => b === 7)).toBe(true);
    again.close();
  });

  test('stats report the heap (stats.heap.*)', () => {
    const { pool } = fresh('stats');
    const before = pool.stats();
    const a = pool.alloc(1000);
    const mid = pool.stats();
    expect(mid.currAllocated).toBeGreaterThanOrEqual(before.currAllocated + 1000);
    expect(mid.runAllocated).toBeGreaterThan(0);
    expect(mid.runActive).toBeGreaterThan(0);
    pool.free(a);
    expect(pool.stats().currAllocated).toBe(before.currAllocated);
    pool.close();
    const off = fresh('stats-off', { stats: false });
    off.pool.alloc(1000);
    expect(off.pool.stats().runAllocated).toBe(0);
    off.pool.close();
  });

  test('every method after close is ERR_PMEM_CLOSED; close twice is fine', () => {
    const { pool } = fresh('closed');
    const a = pool.alloc(8);
    pool.close();
    pool.close();
    expectPmemError(() => pool.alloc(8), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.free(a), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.view(a, 8), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.root(8), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.rootSize, 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.write(a, Buffer.alloc(1)), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.persist(a, 1), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.stats(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.usableSize(a), 'ERR_PMEM_CLOSED');
    expectPmemError(() => pool.transaction(() => 1), 'ERR_PMEM_CLOSED');
  });
});

describe('bad input gives a PmemError with a stable code', () => {
  let good: string;
  beforeAll(() => {
    const { pool, file } = fresh('good');
    pool.alloc(1000);
    pool.close();
    good = file;
  });

  function copy(name: string, edit: (b: Buffer) => Buffer): string {
    const f = tmpFile(name);
    fs.writeFileSync(f, edit(fs.readFileSync(good)));
    return f;
  }

  test('a missing file is ERR_PMEM_NOT_FOUND', () => {
    const f = tmpFile('missing');
    expectPmemError(() => ObjPool.open(f), 'ERR_PMEM_NOT_FOUND');
    expectPmemError(() => ObjPool.check(f), 'ERR_PMEM_NOT_FOUND');
    expectPmemError(() => ObjPool.create(path.join(f, 'sub', 'x')), 'ERR_PMEM_NOT_FOUND');
  });

  test('a file that is not a pool is ERR_PMEM_NOT_POOL', () => {
    const zeros = tmpFile('zeros');
    fs.writeFileSync(zeros, Buffer.alloc(9 * MiB));
    const random = tmpFile('random');
    fs.writeFileSync(random, Buffer.alloc(9 * MiB, 'not a pool at all '));
    const tiny = tmpFile('tiny');
    fs.writeFileSync(tiny, 'hi\n');
    const empty = tmpFile('empty'); // libpmemobj itself faults (SIGBUS) on an empty file
    fs.writeFileSync(empty, '');
    for (const f of [zeros, random, tiny, empty]) {
      expectPmemError(() => ObjPool.open(f), 'ERR_PMEM_NOT_POOL');
      expectPmemError(() => ObjPool.check(f), 'ERR_PMEM_NOT_POOL');
    }
  });

  test('the wrong layout is ERR_PMEM_LAYOUT', () => {
    expectPmemError(() => ObjPool.open(good, { layout: 'other' }), 'ERR_PMEM_LAYOUT');
    expectPmemError(() => ObjPool.check(good, 'other'), 'ERR_PMEM_LAYOUT');
  });

  test('a truncated pool is ERR_PMEM_CORRUPT (and check says false or throws)', () => {
    const half = copy('half', (b) => b.subarray(0, 4 * MiB));
    const page = copy('page', (b) => b.subarray(0, 4096));
    expectPmemError(() => ObjPool.open(half), 'ERR_PMEM_CORRUPT');
    expectPmemError(() => ObjPool.check(half), 'ERR_PMEM_CORRUPT');
    const short = copy('short', (b) => b.subarray(0, 9 * MiB)); // past the minimum, short of its size
    expectPmemError(() => ObjPool.open(short), 'ERR_PMEM_CORRUPT');
    expect(ObjPool.check(short)).toBe(false);
    expectPmemError(() => ObjPool.open(page), 'ERR_PMEM_CORRUPT');
    expectPmemError(() => ObjPool.check(page), 'ERR_PMEM_CORRUPT');
  });

  test.each([
    [0, 'ERR_PMEM_NOT_POOL'], // the signature itself: no longer a libpmemobj pool
    [8, 'ERR_PMEM_CORRUPT'], // major version
    [16, 'ERR_PMEM_CORRUPT'], // feature flags
    [24, 'ERR_PMEM_CORRUPT'], // a layout byte: header checksum
    [100, 'ERR_PMEM_CORRUPT'],
  ])('a flipped header byte %d is %s', (at, code) => {
    const f = copy(`flip-${at}`, (b) => {
      const c = Buffer.from(b);
      c[at] ^= 0xff;
      return c;
    });
    expectPmemError(() => ObjPool.open(f), code);
  });

  test('an open pool cannot be opened or checked again: ERR_PMEM_LOCKED', () => {
    const pool = ObjPool.open(good);
    expectPmemError(() => ObjPool.open(good), 'ERR_PMEM_LOCKED');
    expectPmemError(() => ObjPool.check(good), 'ERR_PMEM_LOCKED');
    pool.close();
  });

  test('a pool set file is refused clearly', () => {
    const f = tmpFile('set');
    fs.writeFileSync(f, `PMEMPOOLSET\n16M ${tmpFile('part')}\n`);
    expectPmemError(() => ObjPool.open(f), 'ERR_PMEM_INVALID');
  });
});

describe('worker_threads', () => {
  function runWorker(code: string, workerData: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData });
      let result: unknown;
      w.on('message', (m) => (result = m));
      w.on('error', reject);
      w.on('exit', () => resolve(result));
    });
  }

  test('a worker cannot open a pool the main thread holds, and a pool is not transferable', async () => {
    const { pool, file } = fresh('worker-locked');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { ObjPool } = require(workerData.dist);
      try { ObjPool.open(workerData.file); parentPort.postMessage('opened'); }
      catch (e) { parentPort.postMessage(e.code); }`;
    expect(await runWorker(code, { dist, file })).toBe('ERR_PMEM_LOCKED');
    // Sent to a worker, a pool arrives as plain data without any methods.
    const sent = `
      const { parentPort, workerData } = require('node:worker_threads');
      parentPort.postMessage(typeof workerData.pool.transaction + ' ' + typeof workerData.pool.view);`;
    expect(await runWorker(sent, { pool })).toBe('undefined undefined');
    pool.close();
  });

  test('a worker terminated inside a transaction has it rolled back', async () => {
    const { pool, file } = fresh('worker-terminated');
    const obj = pool.alloc(64, { zero: true });
    pool.close();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { ObjPool } = require(workerData.dist);
      const pool = ObjPool.open(workerData.file);
      pool.transaction((tx) => {
        tx.write(workerData.obj, Buffer.alloc(64, 0xee));
        parentPort.postMessage('written');
        for (;;) {}
      });`;
    const w = new Worker(code, { eval: true, workerData: { dist, file, obj } });
    await new Promise<void>((resolve, reject) => {
      w.on('message', () => resolve());
      w.on('error', reject);
    });
    await w.terminate();
    const again = ObjPool.open(file);
    expect(again.view(obj, 64).every((b) => b === 0)).toBe(true);
    again.close();
    expect(ObjPool.check(file)).toBe(true);
  });
});
