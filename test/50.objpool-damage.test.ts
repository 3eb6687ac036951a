// Damaged pools that libpmemobj (PMDK 1.12.1) loops on forever at
// pmemobj_open are refused with ERR_PMEM_CORRUPT, and left byte-identical
// (lib/obj/media.ts). Each open runs in a child process, so that a
// regression hangs only the child: its time limit is a safety net, far above
// an open's time, and a pass is decided by the child's answer alone. Healthy
// pools, and pools left by a kill in the middle of transactions, still open.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ObjPool } from '../lib';
import { binding } from '../lib/core/binding';
import { expectPmemError, tmpFile } from './helpers';

const MiB = 1024 * 1024;
const child = path.join(__dirname, 'fixtures', 'obj', 'open-child.js');
const SAFETY_NET_MS = 60_000;

// PMDK 1.12.1's layout (see lib/obj/media.ts).
const DESC_LANES_OFFSET = 4096 + 1024;
const LANE_SIZE = 3072;
const UNDO_AT = 960; // the undo log inside struct lane_layout
const ZONE0_CHUNK_HEADERS = 1024 + 64; // heap header, zone header
const ZONE0_CHUNKS = ZONE0_CHUNK_HEADERS + 8 * (65535 - 7); // after the chunk headers
const CHUNKSIZE = 256 * 1024;
const COMPACT_HEADER = 16; // the allocation header before a small object
const ROOT_OFFSET = 4096 + 2048; // root_offset, then run_id, then root_size: no checksum
const ROOT_SIZE = ROOT_OFFSET + 16;

interface Opened {
  opened: boolean;
  code?: string;
  message?: string;
  killed: boolean;
}

function openInChild(file: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [child, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), SAFETY_NET_MS);
    c.on('error', reject);
    // 'close', not 'exit': only then has all of its stdout been read.
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== null || out === '') resolve({ opened: false, killed: true, message: `exit ${code} ${signal}` });
      else resolve({ ...(JSON.parse(out) as Opened), killed: false });
    });
  });
}

/**
 * A pool with objects in runs and chunks, freed ones, and two transactions,
 * one past the lane's undo log. `small` is a 64-byte object and `run` the
 * offset of the run it lies in (a run's first chunk starts with its block
 * size).
 */
function healthyPool(name: string): {
  file: string;
  lanesOffset: number;
  heapOffset: number;
  small: number;
  run: number;
  root: number;
} {
  const file = tmpFile(name);
  const pool = ObjPool.create(file, { layout: 'damage', size: 16 * MiB, sds: false });
  const root = pool.root(256);
  const ptrs: number[] = [];
  for (let i = 0; i < 20; i++) ptrs.push(pool.alloc(64 + i * 40));
  ptrs.push(pool.alloc(300_000));
  pool.free(ptrs[3]);
  pool.transaction((tx) => {
    tx.write(root, Buffer.alloc(256, 7));
    tx.write(tx.alloc(1000), Buffer.alloc(1000, 1));
  });
  pool.transaction((tx) => tx.write(ptrs[20], Buffer.alloc(100_000, 9)));
  pool.close();
  const desc = Buffer.alloc(24);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, desc, 0, 24, DESC_LANES_OFFSET);
  fs.closeSync(fd);
  const heapOffset = Number(desc.readBigUInt64LE(16));
  const chunks = heapOffset + ZONE0_CHUNKS;
  const run = chunks + Math.floor((ptrs[0] - chunks) / CHUNKSIZE) * CHUNKSIZE;
  return { file, lanesOffset: Number(desc.readBigUInt64LE(0)), heapOffset, small: ptrs[0], run, root };
}

function poke(file: string, at: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, at);
  fs.closeSync(fd);
}

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

async function expectRefused(file: string, because: RegExp): Promise<void> {
  const before = fs.readFileSync(file);
  const r = await openInChild(file);
  expect(r.killed).toBe(false);
  expect(r).toMatchObject({ opened: false, code: 'ERR_PMEM_CORRUPT' });
  expect(r.message).toMatch(because);
  expect(fs.readFileSync(file).equals(before)).toBe(true);
}

describe('damaged pools libpmemobj would loop on are refused', () => {
  test('an unknown ulog entry type in a lane (ulog_base_nbytes in ulog_recover never advances)', async () => {
    const { file, lanesOffset } = healthyPool('dmg-entry-type');
    // Lane 1's internal redo log is empty: its first entry's offset word is
    // 0. One byte makes its type 0b011, which has no size.
    poke(file, lanesOffset + LANE_SIZE + 64 + 7, Buffer.from([0x60]));
    await expectRefused(file, /lane 1 internal redo log's entry .* unknown type 3/);
  }, SAFETY_NET_MS + 10_000);

  test('a chunk header of size 0 (heap_verify_zone never advances)', async () => {
    const { file, heapOffset } = healthyPool('dmg-chunk-size');
    poke(file, heapOffset + ZONE0_CHUNK_HEADERS + 4, Buffer.alloc(4));
    await expectRefused(file, /zone 0 chunk 0 has size 0/);
  }, SAFETY_NET_MS + 10_000);

  test('a cycle of undo log extensions (ulog_capacity in lane_init never ends)', async () => {
    const { file, lanesOffset } = healthyPool('dmg-ulog-cycle');
    // Lane 1's undo log links to a ulog header in a free chunk at the end of
    // the pool, which links to itself.
    const at = fs.statSync(file).size - 4096;
    poke(file, lanesOffset + LANE_SIZE + UNDO_AT + 8, u64(at));
    poke(file, at + 8, u64(at));
    await expectRefused(file, /lane 1 undo log's chain of extensions loops/);
  }, SAFETY_NET_MS + 10_000);

  test("an object's allocation header of size 0 (run_iterate_used under pmemobj_next never advances)", async () => {
    const { file, small } = healthyPool('dmg-obj-size');
    poke(file, small - COMPACT_HEADER, u64(0));
    await expectRefused(file, /has an object at \d+ whose header gives 0 bytes/);
  }, SAFETY_NET_MS + 10_000);

  test("a run's block size of 0 (memblock_run_bitmap divides by it: SIGFPE)", async () => {
    const { file, run } = healthyPool('dmg-run-bs0');
    poke(file, run, u64(0));
    await expectRefused(file, /is a run of block size 0/);
  }, SAFETY_NET_MS + 10_000);

  test.each([64, 1])("a run's block size changed to %i (run_iterate_used reads headers inside objects, of size 0)", async (bs) => {
    const { file, run } = healthyPool(`dmg-run-bs${bs}`);
    poke(file, run, u64(bs));
    await expectRefused(file, new RegExp(`has an object at \\d+ whose header gives 0 bytes, not a whole number of its ${bs}-byte blocks`));
  }, SAFETY_NET_MS + 10_000);

  test('a zone header of a bad magic (pmemobj_open refuses it, but only after writing the pool)', async () => {
    const { file, heapOffset } = healthyPool('dmg-zone-magic');
    poke(file, heapOffset + 1024, Buffer.from([0x01]));
    await expectRefused(file, /zone 0 has a bad magic/);
  }, SAFETY_NET_MS + 10_000);
});

// A pool that is open is changed by its owner at any moment: a check of
// it would read the heap half-written (a run's bitmap before its header,
// say) and find damage that is not there. Here the open pool's run is made
// to look damaged, as such a moment would, and put back before it closes:
// another open or check, in this process or another, is ERR_PMEM_LOCKED.
describe('a pool open elsewhere is not judged', () => {
  test('open and check of a pool open in this process or another are ERR_PMEM_LOCKED, whatever its heap holds meanwhile', async () => {
    const { file, run } = healthyPool('dmg-open-elsewhere');
    const owner = ObjPool.open(file, { layout: 'damage' });
    const word = Buffer.alloc(8);
    const fd = fs.openSync(file, 'r+');
    try {
      fs.readSync(fd, word, 0, 8, run);
      fs.writeSync(fd, u64(0), 0, 8, run); // a run of block size 0, as a half-written heap may show
      expectPmemError(() => ObjPool.check(file), 'ERR_PMEM_LOCKED');
      expectPmemError(() => ObjPool.open(file).close(), 'ERR_PMEM_LOCKED');
      // The native open alone: its reservation of holes waits for libpmemobj's lock too.
      expect(() => binding.objOpen(file, null, true).close()).toThrow(expect.objectContaining({ code: 'ERR_PMEM_LOCKED', syscall: 'flock' }));
      const r = await openInChild(file);
      expect(r).toMatchObject({ opened: false, code: 'ERR_PMEM_LOCKED', killed: false });
    } finally {
      fs.writeSync(fd, word, 0, 8, run);
      fs.closeSync(fd);
      owner.close();
    }
    expect(ObjPool.check(file)).toBe(true);
    ObjPool.open(file).close();
  }, SAFETY_NET_MS + 10_000);
});

// root_offset and root_size are not covered by the descriptor's checksum.
// A root that is not an allocated object of at least root_size bytes would
// be handed out by root(), and writes through it would land in free heap
// space or in the pool's own header.
describe('a damaged root is refused, before libpmemobj writes the pool', () => {
  test.each([
    ['one byte of root_offset zeroed (free heap space)', (root: number) => u64(root - (root % 256))],
    ['root_offset naming the pool header', () => u64(8)],
    ['root_offset inside the root', (root: number) => u64(root + 8)],
    ['root_offset past the end of the pool', () => u64(2 ** 40)],
  ])('%s', async (_what, offset) => {
    const { file, root } = healthyPool('dmg-root');
    poke(file, ROOT_OFFSET, offset(root));
    await expectRefused(file, /its root offset \d+ \(root size 256\) is not the start of an allocated object/);
    expect(ObjPool.check(file)).toBe(false);
  }, SAFETY_NET_MS + 10_000);

  test('root_offset naming a smaller object, and root_size larger than the root', async () => {
    const { file, small, root } = healthyPool('dmg-root-small');
    poke(file, ROOT_OFFSET, u64(small));
    await expectRefused(file, new RegExp(`its root at ${small} has \\d+ usable bytes, fewer than its root size 256`));
    poke(file, ROOT_OFFSET, u64(root));
    poke(file, ROOT_SIZE, u64(4 * MiB));
    await expectRefused(file, new RegExp(`its root at ${root} has \\d+ usable bytes, fewer than its root size ${4 * MiB}`));
    poke(file, ROOT_SIZE, u64(0));
    await expectRefused(file, new RegExp(`its root offset is ${root}, but its root size is 0`));
    expect(ObjPool.check(file)).toBe(false);
  }, SAFETY_NET_MS + 10_000);

  // Recovery may set the root (a crash inside pmemobj_root leaves the redo
  // log that sets it), so with a log to apply the root is checked only once
  // pmemobj_open has applied it. An undo log entry that sets root_offset
  // (OP_SET, type 0, its offset in the low bits) stands for one.
  test('a log that recovery applies is applied first: a good root opens, a damaged one is refused after it', () => {
    const setAtOpen = (file: string, lanesOffset: number, target: number, value: number) => {
      // The entry, then an offset word of 0 that ends the log.
      const entry = Buffer.concat([u64(target), u64(value), u64(0)]);
      poke(file, lanesOffset + UNDO_AT + 64, entry);
    };
    const good = healthyPool('dmg-root-recovered-good');
    setAtOpen(good.file, good.lanesOffset, ROOT_SIZE, 200);
    const pool = ObjPool.open(good.file);
    expect([pool.root(), pool.rootSize]).toEqual([good.root, 200]);
    pool.close();
    // A root in free heap space, past the last object of its run: only the
    // walk of the heap tells it from an object.
    const bad = healthyPool('dmg-root-recovered-bad');
    const free = bad.run + 200_000;
    setAtOpen(bad.file, bad.lanesOffset, ROOT_OFFSET, free);
    expectPmemError(() => ObjPool.open(bad.file), 'ERR_PMEM_CORRUPT');
    expect(() => ObjPool.open(bad.file)).toThrow(
      new RegExp(`is a damaged pool: its root offset ${free} \\(root size 256\\) is not the start of an allocated object`),
    );
  });

  test('the native open refuses a root outside the heap or inside another object on its own', () => {
    const { file, small } = healthyPool('dmg-root-native');
    for (const [offset, because] of [
      [8, /its root at 8 of 256 bytes lies outside the heap/],
      [small + 8, new RegExp(`its root at ${small + 8} lies inside the object at ${small}`)],
      [small - 16, new RegExp(`its root at ${small - 16} of 256 bytes overlaps the object at ${small}`)],
    ] as const) {
      poke(file, ROOT_OFFSET, u64(offset));
      let thrown: unknown;
      try {
        binding.objOpen(file, null, false).close();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toMatchObject({ code: 'ERR_PMEM_CORRUPT', path: file });
      expect((thrown as Error).message).toMatch(because);
      expectPmemError(() => ObjPool.open(file), 'ERR_PMEM_CORRUPT');
    }
  });

  test('roots in a run and in chunks of their own, grown and moved, still open', () => {
    const file = tmpFile('dmg-root-sizes');
    let pool = ObjPool.create(file, { layout: 'damage', size: 16 * MiB, sds: false });
    for (const size of [8, 100, 4000, 300_000, 1_000_000]) {
      const root = pool.root(size);
      pool.write(root + size - 1, Buffer.from([size % 251]));
      pool.close();
      pool = ObjPool.open(file);
      expect(pool.rootSize).toBe(size);
      expect(pool.root()).toBe(root);
      expect(pool.view(root + size - 1, 1)[0]).toBe(size % 251);
    }
    pool.close();
    expect(ObjPool.check(file)).toBe(true);
  });
});

describe('healthy pools still open', () => {
  test('a pool with objects, frees and transactions opens, in a child and here', async () => {
    const { file } = healthyPool('dmg-healthy');
    expect(await openInChild(file)).toMatchObject({ opened: true, killed: false });
    const pool = ObjPool.open(file, { layout: 'damage' });
    expect(pool.rootSize).toBe(256);
    pool.close();
    expect(ObjPool.check(file, 'damage')).toBe(true);
  }, SAFETY_NET_MS + 10_000);

  test('a pool killed inside transactions reopens and is recovered', async () => {
    const file = tmpFile('dmg-killed');
    const pool = ObjPool.create(file, { layout: 'damage', size: 16 * MiB, sds: false });
    const obj = pool.alloc(200_000);
    pool.close();
    // A child writes the object in transactions until it is killed.
    const script = `
      const { ObjPool } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const pool = ObjPool.open(${JSON.stringify(file)});
      for (let i = 1; ; i++) {
        pool.transaction((tx) => { tx.write(${obj}, Buffer.alloc(200000, i & 0xff)); });
        if (i === 3) process.stdout.write('going\\n');
      }`;
    const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
    c.kill('SIGKILL');
    await new Promise((resolve) => c.once('exit', resolve));
    expect(await openInChild(file)).toMatchObject({ opened: true, killed: false });
    const again = ObjPool.open(file);
    const bytes = again.view(obj, 200_000);
    // All or nothing: every byte is the same.
    expect(bytes.every((b) => b === bytes[0])).toBe(true);
    again.close();
  }, SAFETY_NET_MS + 10_000);
});
