import * as fs from 'node:fs';

import { crc32c, openMapping, Wal } from '../lib';
import { CrashSim, seededRandom } from '../lib/testing';
import { expectPmemError, tmpFile } from './helpers';

const records = (w: Wal) => [...w.read()].map((r) => `${r.lsn}:${r.data.toString()}`);

test('append, appendBatch, reopen, read from an LSN', () => {
  const file = tmpFile('wal');
  const w = Wal.open(file, { size: 65536, create: true });
  expect(w.append('first')).toBe(1);
  expect(w.appendBatch(['b1', Buffer.from('b2'), ''])).toEqual([2, 3, 4]);
  expect(w.appendBatch([])).toEqual([]);
  w.close();
  const again = Wal.open(file);
  expect(records(again)).toEqual(['1:first', '2:b1', '3:b2', '4:']);
  expect([...again.read(3)].map((r) => r.lsn)).toEqual([3, 4]);
  expect(again.nextLsn).toBe(5);
  expect(again.stats.lastRecovery).toMatchObject({ records: 4, nextLsn: 5, discardedTail: false });
  again.close();
});

test('wraps around many times, truncating as it goes; LSNs stay monotonic', () => {
  const m = openMapping(tmpFile('wal-wrap'), { size: 4096, create: true });
  let w = Wal.format(m);
  const live: string[] = [];
  let lsn = 0;
  for (let i = 0; i < 2000; i++) {
    const value = `v${i}-${'x'.repeat((i * 7) % 90)}`;
    try {
      lsn = w.append(value);
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
      w.truncate(w.nextLsn - 3);
      live.splice(0, live.length - 2);
      lsn = w.append(value);
    }
    live.push(`${lsn}:${value}`);
    expect(records(w).slice(-live.length)).toEqual(live);
    if (i % 97 === 0) {
      w = Wal.open(m); // recovery after every so many appends
      expect(records(w)).toEqual(live);
    }
  }
  expect(lsn).toBe(2000);
  m.close();
});

test('batches of long and short records, Buffers and strings, wrap and read back', () => {
  const m = openMapping(tmpFile('wal-mixed'), { size: 131072, create: true });
  let w = Wal.format(m);
  const live: string[] = [];
  for (let round = 0; round < 40; round++) {
    const batch = [0, 1, 2, 3, 4].map((j) => {
      const n = [40, 5000, 2048, 100, 17000][(round + j) % 5];
      const text = `${round}.${j}:${String.fromCharCode(97 + ((round + j) % 26)).repeat(n)}`;
      return j % 2 === 0 ? text : Buffer.from(text);
    });
    let lsns: number[];
    try {
      lsns = w.appendBatch(batch);
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
      w.truncate(w.nextLsn);
      live.length = 0;
      lsns = w.appendBatch(batch);
    }
    lsns.forEach((lsn, i) => live.push(`${lsn}:${batch[i].toString()}`));
    expect(records(w)).toEqual(live);
    if (round % 7 === 6) {
      w = Wal.open(m);
      expect(records(w)).toEqual(live);
    }
  }
  m.close();
});

test('checkpoint frees everything durably', () => {
  const m = openMapping(tmpFile('wal-cp'), { size: 8192, create: true });
  const w = Wal.format(m);
  w.appendBatch(['a', 'b', 'c']);
  w.checkpoint();
  expect(records(w)).toEqual([]);
  expect(w.stats.used).toBe(0);
  expect(w.headLsn).toBe(4);
  expect(records(Wal.open(m))).toEqual([]);
  expect(Wal.open(m).append('d')).toBe(4);
  m.close();
});

test('a full log refuses with ERR_PMEM_NO_SPACE, loses nothing and stays usable', () => {
  const m = openMapping(tmpFile('wal-full'), { size: 4096, create: true });
  const w = Wal.format(m);
  const before = [];
  for (;;) {
    try {
      before.push(w.append(Buffer.alloc(200, 1)));
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
      break;
    }
  }
  expectPmemError(() => w.appendBatch([Buffer.alloc(1), Buffer.alloc(1000)]), 'ERR_PMEM_NO_SPACE');
  expect([...w.read()].map((r) => r.lsn)).toEqual(before);
  expect([...Wal.open(m).read()].map((r) => r.lsn)).toEqual(before);
  w.truncate(before[0]);
  expect(w.append('fits again')).toBe(before.length + 1);
  m.close();
});

test('record size limits are RangeError; wrong types TypeError', () => {
  const m = openMapping(tmpFile('wal-limits'), { size: 8192, create: true });
  const w = Wal.format(m);
  expect(w.maxRecordSize).toBeLessThan(4096);
  expect(() => w.append(Buffer.alloc(w.maxRecordSize + 1))).toThrow(RangeError);
  w.append(Buffer.alloc(w.maxRecordSize));
  expect(() => w.append(42 as never)).toThrow(TypeError);
  expect(() => w.appendBatch('x' as never)).toThrow(TypeError);
  expect(() => w.truncate(-1)).toThrow(RangeError);
  expect(() => [...w.read(-1)]).toThrow(RangeError);
  expect(() => Wal.format(openMapping(tmpFile('wal-tiny'), { size: 300, create: true }))).toThrow(RangeError);
  m.close();
});

test('a torn tail is discarded and reported', () => {
  const m = openMapping(tmpFile('wal-torn'), { size: 8192, create: true });
  const w = Wal.format(m);
  w.appendBatch(['one', 'two', 'three']);
  const start = 256; // the ring starts after the superblock
  // Damage the payload of record 3, the tail: 'three' at its third record.
  const third = start + 2 * 40;
  m.buffer[third + 32] ^= 0xff;
  const r = Wal.open(m);
  expect(records(r)).toEqual(['1:one', '2:two']);
  expect(r.stats.lastRecovery).toMatchObject({ discardedTail: true, records: 2 });
  m.close();
});

test('a log whose ring wrapped and was closed cleanly reports no torn tail; a torn record after the wrap is reported', () => {
  const file = tmpFile('wal-wrapped');
  let w = Wal.open(file, { create: true, size: 1 << 14 });
  // Records of changing sizes: the tail lands inside records of an earlier lap.
  for (let i = 0; i < 500; i++) {
    w.append('x'.repeat(100 + (i % 50)));
    if (i % 10 === 0) w.checkpoint();
  }
  const kept = records(w);
  w.close();
  for (let k = 0; k < 2; k++) {
    w = Wal.open(file);
    expect(w.stats.lastRecovery).toMatchObject({ discardedTail: false, records: kept.length });
    w.close();
  }
  // The same after a truncateTail and a shorter append in its place.
  w = Wal.open(file);
  w.truncateTail(w.nextLsn - 3);
  w.append('y');
  const after = records(w);
  w.close();
  w = Wal.open(file);
  expect(w.stats.lastRecovery).toMatchObject({ discardedTail: false });
  expect(records(w)).toEqual(after);
  // A record begun at the tail and torn: its payload damaged.
  const lsn = w.append('z'.repeat(64));
  w.close();
  const m = openMapping(file);
  const at = m.buffer.indexOf(Buffer.from('z'.repeat(64)));
  expect(at).toBeGreaterThan(0);
  m.buffer[at] ^= 0xff;
  const r = Wal.open(m);
  expect(r.stats.lastRecovery).toMatchObject({ discardedTail: true, nextLsn: lsn });
  expect(records(r)).toEqual(after);
  m.close();
});

test('corruption in the middle is ERR_PMEM_CORRUPT with its LSN, or truncates on request', () => {
  const m = openMapping(tmpFile('wal-mid'), { size: 8192, create: true });
  const w = Wal.format(m);
  w.append('one');
  w.append('two');
  w.append('three');
  m.buffer[256 + 40 + 32] ^= 0xff; // payload of record 2
  let err: { code?: string; message?: string } = {};
  try {
    Wal.open(m);
  } catch (e) {
    err = e as typeof err;
  }
  expect(err.code).toBe('ERR_PMEM_CORRUPT');
  expect(err.message).toContain('record 2');
  const cut = Wal.open(m, { truncateOnCorruption: true });
  expect(cut.stats.lastRecovery).toMatchObject({ truncatedAt: 2, records: 1 });
  expect(records(cut)).toEqual(['1:one']);
  expect(cut.append('two again')).toBe(2);
  expect(records(Wal.open(m))).toEqual(['1:one', '2:two again']);
  m.close();
});

test('bad headers, missing files, closed and read-only logs', () => {
  const m = openMapping(tmpFile('wal-bad'), { size: 8192, create: true });
  expectPmemError(() => Wal.open(m), 'ERR_PMEM_CORRUPT'); // never formatted
  expectPmemError(() => Wal.open(tmpFile('wal-none')), 'ERR_PMEM_NOT_FOUND');
  m.close();
  const file = tmpFile('wal-ro');
  const w = Wal.open(file, { size: 8192, create: true });
  w.append('kept');
  w.close();
  w.close();
  expectPmemError(() => w.append('x'), 'ERR_PMEM_CLOSED');
  // read() checks where it is called, before any next().
  expectPmemError(() => w.read(), 'ERR_PMEM_CLOSED');
  const ro = Wal.open(file, { readOnly: true });
  expect(records(ro)).toEqual(['1:kept']);
  expectPmemError(() => ro.append('x'), 'ERR_PMEM_READONLY');
  expectPmemError(() => ro.truncate(1), 'ERR_PMEM_READONLY');
  expect(() => ro.read(-1)).toThrow(RangeError);
  ro.close();
  // A read-only mapping: a writable open is refused before it writes, with what to do; a read-only one reads.
  const roMapping = openMapping(file, { readOnly: true });
  expect(() => Wal.open(roMapping)).toThrow('the mapping is read-only: open the log with { readOnly: true } to read it');
  expectPmemError(() => Wal.open(roMapping), 'ERR_PMEM_READONLY');
  expect(records(Wal.open(roMapping, { readOnly: true }))).toEqual(['1:kept']);
  roMapping.close();
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, 1024)); // truncated file
  expectPmemError(() => Wal.open(file), 'ERR_PMEM_CORRUPT');
});

test('truncateTail drops the newest records: the next append reuses the LSN, a reopen agrees, across the ring\'s end', () => {
  const m = openMapping(tmpFile('wal-tail'), { size: 4096, create: true });
  const w = Wal.format(m);
  for (let i = 0; w.stats.used + 400 < w.stats.dataSize - 200; i++) w.append(`r${i}-${'x'.repeat(300)}`);
  w.truncate(w.nextLsn - 2);
  const head = w.headLsn;
  w.appendBatch(['a', 'b', 'c'.repeat(300), 'd']); // the long one wraps past the ring's end
  const next = w.nextLsn;
  w.truncateTail(next - 3);
  expect(w.nextLsn).toBe(next - 3);
  expect(w.append('new')).toBe(next - 3);
  const expected = records(w);
  expect(expected.slice(-2)).toEqual([`${next - 4}:a`, `${next - 3}:new`]);
  const again = Wal.open(m);
  expect(records(again)).toEqual(expected);
  expect(again.headLsn).toBe(head);
  // Past the tail: nothing to do; before the head: RangeError; all of it: an empty log.
  again.truncateTail(again.nextLsn);
  expect(records(again)).toEqual(expected);
  expect(() => again.truncateTail(head - 1)).toThrow(RangeError);
  expect(() => again.truncateTail('1' as never)).toThrow(TypeError);
  again.truncateTail(head);
  expect(records(again)).toEqual([]);
  expect(again.append('first again')).toBe(head);
  expect(records(Wal.open(m))).toEqual([`${head}:first again`]);
  const ro = Wal.open(m, { readOnly: true });
  expectPmemError(() => ro.truncateTail(head), 'ERR_PMEM_READONLY');
  m.close();
  expectPmemError(() => again.truncateTail(head), 'ERR_PMEM_CLOSED');
});

test('a header epoch with no room left to rise (2^53 - 1, checksummed) is ERR_PMEM_CORRUPT at open, before any append is taken', () => {
  const file = tmpFile('epoch.wal');
  const w = Wal.open(file, { create: true, size: 64 * 1024 });
  w.append('old');
  w.close();
  const b = fs.readFileSync(file);
  let signed = 0;
  for (const o of [0, 128]) {
    if (b.readBigUInt64LE(o + 24) !== 1n) continue; // the committed replica of the superblock
    b.writeBigUInt64LE(2n ** 53n - 1n, o + 64 + 40); // the log header's epoch
    b.writeUInt32LE(crc32c(b, o + 64, b.readUInt32LE(o + 4), crc32c(b, o, 16)), o + 16);
    signed++;
  }
  expect(signed).toBe(1);
  fs.writeFileSync(file, b);
  expectPmemError(() => Wal.open(file), 'ERR_PMEM_CORRUPT');
  expectPmemError(() => Wal.open(file, { readOnly: true }), 'ERR_PMEM_CORRUPT');
  expect(fs.readFileSync(file).equals(b)).toBe(true);
});

// A tail that ends less than a record header before the ring's end leaves
// a gap the next record skips. Recovery counted it at once; an append
// counted it only when the next record wrapped, so `stats.used` of one log
// differed by 8-24 bytes between the writer and a reopen, and a truncate
// that emptied the log left its head in the gap.
describe('stats.used is the same live and after a reopen, whatever the tail ends on', () => {
  const reopened = (sim: CrashSim) => {
    const copy = new CrashSim(sim.length, { mode: 'eadr' });
    sim.bytes.copy(copy.bytes);
    return Wal.open(copy);
  };

  test('a tail 16 bytes before the end of a 4864-byte ring, then truncated', () => {
    const sim = new CrashSim(5120, { mode: 'eadr' });
    const w = Wal.format(sim);
    for (const n of [932, 1025, 351, 2400]) w.append('a'.repeat(n));
    expect(w.stats.dataSize).toBe(4864);
    expect([w.stats.used, reopened(sim).stats.used]).toEqual([4864, 4864]);
    w.truncate(3);
    expect([w.stats.used, reopened(sim).stats.used]).toEqual([2448, 2448]);
    w.truncate(4);
    expect([w.stats.used, reopened(sim).stats.used]).toEqual([0, 0]);
    w.append('after');
    expect([w.stats.used, reopened(sim).stats.used]).toEqual([40, 40]);
    expect(records(reopened(sim))).toEqual(['5:after']);
  });

  test('3,000 random appends, batches and truncates', () => {
    const random = seededRandom(7);
    const sim = new CrashSim(5120, { mode: 'eadr' });
    const w = Wal.format(sim);
    const len = (n: number) => Math.floor(random() * n);
    for (let step = 0; step < 3000; step++) {
      try {
        if (random() < 0.8) w.append('a'.repeat(len(1200)));
        else w.appendBatch(Array.from({ length: 2 + len(3) }, () => 'b'.repeat(len(400))));
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_PMEM_NO_SPACE') throw e;
        w.truncate(w.nextLsn - 1 - len(3));
      }
      const r = reopened(sim);
      expect([step, r.stats.used, r.nextLsn]).toEqual([step, w.stats.used, w.nextLsn]);
    }
  });
});
