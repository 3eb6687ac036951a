// Options and arguments of the structures on a Region, and paths, as a
// hostile caller gives them: null for an option, getters that answer
// differently each time, a path with a NUL byte.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { AppendList, crc32c, KVStore, openMapping, SharedAppendList, Superblock, TieredCache, TxLog, Wal } from '../lib';
import type { Region } from '../lib/core/region';
import { CrashSim } from '../lib/testing';
import { tmpFile } from './helpers';

function thrown(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('an offset given as null is a TypeError, as for every other option', () => {
  test.each([
    ['Superblock.format', () => Superblock.format(new CrashSim(1 << 16), { offset: null, capacity: 100 } as never)],
    ['Superblock.open', () => Superblock.open(new CrashSim(1 << 16), { offset: null, capacity: 100 } as never)],
    ['Wal.format', () => Wal.format(new CrashSim(1 << 16), { offset: null } as never)],
    ['Wal.open (a region)', () => Wal.open(Wal.format(new CrashSim(1 << 16)).region, { offset: null } as never)],
    ['Wal.open (a path)', () => Wal.open(tmpFile('w'), { create: true, size: 1 << 16, offset: null } as never)],
  ])('%s', (_name, open) => {
    const err = thrown(open);
    expect(err).toBeInstanceOf(TypeError);
    expect(err?.message).toBe('offset must be a number, got null');
  });

  test('Wal.format: options not an object, and an unknown option, as Wal.open', () => {
    expect(() => Wal.format(new CrashSim(1 << 16), null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => Wal.format(new CrashSim(1 << 16), { offzet: 64 } as never)).toThrow(new TypeError("unknown option 'offzet'"));
  });
});

describe('Wal.recover(options) checks its options as Wal.open does', () => {
  test('null, an unknown option, and a flag that is not a boolean', () => {
    const w = Wal.format(new CrashSim(1 << 16));
    expect(() => w.recover(null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => w.recover({ readonly: true } as never)).toThrow(new TypeError("unknown option 'readonly'"));
    expect(() => w.recover({ readOnly: null } as never)).toThrow(new TypeError('readOnly must be a boolean'));
    expect(() => w.recover({ truncateOnCorruption: 1 } as never)).toThrow(new TypeError('truncateOnCorruption must be a boolean'));
    expect(w.recover({}).records).toBe(0);
  });

  test('a read-only recovery of a writable log that cut records off: an append does not bring them back', () => {
    for (const readOnly of [false, true]) {
      const sim = new CrashSim(1 << 16);
      const w = Wal.format(sim);
      for (const r of ['AAAA', 'BBBB', 'CCCC']) w.append(r);
      const at = sim.bytes.indexOf('BBBB');
      sim.bytes[at] = 0x58; // record 2 damaged, record 3 intact after it
      sim.persist(at, 1);
      expect(w.recover({ readOnly, truncateOnCorruption: true }).nextLsn).toBe(2);
      expect(w.append('XXXX')).toBe(2);
      expect([...Wal.open(sim).read()].map((r) => `${r.lsn}:${r.data.toString()}`)).toEqual(['1:AAAA', '2:XXXX']);
    }
  });
});

describe('TxLog reads offset and size once', () => {
  test('getters that answer 0 and then 1: the offset checked is the offset used', () => {
    const sim = new CrashSim(1 << 16);
    let reads = 0;
    const options = { get offset() { return reads++ === 0 ? 0 : 1; }, size: 4096 };
    const log = TxLog.format(sim, options);
    expect(log.offset).toBe(0);
    expect(reads).toBe(1);
    let sizeReads = 0;
    const log2 = TxLog.open(sim, { offset: 0, get size() { return sizeReads++ === 0 ? 4096 : 1 << 30; } });
    expect(log2.size).toBe(4096);
    expect(sizeReads).toBe(1);
  });

  test('a size that is no index is named as the size', () => {
    for (const size of [-1, 1.5, NaN, 2 ** 60]) {
      expect(() => TxLog.format(new CrashSim(1 << 16), { offset: 0, size })).toThrow(new RangeError(`size must be a non-negative safe integer, got ${size}`));
      expect(() => TxLog.open(new CrashSim(1 << 16), { offset: 0, size })).toThrow(new RangeError(`size must be a non-negative safe integer, got ${size}`));
    }
    expect(() => TxLog.format(new CrashSim(1 << 16), { offset: 0, size: '4096' } as never)).toThrow(new TypeError('size must be a number, got string'));
  });

  test('an unknown option is a TypeError, before anything is written or recovered', () => {
    const sim = new CrashSim(1 << 16);
    const log = TxLog.format(sim, { offset: 0, size: 4096 });
    log.run((w) => w.write(8192, Buffer.from('kept')));
    const before = Buffer.from(sim.bytes);
    expect(() => TxLog.format(sim, { offset: 0, size: 4096, readOnly: true } as never)).toThrow(new TypeError("unknown option 'readOnly'"));
    expect(() => TxLog.open(sim, { offset: 0, size: 4096, sise: 8192 } as never)).toThrow(new TypeError("unknown option 'sise'"));
    expect(() => TxLog.open(sim, null as never)).toThrow(new TypeError('options must be an object'));
    expect(sim.bytes.equals(before)).toBe(true);
  });
});

describe('crc32c(data) reads the length of data through its own slot', () => {
  test('a missing or null data is a TypeError that says so', () => {
    expect(() => crc32c(null as never)).toThrow(new TypeError('data must be a Buffer or Uint8Array'));
    expect(() => crc32c(undefined as never)).toThrow(new TypeError('data must be a Buffer or Uint8Array'));
  });

  test('an own length property changes neither the default length nor the bound', () => {
    const b = Buffer.from('123456789');
    const expected = crc32c(b);
    Object.defineProperty(b, 'length', { value: 1 << 30 });
    expect(crc32c(b)).toBe(expected);
    expect(() => crc32c(b, 0, 10)).toThrow(RangeError);
  });

  test('an offset that is no index is named as the offset, also when the length is left out', () => {
    const b = Buffer.from('1234');
    expect(() => crc32c(b, 1n as never)).toThrow(new TypeError('offset must be a number, got bigint'));
    expect(() => crc32c(b, '1' as never)).toThrow(new TypeError('offset must be a number, got string'));
    expect(() => crc32c(b, -1)).toThrow(new RangeError('offset must be a non-negative safe integer, got -1'));
    expect(() => crc32c(b, 1.5)).toThrow(new RangeError('offset must be a non-negative safe integer, got 1.5'));
    expect(() => crc32c(b, 2 ** 32)).toThrow(new RangeError('range [4294967296, +0) is outside [0, 4)'));
    expect(() => crc32c(b, 5)).toThrow(new RangeError('range [5, +0) is outside [0, 4)'));
    expect(crc32c(b, 4)).toBe(crc32c(Buffer.alloc(0)));
    expect(crc32c(b, -0)).toBe(crc32c(b));
  });
});

describe('a path with a NUL byte is refused, not cut short at it', () => {
  test.each([
    ['openMapping', (p: string) => openMapping(p, { create: true, size: 4096 })],
    ['Wal.open', (p: string) => Wal.open(p, { create: true, size: 1 << 16 })],
    ['KVStore.open', (p: string) => KVStore.open(p, { create: true, size: 16 << 20 })],
  ])('%s: TypeError, and no file is made at the part before it', (_name, open) => {
    const f = tmpFile('nul');
    const err = thrown(() => open(`${f}\0.tail`));
    expect(err).toBeInstanceOf(TypeError);
    expect(err?.message).toBe('path must not contain a NUL byte');
    expect(fs.existsSync(f)).toBe(false);
    expect(fs.readdirSync(path.dirname(f)).filter((n) => n.startsWith(path.basename(f)))).toEqual([]);
  });
});

describe('a Region whose length its bytes do not hold is refused before anything is written', () => {
  /** A wrapper over 64 KiB that claims `length`. */
  const lying = (length: unknown, bytes: Buffer = Buffer.alloc(1 << 16, 0x5a)): Region => ({
    bytes, length, granularity: 'cache-line', flush() {}, drain() {}, persist() {},
  }) as unknown as Region;
  const uses: [string, (r: Region) => unknown][] = [
    ['Superblock.format', (r) => Superblock.format(r, { capacity: 100 })],
    ['Superblock.open', (r) => Superblock.open(r, { capacity: 100 })],
    ['Wal.format', (r) => Wal.format(r)],
    ['Wal.open', (r) => Wal.open(r)],
    ['AppendList.format', (r) => AppendList.format(r)],
    ['AppendList.open', (r) => AppendList.open(r)],
    ['SharedAppendList.format', (r) => SharedAppendList.format(r)],
    ['SharedAppendList.open', (r) => SharedAppendList.open(r)],
    ['TxLog.format', (r) => TxLog.format(r, { offset: 0, size: 1 << 15 })],
    ['TxLog.open', (r) => TxLog.open(r, { offset: 0, size: 1 << 15 })],
    ['KVStore.openRegion', (r) => KVStore.openRegion(r, { create: true, segmentSize: 4096 })],
    ['TieredCache', (r) => new TieredCache({ region: r, dramEntries: 8 })],
  ];
  test.each(uses)('%s', (_name, use) => {
    // 1 MiB claimed over 64 KiB (a Wal took 480 appends and then failed;
    // its header then refused every open of the true length), NaN, a
    // string, a fraction, a negative length.
    for (const length of [1 << 20, (1 << 16) + 1, NaN, '65536', 4096.5, -1, undefined]) {
      const bytes = Buffer.alloc(1 << 16, 0x5a);
      const err = thrown(() => use(lying(length, bytes)));
      expect([String(length), err?.name, err?.message]).toEqual([
        String(length), 'TypeError',
        expect.stringMatching(/^region must be a Region \(bytes, a length they hold, flush, drain, persist\): its length .* is not a whole number of bytes from 0 to the 65536 its bytes hold$/),
      ]);
      expect(bytes.equals(Buffer.alloc(1 << 16, 0x5a))).toBe(true);
    }
    // Bytes that start off a word boundary: Wal.format wrote 23 bytes and
    // then failed; a TxLog took transactions that no open could recover.
    for (const shift of [1, 4]) {
      const under = Buffer.alloc((1 << 16) + 8, 0x5a);
      const err = thrown(() => use(lying(1 << 15, under.subarray(shift, shift + (1 << 16)))));
      expect([shift, err?.name, err?.message]).toEqual([shift, 'TypeError',
        `region must be a Region (bytes, a length they hold, flush, drain, persist): its bytes start at byte ${shift} of their memory, which is not a multiple of 8`]);
      expect(under.equals(Buffer.alloc((1 << 16) + 8, 0x5a))).toBe(true);
    }
    // Bytes that are no Buffer, functions missing, no object at all.
    expect(thrown(() => use({ ...lying(1024), bytes: new Uint8Array(1 << 16) } as unknown as Region))?.message).toMatch(/its bytes are not a Buffer$/);
    expect(thrown(() => use({ ...lying(1024), persist: undefined } as unknown as Region))?.message).toMatch(/flush, drain and persist must be functions$/);
    expect(thrown(() => use(null as unknown as Region))?.name).toBe('TypeError');
  });

  test('a length short of its bytes is a region of that length', () => {
    const r = lying(1 << 15);
    const wal = Wal.format(r);
    wal.append('x');
    expect([...Wal.open(lying(1 << 15, r.bytes)).read()].map((rec) => rec.data.toString())).toEqual(['x']);
  });
});

describe('Superblock.size checks the capacity as format and open do', () => {
  test.each([NaN, Infinity, -1, 1.5, '100', null, {}, 0, 2 ** 53, 65537])('%p', (capacity) => {
    const err = thrown(() => Superblock.size(capacity as number));
    expect(err?.name).toBe(typeof capacity === 'number' ? 'RangeError' : 'TypeError');
    expect(err?.message).toBe(thrown(() => Superblock.format(new CrashSim(1 << 20), { capacity: capacity as number }))?.message);
  });

  test('the capacities it takes give the bytes format writes', () => {
    expect([1, 64, 65, 65536].map((c) => Superblock.size(c))).toEqual([256, 256, 384, 2 * (64 + 65536)]);
  });
});

describe('Mapping.copy bounds src by its own length, not a length property', () => {
  test('a view whose length getter says less or more copies its own bytes, where they fit', () => {
    const file = tmpFile('copy-own-length');
    const m = openMapping(file, { create: true, size: 1 << 16 });
    try {
      class Small extends Uint8Array {
        override get length(): number {
          return 1;
        }
      }
      class Big extends Uint8Array {
        override get length(): number {
          return 1 << 20;
        }
      }
      // 16 bytes that fit at the end: copied, whatever the getter says.
      m.copy((1 << 16) - 16, new Big(16).fill(2));
      expect(m.view((1 << 16) - 16, 16).equals(Buffer.alloc(16, 2))).toBe(true);
      // 32 bytes that do not fit: refused with their own length.
      expect(() => m.copy((1 << 16) - 4, new Small(32).fill(1))).toThrow('range [65532, +32) is outside [0, 65536)');
      expect(m.view((1 << 16) - 4, 4).equals(Buffer.alloc(4, 2))).toBe(true);
    } finally {
      m.close();
      fs.rmSync(file, { force: true });
    }
  });
});
