import { AppendList, crc32c, openMapping, Superblock } from '../lib';
import { expectPmemError, rng, tmpFile } from './helpers';

const CAPACITY = 3000; // spans 47 cache lines

function payload(version: number): Buffer {
  const p = Buffer.alloc(CAPACITY - (version % 7));
  for (let i = 0; i < p.length; i++) p[i] = (i * 31 + version) & 0xff;
  return p;
}

test('format, write, reopen: the newest payload survives', () => {
  const file = tmpFile('sb');
  const m = openMapping(file, { size: 65536, create: true });
  const sb = Superblock.format(m, { offset: 4096, capacity: CAPACITY });
  expect(sb.read()).toBeUndefined();
  expect(sb.version).toBe(0);
  for (let v = 1; v <= 5; v++) sb.write(payload(v));
  expect(sb.version).toBe(5);
  m.close();
  const again = openMapping(file);
  const sb2 = Superblock.open(again, { offset: 4096, capacity: CAPACITY });
  expect(sb2.version).toBe(5);
  expect(sb2.read()).toEqual(payload(5));
  sb2.write(Buffer.alloc(0));
  expect(Superblock.open(again, { offset: 4096, capacity: CAPACITY }).read()).toEqual(Buffer.alloc(0));
  again.close();
});

test('a damaged newest replica falls back to the other one', () => {
  const m = openMapping(tmpFile('sb-damage'), { size: 65536, create: true });
  const sb = Superblock.format(m, { capacity: 256 });
  sb.write(Buffer.from('first'));
  sb.write(Buffer.from('second')); // replica 1; replica 0 retired
  // Recommit replica 0 (as a crash between steps 2 and 3 would leave it), then damage replica 1's payload.
  m.buffer.writeBigUInt64LE(1n, 24);
  m.buffer[Superblock.size(256) / 2 + 64] ^= 0xff;
  const reopened = Superblock.open(m, { capacity: 256 });
  expect(reopened.read()!.toString()).toBe('first');
  expect(reopened.version).toBe(1);
  m.close();
});

test('no valid committed replica is ERR_PMEM_CORRUPT', () => {
  const m = openMapping(tmpFile('sb-corrupt'), { size: 65536, create: true });
  const sb = Superblock.format(m, { capacity: 256 });
  sb.write(Buffer.from('only'));
  m.buffer[64] ^= 1; // replica 0's payload
  expectPmemError(() => Superblock.open(m, { capacity: 256 }), 'ERR_PMEM_CORRUPT');
  m.buffer[64] ^= 1;
  m.buffer.writeBigUInt64LE(7n, 24); // a flag that is neither 0 nor 1
  expectPmemError(() => Superblock.open(m, { capacity: 256 }), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('a replica whose checksummed version no write reaches (2^53 - 1 and up) is damage: the other one is read, and with none left ERR_PMEM_CORRUPT', () => {
  const m = openMapping(tmpFile('sb-version'), { size: 65536, create: true });
  const sb = Superblock.format(m, { capacity: 256 });
  sb.write(Buffer.from('first'));
  sb.write(Buffer.from('second')); // replica 1
  const r1 = Superblock.size(256) / 2;
  const sign = (base: number, version: bigint): void => {
    m.buffer.writeBigUInt64LE(version, base + 8);
    const len = m.buffer.readUInt32LE(base + 4);
    m.buffer.writeUInt32LE(crc32c(m.buffer, base + 64, len, crc32c(m.buffer, base, 16)), base + 16);
  };
  m.buffer.writeBigUInt64LE(1n, 24); // replica 0 committed again, as a crash between a write's steps 2 and 3 leaves it
  for (const v of [2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) {
    sign(r1, v);
    const s = Superblock.open(m, { capacity: 256 });
    expect([s.read()?.toString(), s.version]).toEqual(['first', 1]);
  }
  // The last version a write may make: open, and no write after it.
  sign(r1, 2n ** 53n - 2n);
  const last = Superblock.open(m, { capacity: 256 });
  expect([last.read()?.toString(), last.version]).toEqual(['second', 2 ** 53 - 2]);
  expectPmemError(() => last.write(Buffer.from('third')), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(0n, 24);
  sign(r1, 2n ** 53n);
  expectPmemError(() => Superblock.open(m, { capacity: 256 }), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('a superblock opened with another capacity than it was formatted with is ERR_PMEM_CORRUPT, and left as it was', () => {
  const m = openMapping(tmpFile('sb-capacity'), { size: 16384, create: true });
  const sb = Superblock.format(m, { offset: 64, capacity: 100 });
  sb.write(Buffer.from('one'));
  sb.write(Buffer.from('two')); // the current payload in replica 1, at 64 + 192
  m.buffer.fill(0xee, 64 + Superblock.size(100)); // the caller's bytes after it
  const before = Buffer.from(m.buffer);
  for (const capacity of [3000, 64]) {
    expectPmemError(() => Superblock.open(m, { offset: 64, capacity }), 'ERR_PMEM_CORRUPT');
    expect(Buffer.compare(m.buffer, before)).toBe(0);
  }
  expect(Superblock.open(m, { offset: 64, capacity: 100 }).read()?.toString()).toBe('two');
  // A superblock formatted before the capacity was recorded (zero there) opens with the capacity given.
  m.buffer.writeUInt32LE(0, 64 + 32);
  expect(Superblock.open(m, { offset: 64, capacity: 100 }).version).toBe(2);
  m.close();
});

test('bytes that are no superblock and hold no committed replica are ERR_PMEM_CORRUPT, left as they were; zero bytes open as an empty one', () => {
  const m = openMapping(tmpFile('sb-foreign'), { size: 16384, create: true });
  // Someone else's structure there (an AppendList), with nothing at a commit flag.
  const list = AppendList.format(m, 0);
  list.append('theirs');
  const before = Buffer.from(m.buffer);
  expectPmemError(() => Superblock.open(m, { capacity: 3000 }), 'ERR_PMEM_CORRUPT');
  expect(() => Superblock.open(m, { capacity: 3000 })).toThrow('superblock at 0: not a superblock (no replica committed, no capacity recorded by a format, and not all zero bytes)');
  expect(Buffer.compare(m.buffer, before)).toBe(0);
  expect(AppendList.open(m, 0).toArray().map(String)).toEqual(['theirs']);
  // One byte anywhere in the superblock's bytes, its last too.
  for (const at of [40, 64, 3135, 3136, Superblock.size(3000) - 1]) {
    m.buffer.fill(0, 0, Superblock.size(3000));
    m.buffer[at] = 7;
    expectPmemError(() => Superblock.open(m, { capacity: 3000 }), 'ERR_PMEM_CORRUPT');
  }
  // Zero bytes hold nothing: an empty superblock, as a format leaves it.
  m.buffer.fill(0, 0, Superblock.size(3000));
  const empty = Superblock.open(m, { capacity: 3000 });
  expect(empty.read()).toBeUndefined();
  empty.write(Buffer.from('mine'));
  expect(Superblock.open(m, { capacity: 3000 }).read()?.toString()).toBe('mine');
  // A formatted one whose first write a crash cut short before its flag (version 1 in replica 0) holds nothing too.
  const sb = Superblock.format(m, { offset: 8192, capacity: 100 });
  sb.write(Buffer.from('cut'));
  m.buffer.writeBigUInt64LE(0n, 8192 + 24);
  expect(Superblock.open(m, { offset: 8192, capacity: 100 }).read()).toBeUndefined();
  m.close();
});

test('random bytes are not a superblock, whatever their capacity word says; a formatted empty one of another capacity names its capacity', () => {
  const m = openMapping(tmpFile('sb-random'), { size: 16384, create: true });
  const random = rng(30);
  for (let i = 0; i < 4096; i++) m.buffer[i] = Math.floor(random() * 256);
  // The capacity word at 32 holds some number other than 100.
  m.buffer.writeUInt32LE(0xdeadbeef, 32);
  const before = Buffer.from(m.buffer);
  expectPmemError(() => Superblock.open(m, { capacity: 100 }), 'ERR_PMEM_CORRUPT');
  expect(() => Superblock.open(m, { capacity: 100 })).toThrow('superblock at 0: not a superblock (no superblock magic, and not a formatted empty one)');
  expect(Buffer.compare(m.buffer, before)).toBe(0);
  // Formatted with capacity 64 and never written: all zero but the capacity word.
  Superblock.format(m, { offset: 8192, capacity: 64 });
  expect(() => Superblock.open(m, { offset: 8192, capacity: 100 })).toThrow('superblock at 8192: it has a capacity of 64, not 100');
  m.close();
});

test('bad options and payloads are TypeError or RangeError', () => {
  const m = openMapping(tmpFile('sb-args'), { size: 8192, create: true });
  expect(() => Superblock.format(m, { capacity: 0 })).toThrow(RangeError);
  expect(() => Superblock.format(m, { capacity: Superblock.MAX_CAPACITY + 1 })).toThrow(RangeError);
  expect(() => Superblock.format(m, { capacity: 64, offset: 10 })).toThrow(RangeError);
  expect(() => Superblock.format(m, { capacity: 4096 })).toThrow(/does not fit/);
  expect(() => Superblock.format(m, { capacity: '64' as never })).toThrow(TypeError);
  expect(() => Superblock.format(m, null as never)).toThrow(TypeError);
  const sb = Superblock.format(m, { capacity: 64 });
  expect(() => sb.write(Buffer.alloc(65))).toThrow(RangeError);
  expect(() => sb.write('text' as never)).toThrow(TypeError);
  expect(Superblock.size(64)).toBe(256);
  m.close();
});
