// ObjTx and PersistentList under hostile use: getters that end a
// transaction while its method runs, mutations during a walk, and damaged
// list pointers (seeded), which must be ERR_PMEM_CORRUPT, never an endless
// walk or a read outside an object.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ObjPool, PersistentList } from '../lib';
import { expectPmemError, expectThrowName, rng, tmpFile } from './helpers';

const MiB = 1024 * 1024;

function fresh(name: string): ObjPool {
  return ObjPool.create(tmpFile(name), { layout: 'hostile', size: 16 * MiB });
}

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

describe('ObjTx', () => {
  test('a getter on alloc options that aborts the transaction leaves no transaction open', () => {
    const pool = fresh('getter-abort');
    const obj = pool.alloc(64, { zero: true });
    expectPmemError(
      () =>
        pool.transaction((tx) => {
          tx.write(obj, Buffer.from([1]));
          return tx.alloc(32, {
            get zero() {
              tx.abort();
              return false;
            },
          });
        }),
      'ERR_PMEM_TX_ENDED',
    );
    // No native transaction survived the aborted one: pool.alloc is allowed,
    // and a later transaction commits only its own work.
    const before = pool.stats().currAllocated;
    const p = pool.alloc(8);
    pool.free(p);
    pool.transaction((tx) => tx.write(obj, Buffer.from([2])));
    expect(pool.stats().currAllocated).toBe(before);
    expect(pool.view(obj, 1)[0]).toBe(2);
    pool.close();
  });

  test("a nested function's result whose then getter throws aborts the transaction, as at the top level", () => {
    const pool = fresh('nested-then');
    const obj = pool.alloc(8, { zero: true });
    const thrower = {
      get then(): never {
        throw new Error('then');
      },
    };
    expect(() => pool.transaction(() => thrower)).toThrow('then');
    let err: unknown;
    try {
      pool.transaction((tx) => {
        tx.write(obj, Buffer.from([7]));
        expect(() => pool.transaction(() => thrower)).toThrow('then');
        return 'returned';
      });
    } catch (e) {
      err = e;
    }
    // The outer function caught the error and returned: not committed.
    expect((err as { code?: string }).code).toBe('ERR_PMEM_TX_ENDED');
    expect(pool.view(obj, 1)[0]).toBe(0);
    pool.close();
  });

  test('alloc refuses options it does not know', () => {
    const pool = fresh('alloc-options');
    expectThrowName(() => pool.alloc(8, { zeroed: true } as never), 'TypeError');
    expectThrowName(() => pool.transaction((tx) => tx.alloc(8, { zeroed: true } as never)), 'TypeError');
    expectThrowName(() => pool.alloc(8, null as never), 'TypeError');
    pool.close();
  });
});

// pmemobj_open writes its runtime state into the pool (after the
// descriptor) before it checks the descriptor and the heap header: these
// are refused before libpmemobj maps the file.
describe('refused opens leave the file byte-identical', () => {
  function pool(name: string): string {
    const file = tmpFile(name);
    ObjPool.create(file, { layout: 'app', sds: false }).close();
    return file;
  }

  function fletcher64(buf: Buffer, skip: number): bigint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < buf.length; i += 4) {
      if (i !== skip && i !== skip + 4) lo = (lo + buf.readUInt32LE(i)) >>> 0;
      hi = (hi + lo) >>> 0;
    }
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  function refused(file: string, code: string, because: RegExp, layout?: string): void {
    const before = fs.readFileSync(file);
    let err: unknown;
    try {
      ObjPool.open(file, layout === undefined ? {} : { layout });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe(code);
    expect((err as Error).message).toMatch(because);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  }

  test('a layout with a lone surrogate is a TypeError: it has no UTF-8 form', () => {
    const file = tmpFile('surrogate');
    expectThrowName(() => ObjPool.create(file, { layout: 'v\ud800' }), 'TypeError');
    expect(fs.existsSync(file)).toBe(false);
    ObjPool.create(file, { layout: 'v\ufffd' }).close();
    expectThrowName(() => ObjPool.open(file, { layout: 'v\udfff' }), 'TypeError');
    expectThrowName(() => ObjPool.check(file, 'v\udfff'), 'TypeError');
    ObjPool.open(file, { layout: 'v\ufffd' }).close();
  });

  test('another layout', () => {
    const file = pool('other-layout');
    refused(file, 'ERR_PMEM_LAYOUT', /its layout is "app", not "ap"/, 'ap');
    refused(file, 'ERR_PMEM_LAYOUT', /not "app2"/, 'app2');
    ObjPool.open(file, { layout: 'app' }).close();
  });

  test("a descriptor whose checksum does not match, or that places the heap off a page", () => {
    const file = pool('descriptor');
    const image = fs.readFileSync(file);
    const desc = image.subarray(4096, 4096 + 2048);
    desc[100] ^= 1; // in the layout field
    fs.writeFileSync(file, image);
    refused(file, 'ERR_PMEM_CORRUPT', /descriptor's checksum does not match/);
    desc[100] ^= 1;
    desc.writeBigUInt64LE(desc.readBigUInt64LE(1040) + 64n, 1040); // heap_offset
    desc.writeBigUInt64LE(fletcher64(desc, 2040), 2040);
    fs.writeFileSync(file, image);
    refused(file, 'ERR_PMEM_CORRUPT', /heap offset \d+ is not on a page/);
  });

  test("a heap header whose checksum or signature does not match", () => {
    const file = pool('heap-header');
    const image = fs.readFileSync(file);
    const heap = Number(image.readBigUInt64LE(4096 + 1040));
    image[heap + 200] ^= 0x10; // reserved bytes, under the checksum
    fs.writeFileSync(file, image);
    refused(file, 'ERR_PMEM_CORRUPT', /heap header's checksum does not match/);
    image[heap + 200] ^= 0x10;
    const header = image.subarray(heap, heap + 1024);
    header[0] = 0x6d; // 'm'
    header.writeBigUInt64LE(fletcher64(header, 1016), 1016);
    fs.writeFileSync(file, image);
    refused(file, 'ERR_PMEM_CORRUPT', /heap header's signature/);
  });
});

describe('PersistentList values', () => {
  test('a value whose length getter changes its answer is read once', () => {
    const pool = fresh('length-getter');
    const list = PersistentList.inRoot(pool);
    const value = Buffer.alloc(100, 1);
    let reads = 0;
    Object.defineProperty(value, 'length', { get: () => (++reads === 3 ? 5000 : 100) });
    list.push(value);
    list.unshift(value);
    const values = list.toArray() as Buffer[];
    expect(values.map((v) => v.length)).toEqual([100, 100]);
    expect(values[0].equals(Buffer.alloc(100, 1))).toBe(true);
    // Over a resizable ArrayBuffer, shrunk: the bytes it holds now.
    type Resizable = ArrayBuffer & { resize(n: number): void };
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(16, { maxByteLength: 64 });
    const u = new Uint8Array(rab);
    u.fill(7);
    rab.resize(4);
    list.push(u);
    expect(list.pop()).toEqual(Buffer.alloc(4, 7));
    pool.close();
  });
});

describe('PersistentList walks', () => {
  test('values pushed during a walk are visited, not taken for a cycle', () => {
    const pool = fresh('push-walk');
    const list = PersistentList.inRoot(pool);
    for (const v of ['a', 'b', 'c']) list.push(v);
    const seen: unknown[] = [];
    for (const v of list) {
      seen.push(v);
      if (v === 'a') list.push('late');
    }
    expect(seen).toEqual(['a', 'b', 'c', 'late']);
    pool.close();
  });

  test('removing the node just visited is allowed; removing the next one is ERR_PMEM_INVALID', () => {
    const pool = fresh('remove-walk');
    const list = PersistentList.inRoot(pool);
    for (const v of ['a', 'b', 'c', 'd']) list.push(v);
    const seen: unknown[] = [];
    for (const n of list.nodes()) {
      seen.push(list.value(n));
      list.remove(n);
      list.push(`again-${String(seen.length)}`);
      if (seen.length === 6) break;
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'again-1', 'again-2']);
    expect(list.toArray()).toEqual(['again-3', 'again-4', 'again-5', 'again-6']);
    expectPmemError(() => {
      for (const n of list.nodes()) list.remove(list.next(n));
    }, 'ERR_PMEM_INVALID');
    pool.close();
  });

  test('a cycle under a damaged length of 2^53 - 1 is ERR_PMEM_CORRUPT, and so is a length the nodes do not match', () => {
    const pool = fresh('huge-length');
    const list = PersistentList.inRoot(pool);
    const a = list.push('a');
    list.push('b');
    pool.write(list.head + 16, u64(2 ** 53 - 1));
    pool.write(a, u64(a)); // a.next -> a
    expectPmemError(() => list.toArray(), 'ERR_PMEM_CORRUPT');
    pool.write(list.head + 16, u64(Math.floor(pool.size / 24))); // as many as the pool could hold
    expectPmemError(() => list.toArray(), 'ERR_PMEM_CORRUPT');
    pool.close();

    const other = fresh('short-length');
    const l2 = PersistentList.inRoot(other);
    l2.push('a');
    l2.push('b');
    other.write(l2.head + 16, u64(3));
    expectPmemError(() => l2.toArray(), 'ERR_PMEM_CORRUPT');
    other.close();
  });
});

// Seeded damage of a list's head and node headers, in place in an open
// pool: every operation on the damaged list must succeed, or throw
// ERR_PMEM_CORRUPT, and never leave the pool's objects. Each mutation runs
// in a transaction that is aborted after it, and the damage is undone, so
// every image starts from the same list.
describe('PersistentList damage (seeded)', () => {
  const IMAGES = 400;

  test(`${IMAGES} damaged lists: each operation succeeds or is ERR_PMEM_CORRUPT`, () => {
    const pool = fresh('damage');
    const list = PersistentList.inRoot(pool);
    const values: string[] = [];
    for (let i = 0; i < 24; i++) {
      values.push(`value-${i}`);
      list.push(values[i]);
    }
    // Free a few so that the pool holds freed objects to point at.
    const freed: number[] = [];
    for (const n of [...list.nodes()].filter((_, i) => i % 6 === 5)) {
      values.splice(values.indexOf(list.value(n) as string), 1);
      freed.push(n);
      list.remove(n);
    }
    const spare = pool.alloc(200, { zero: true });
    const nodes = [...list.nodes()];
    const fields: number[] = [list.head, list.head + 8, list.head + 16];
    for (const n of nodes) fields.push(n, n + 8, n + 16);
    const random = rng(0x5eed);
    const pick = <T>(a: T[]): T => a[Math.floor(random() * a.length)];
    const candidates = (): number => {
      switch (Math.floor(random() * 9)) {
        case 0: return 0;
        case 1: return pick(nodes);
        case 2: return pick(nodes) + 8 * (1 + Math.floor(random() * 3));
        case 3: return pick(freed);
        case 4: return spare;
        case 5: return 4096; // the pool's header
        case 6: return Math.floor(random() * pool.size);
        case 7: return pool.size + Math.floor(random() * 4096);
        default: return Math.floor(random() * 2 ** 53);
      }
    };
    const ops: Array<[string, () => unknown]> = [
      ['toArray', () => list.toArray()],
      ['reversed', () => [...list.reversed()]],
      ['nodesReversed', () => [...list.nodesReversed()]],
      ['push', () => list.push('pushed')],
      ['unshift', () => list.unshift('unshifted')],
      ['shift', () => list.shift()],
      ['pop', () => list.pop()],
    ];
    const outcomes = new Map<string, number>();
    let corrupt = 0;
    for (let image = 0; image < IMAGES; image++) {
      const damaged: Array<[number, Buffer]> = [];
      for (let k = 1 + Math.floor(random() * 2); k > 0; k--) {
        const at = pick(fields);
        damaged.push([at, Buffer.from(pool.view(at, 8))]);
        // A size/kind word gets a random size half the time, else any pointer.
        const v = at % 24 === 16 && at !== list.head + 16 && random() < 0.5 ? Math.floor(random() * 2 ** 32) : candidates();
        pool.write(at, u64(v));
      }
      for (const [name, op] of ops) {
        let code = 'ok';
        try {
          pool.transaction((tx) => {
            op();
            tx.abort();
          });
        } catch (e) {
          code = (e as { code?: string }).code ?? (e as Error).name;
        }
        if (code !== 'ok' && code !== 'ERR_PMEM_CORRUPT') {
          throw new Error(`image ${image}, ${name}: ${code} on ${JSON.stringify(damaged.map(([a]) => a))}`);
        }
        if (code === 'ERR_PMEM_CORRUPT') corrupt++;
        outcomes.set(`${name} ${code}`, (outcomes.get(`${name} ${code}`) ?? 0) + 1);
      }
      for (const [at, old] of damaged.reverse()) pool.write(at, old);
      expect(pool.stats().currAllocated).toBeGreaterThan(0);
    }
    // The damage was undone each time: the list is as it was.
    expect(list.toArray()).toEqual(values);
    // The damage did reach the checks, and not every image was refused.
    expect(corrupt).toBeGreaterThan(IMAGES);
    expect(outcomes.get('toArray ok') ?? 0).toBeGreaterThan(0);
    pool.close();
  });
});

// process.exit() inside a transaction's function runs the 'exit' listeners
// with that transaction open; it is rolled back as the pool closes. A
// transaction a listener begins would join it, return as if committed, and
// be lost: it is refused instead. One begun after the outer one ended commits.
describe('a transaction begun while the process exits', () => {
  test('inside an open transaction it is ERR_PMEM_TX_ENDED, and the pool keeps what it held', () => {
    const file = tmpFile('exiting.pool');
    const pool = ObjPool.create(file, { layout: 'exit' });
    pool.write(pool.root(16), Buffer.from('initial'));
    pool.close();
    const script = `
      const { ObjPool } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const pool = ObjPool.open(${JSON.stringify(file)}, { layout: 'exit' });
      process.on('exit', () => {
        try {
          console.log(pool.transaction((tx) => { tx.write(pool.root(), Buffer.from('saved!!')); return 'returned'; }));
        } catch (e) {
          console.log(e.code, e.message);
        }
      });
      pool.transaction((tx) => { tx.write(pool.root(), Buffer.from('doomed!')); process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^ERR_PMEM_TX_ENDED the process is exiting inside the transaction on '.*', which is rolled back: a transaction begun now would join it and be lost with it\n$/);
    const again = ObjPool.open(file, { layout: 'exit' });
    expect(again.view(again.root(), 7).toString()).toBe('initial');
    again.close();
    // With no transaction open, one begun in an exit listener commits.
    const after = spawnSync(process.execPath, ['-e', `
      const { ObjPool } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const pool = ObjPool.open(${JSON.stringify(file)}, { layout: 'exit' });
      process.on('exit', () => console.log(pool.transaction((tx) => { tx.write(pool.root(), Buffer.from('saved!!')); return 'returned'; })));
      process.exit(0);`], { encoding: 'utf8' });
    expect([after.status, after.stdout, after.stderr]).toEqual([0, 'returned\n', '']);
    const last = ObjPool.open(file, { layout: 'exit' });
    expect(last.view(last.root(), 7).toString()).toBe('saved!!');
    last.close();
  });
});
