// Wal.read() iterators while the log changes between their steps: appends
// are read, truncating up to the record just read is allowed, and a read
// whose next record was truncated, or whose log's tail was cut, throws
// ERR_PMEM_INVALID instead of reading whatever the ring holds now at its
// old position.
import { openMapping, Wal, type WalRecord } from '../lib';
import { expectPmemError, rng, tmpFile } from './helpers';

const fill = (n: number, byte: number): Buffer => Buffer.alloc(n, byte);
const step = (it: Iterator<WalRecord>): string | undefined => {
  const r = it.next();
  return r.done === true ? undefined : `${r.value.lsn}:${r.value.data.toString('latin1')}`;
};

test('a read whose next records were checkpointed, the ring since reused, throws and names the LSN', () => {
  const m = openMapping(tmpFile('wal-read-checkpoint'), { size: 5120, create: true });
  const w = Wal.format(m);
  for (let i = 0; i < 5; i++) w.append(fill(100, 0x41 + i));
  const it = w.read();
  expect(it.next().value).toMatchObject({ lsn: 1 });
  w.checkpoint();
  // Enough appends to wrap the ring over where records 2..5 were.
  for (let i = 0; i < 70; i++) {
    const rec = fill(52, 0x61 + (i % 26));
    try {
      w.append(rec);
    } catch {
      w.checkpoint();
      w.append(rec);
    }
  }
  expect(w.headLsn).toBeGreaterThan(2);
  expect(() => it.next()).toThrow(/needed LSN 2 next, but the log was truncated meanwhile \(its head is now LSN \d+\)/);
  expect(it.next()).toEqual({ done: true, value: undefined }); // a read that threw is over
  // A new read reads the log as it is.
  expect([...w.read()].map((r) => r.lsn)).toEqual(Array.from({ length: w.nextLsn - w.headLsn }, (_, k) => w.headLsn + k));
  m.close();
});

test('a read started before a checkpoint, and stepped only after it, throws', () => {
  const m = openMapping(tmpFile('wal-read-before'), { size: 8192, create: true });
  const w = Wal.format(m);
  w.appendBatch(['a', 'b', 'c']);
  const it = w.read();
  w.checkpoint();
  w.append('d');
  expect(() => it.next()).toThrow(/needed LSN 1 next, but the log was truncated meanwhile/);
  m.close();
});

test('a truncateTail while a read is paused ends it, however the LSNs were appended again', () => {
  const m = openMapping(tmpFile('wal-read-tail'), { size: 8192, create: true });
  const w = Wal.format(m);
  const sizes = [40, 300, 17, 250, 90, 120];
  sizes.forEach((n, i) => w.append(fill(n, 0x41 + i)));
  // Cut before the read's next record, at it, and after it; the records
  // from the cut appended again with other sizes (so at other positions).
  for (const cut of [3, 4, 5]) {
    w.truncateTail(1);
    sizes.forEach((n, i) => w.append(fill(n, 0x41 + i)));
    const it = w.read();
    expect([step(it), step(it), step(it)].map((s) => s?.slice(0, 3))).toEqual(['1:A', '2:B', '3:C']);
    w.truncateTail(cut);
    for (let k = cut; k <= 6; k++) w.append(fill(sizes[k - 1] * 2 + 8, 0x61 + k));
    expect(w.nextLsn).toBe(7);
    expectPmemError(() => it.next(), 'ERR_PMEM_INVALID');
    const again = w.read();
    expect([step(again), step(again), step(again)].map((s) => s?.slice(0, 3))).toEqual(['1:A', '2:B', cut === 3 ? '3:d' : '3:C']);
    w.truncateTail(cut);
    w.append('new');
    expect(() => again.next()).toThrow(/needed LSN 4 next, but the log's tail was cut meanwhile/);
  }
  // Cut and not appended again: the read does not just end as if it had read everything.
  expect(w.nextLsn).toBe(6);
  const it = w.read(4);
  expect(step(it)?.slice(0, 2)).toBe('4:');
  w.truncateTail(5);
  expectPmemError(() => it.next(), 'ERR_PMEM_INVALID');
  m.close();
});

test('reading and truncating up to each record read, while appends wrap the ring many times', () => {
  const m = openMapping(tmpFile('wal-read-consume'), { size: 2048, create: true });
  const w = Wal.format(m);
  const random = rng(7);
  const written = new Map<number, string>();
  const append = (): void => {
    // Sizes that leave gaps and pads at the ring's end, so the record
    // after one read often starts at 0 while the bytes after it are freed.
    const v = `${w.nextLsn}:${'x'.repeat(Math.floor(random() * 200))}`;
    written.set(w.append(v), v);
  };
  for (let i = 0; i < 4; i++) append();
  let read = 0;
  let bytes = 0;
  for (const r of w.read()) {
    expect(r.data.toString()).toBe(written.get(r.lsn));
    expect(r.lsn).toBe(read + 1);
    read++;
    w.truncate(r.lsn); // frees the record just read: allowed
    written.delete(r.lsn);
    if (read >= 3000) continue; // then the read runs to the tail and ends
    // Fill the ring up to what the next read needs.
    for (;;) {
      try {
        append();
      } catch (e) {
        expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
        break;
      }
      bytes += written.get(w.nextLsn - 1)!.length;
    }
  }
  expect(read).toBe(w.nextLsn - 1);
  expect(read).toBeGreaterThan(3000);
  expect(w.headLsn).toBe(w.nextLsn);
  expect(bytes).toBeGreaterThan(100 * w.stats.dataSize); // the ring went round a hundred times and more
  m.close();
});

test('a read sees records appended while it is paused, until a step finds none; truncating past its next record throws', () => {
  const m = openMapping(tmpFile('wal-read-appends'), { size: 8192, create: true });
  const w = Wal.format(m);
  // Started before any record exists: the appends made before its first step are read.
  const early = w.read();
  w.appendBatch(['a', 'b']);
  expect(step(early)).toBe('1:a');
  w.append('c');
  expect([step(early), step(early)]).toEqual(['2:b', '3:c']);
  expect(step(early)).toBeUndefined();
  w.append('d');
  expect(step(early)).toBeUndefined(); // a finished read stays finished
  const from = w.read(2);
  expect(step(from)).toBe('2:b');
  w.truncate(2);
  w.append('e');
  expect([...from].map((r) => r.lsn)).toEqual([3, 4, 5]);
  // truncate(uptoLsn) frees uptoLsn too: freeing the record a read needs next ends it.
  const past = w.read();
  expect(step(past)).toBe('3:c');
  w.truncate(4);
  expect(() => past.next()).toThrow(/needed LSN 4 next, but the log was truncated meanwhile \(its head is now LSN 5\)/);
  m.close();
});

test('a record that does not carry the LSN a read needs is ERR_PMEM_CORRUPT, not yielded', () => {
  const m = openMapping(tmpFile('wal-read-damage'), { size: 8192, create: true });
  const w = Wal.format(m);
  w.appendBatch(['one', 'two', 'three']);
  const it = w.read();
  expect(step(it)).toBe('1:one');
  // The second record's LSN field (header bytes 8..15), found by its payload.
  const at = m.bytes.indexOf('two') - 32;
  expect(m.bytes.readBigUInt64LE(at + 8)).toBe(2n);
  m.bytes.writeBigUInt64LE(9n, at + 8);
  expectPmemError(() => it.next(), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('model: reads interleaved with appends, truncates and tail cuts yield only the log\'s records', () => {
  const m = openMapping(tmpFile('wal-read-model'), { size: 4096, create: true });
  const w = Wal.format(m);
  const random = rng(2024);
  const pick = (n: number): number => Math.floor(random() * n);
  const log = new Map<number, string>();
  let cuts = 0;
  interface Reader { it: Iterator<WalRecord>; lsn: number; cuts: number }
  let readers: Reader[] = [];
  const counts = { yielded: 0, truncated: 0, cut: 0, done: 0, appended: 0 };
  const add = (v: string): void => {
    try {
      log.set(w.append(v), v);
      counts.appended++;
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
    }
  };
  for (let i = 0; i < 20000; i++) {
    const op = pick(100);
    if (op < 35) {
      add(`${i}:${'y'.repeat(pick(3) === 0 ? pick(900) : pick(60))}`);
    } else if (op < 40) {
      const vs = Array.from({ length: 2 + pick(3) }, (_, k) => `${i}.${k}:${'z'.repeat(pick(120))}`);
      try {
        w.appendBatch(vs).forEach((lsn, k) => log.set(lsn, vs[k]));
      } catch (e) {
        expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
      }
    } else if (op < 50) {
      // Up to a record some read has just read, most often.
      const r = readers.length > 0 && pick(2) === 0 ? readers[pick(readers.length)].lsn - 1 : w.headLsn - 1 + pick(w.nextLsn - w.headLsn + 1);
      w.truncate(Math.max(0, r));
    } else if (op < 52) {
      w.checkpoint();
    } else if (op < 55) {
      const from = w.headLsn + pick(w.nextLsn - w.headLsn + 1);
      if (from < w.nextLsn) cuts++;
      for (let l = from; l < w.nextLsn; l++) log.delete(l);
      w.truncateTail(from);
    } else if (op < 62) {
      if (readers.length < 4) {
        const from = w.headLsn - 2 + pick(w.nextLsn - w.headLsn + 3);
        readers.push({ it: w.read(Math.max(0, from)), lsn: Math.max(from, w.headLsn), cuts });
      }
    } else if (readers.length > 0) {
      const k = pick(readers.length);
      const r = readers[k];
      let expected: string;
      if (r.cuts !== cuts) expected = 'ERR_PMEM_INVALID cut';
      else if (r.lsn < w.headLsn) expected = 'ERR_PMEM_INVALID truncated';
      else if (r.lsn >= w.nextLsn) expected = 'done';
      else expected = `${r.lsn}:${log.get(r.lsn)}`;
      let got: string;
      try {
        got = step(r.it) ?? 'done';
      } catch (e) {
        const err = e as { code?: string; message: string };
        got = `${err.code} ${/tail was cut/.test(err.message) ? 'cut' : 'truncated'}`;
      }
      expect(got).toBe(expected);
      if (expected.startsWith('ERR') || expected === 'done') {
        readers = readers.filter((x) => x !== r);
        counts[expected === 'done' ? 'done' : expected.endsWith('cut') ? 'cut' : 'truncated']++;
      } else {
        r.lsn++;
        counts.yielded++;
      }
    }
  }
  // Every outcome was reached, many times, with the ring wrapped many times over.
  expect(counts.yielded).toBeGreaterThan(1000);
  expect(counts.truncated).toBeGreaterThan(50);
  expect(counts.cut).toBeGreaterThan(50);
  expect(counts.done).toBeGreaterThan(50);
  expect(w.nextLsn).toBeGreaterThan(20 * 4096 / 200);
  m.close();
});
