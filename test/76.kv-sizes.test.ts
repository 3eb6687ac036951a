// Byte counts past 2^31 and files past 4 GiB: sizes are plain arithmetic,
// and what cannot fit is refused before anything is written.
import * as fs from 'node:fs';

import { KVStore, Wal } from '../lib';
import { align8 } from '../lib/core/args';
import { expectPmemError, tmpFile } from './helpers';

test('align8 is exact past 2^31 and 2^32', () => {
  expect(align8(0)).toBe(0);
  expect(align8(1)).toBe(8);
  expect(align8(2 ** 31 - 1)).toBe(2 ** 31);
  expect(align8(2 ** 31)).toBe(2 ** 31);
  expect(align8(2 ** 31 + 1)).toBe(2 ** 31 + 8);
  expect(align8(2 ** 32 + 3)).toBe(2 ** 32 + 8);
  expect(align8(2 ** 40 + 9)).toBe(2 ** 40 + 16);
});

test('a batch of 33 values of 64 MiB (over 2 GiB) is ERR_PMEM_NO_SPACE, and every acknowledged key stays', () => {
  const file = tmpFile('kv-huge-batch');
  const s = KVStore.open(file, { create: true, size: 4 << 20, segmentSize: 64 * 1024 });
  for (let i = 0; i < 1000; i++) s.put(`key ${i}`, `value ${i}`);
  const big = Buffer.alloc(64 << 20, 7); // one buffer, 33 times: 2.06 GiB of record, 64 MiB of memory
  const ops = Array.from({ length: 33 }, (_, i) => ({ type: 'put' as const, key: `big ${i}`, value: big }));
  const before = fs.readFileSync(file);
  expectPmemError(() => s.batch(ops), 'ERR_PMEM_NO_SPACE');
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  expect(s.count).toBe(1000);
  s.close();
  const t = KVStore.open(file);
  expect(t.count).toBe(1000);
  for (let i = 0; i < 1000; i++) expect(t.getString(`key ${i}`)).toBe(`value ${i}`);
  t.close();
});

test('a batch larger than the free space of a small-segment store is refused before anything is written', () => {
  const file = tmpFile('kv-batch-nospace');
  const s = KVStore.open(file, { create: true, size: 4096 + 8 * 4096, segmentSize: 4096 });
  s.put('kept', 'yes');
  const before = fs.readFileSync(file);
  const ops = Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: Buffer.alloc(1000, i) }));
  expectPmemError(() => s.batch(ops), 'ERR_PMEM_NO_SPACE');
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  // A batch larger than one segment takes a run of segments.
  s.batch(ops.slice(0, 6));
  expect(s.get('k5')!.equals(Buffer.alloc(1000, 5))).toBe(true);
  s.close();
});

test('a store or log file over 4 GiB is refused (ERR_PMEM_CORRUPT), not a Buffer RangeError, and left as it was', () => {
  // Sparse: the 5 GiB take no memory on /dev/shm, only the first pages written.
  const kv = tmpFile('kv-5g');
  KVStore.open(kv, { create: true, size: 1 << 20, segmentSize: 64 * 1024 }).close();
  fs.truncateSync(kv, 5 * 2 ** 30);
  const wal = tmpFile('wal-5g');
  Wal.open(wal, { create: true, size: 1 << 16 }).close();
  fs.truncateSync(wal, 5 * 2 ** 30);
  try {
    for (const [file, open] of [[kv, () => KVStore.open(kv)], [wal, () => Wal.open(wal)]] as const) {
      const mtime = fs.statSync(file).mtimeMs;
      let thrown: { name?: string; code?: string } | undefined;
      try {
        open();
      } catch (e) {
        thrown = e as typeof thrown;
      }
      expect(thrown?.name).toBe('PmemError');
      expect(thrown?.code).toBe('ERR_PMEM_CORRUPT');
      expect(fs.statSync(file).size).toBe(5 * 2 ** 30);
      expect(fs.statSync(file).mtimeMs).toBe(mtime);
    }
  } finally {
    fs.rmSync(kv);
    fs.rmSync(wal);
  }
});
