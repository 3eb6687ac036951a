// 10,000+ mutated WAL images: bit flips, truncations and garbage tails.
// recover() returns consecutive records that were appended with those LSNs,
// or throws ERR_PMEM_CORRUPT; never anything else.
import * as fs from 'node:fs';

import { Wal } from '../lib';
import { CrashSim, seededRandom } from '../lib/testing';
import { tmpFile } from './helpers';

const SIZE = 8192;

test('fuzzed images recover to a valid prefix or ERR_PMEM_CORRUPT', () => {
  // A log that has wrapped and been truncated, so the ring holds stale records too.
  const base = new CrashSim(SIZE, { mode: 'eadr' });
  const wal = Wal.format(base);
  const appended = new Map<number, string>();
  for (let i = 0; i < 300; i++) {
    const v = `rec-${i}-${'z'.repeat((i * 11) % 120)}`;
    if (wal.stats.used + 200 > wal.stats.dataSize) wal.truncate(wal.nextLsn - 5);
    appended.set(wal.append(v), v);
  }
  const image = Buffer.from(base.bytes);
  const random = seededRandom(42);
  const outcomes = { prefix: 0, corrupt: 0 };
  const failures: string[] = [];
  const iterations = 12000;
  for (let i = 0; i < iterations; i++) {
    const kind = i % 3;
    let length = SIZE;
    const mutated = Buffer.from(image);
    if (kind === 0) {
      const flips = 1 + Math.floor(random() * 8);
      for (let f = 0; f < flips; f++) mutated[Math.floor(random() * SIZE)] ^= 1 << Math.floor(random() * 8);
    } else if (kind === 1) {
      length = 64 * (1 + Math.floor(random() * (SIZE / 64 - 1)));
    } else {
      const from = 256 + Math.floor(random() * (SIZE - 256));
      for (let j = from; j < SIZE; j++) mutated[j] = Math.floor(random() * 256);
    }
    const region = new CrashSim(length, { mode: 'eadr' });
    mutated.copy(region.bytes, 0, 0, length);
    let records: Array<{ lsn: number; data: Buffer }>;
    try {
      records = [...Wal.open(region).read()];
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_PMEM_CORRUPT') outcomes.corrupt++;
      else failures.push(`image ${i}: ${String(e)}`);
      continue;
    }
    records.forEach((r, j) => {
      if (j > 0 && r.lsn !== records[j - 1].lsn + 1) failures.push(`image ${i}: gap before LSN ${r.lsn}`);
      if (r.data.toString() !== appended.get(r.lsn)) failures.push(`image ${i}: LSN ${r.lsn} was never appended with that value`);
    });
    outcomes.prefix++;
  }
  console.log(`WAL fuzz: ${iterations} images, ${outcomes.prefix} valid prefixes, ${outcomes.corrupt} ERR_PMEM_CORRUPT`);
  expect(failures.slice(0, 10)).toEqual([]);
  expect(outcomes.prefix + outcomes.corrupt).toBe(iterations);
  expect(outcomes.prefix).toBeGreaterThan(0);
  expect(outcomes.corrupt).toBeGreaterThan(0);
});

test('records zeroed in the middle of the log (a page, 64 KiB) are ERR_PMEM_CORRUPT, not a torn tail that drops the acknowledged records after them', () => {
  const file = tmpFile('zeroed.wal');
  const w = Wal.open(file, { create: true, size: 512 * 1024 });
  for (let i = 0; i < 1000; i++) w.append(`record ${i} ${' '.repeat(100)}`);
  w.close();
  const whole = fs.readFileSync(file);
  for (const [from, bytes] of [[16384, 4096], [20000, 64 * 1024]]) {
    const b = Buffer.from(whole);
    b.fill(0, from, from + bytes);
    fs.writeFileSync(file, b);
    expect(() => Wal.open(file, { readOnly: true })).toThrow(expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/is corrupt and later records are intact/) }));
  }
  // The same bytes zeroed at the log's end are a torn tail: the records before them stay.
  const b = Buffer.from(whole);
  const last = b.lastIndexOf('record 999');
  // The last record's 32-byte header and its payload.
  b.fill(0, last - 32, last + 120);
  fs.writeFileSync(file, b);
  const r = Wal.open(file, { readOnly: true });
  expect([...r.read()].length).toBe(999);
  r.close();
  fs.rmSync(file);
});
