// The last sequence number of each log that counts in JavaScript numbers:
// a Wal's LSN, a TxLog's run number and the tiered cache's copy number all
// stop counting past 2^53 - 1, and a record given a number twice could not
// be told from the one before it. Each refuses the write that would need
// one more, with ERR_PMEM_NO_SPACE, and keeps what it had. The numbers are
// set near the end by editing the header (2^53 writes take centuries).
import * as fs from 'node:fs';

import { crc32c, openMapping, Superblock, TieredCache, TxLog, Wal } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

const LAST = Number.MAX_SAFE_INTEGER - 1; // 2^53 - 2

describe('Wal', () => {
  /** A log whose next LSN is `next`: its header's head LSN, through the Superblock it lives in. */
  function walAt(next: number): string {
    const file = tmpFile('last-lsn.wal');
    Wal.open(file, { create: true, size: 1 << 20 }).close();
    const m = openMapping(file);
    const sb = Superblock.open(m, { offset: 0, capacity: 64 });
    const meta = Buffer.from(sb.read() as Buffer);
    meta.writeBigUInt64LE(BigInt(next), 24); // head LSN (docs/formats.md)
    sb.write(meta);
    m.close();
    return file;
  }

  test('append takes LSNs up to 2^53 - 2, then refuses; every record acknowledged is read back after a reopen', () => {
    const file = walAt(LAST - 1);
    let w = Wal.open(file);
    expect(w.append('a')).toBe(LAST - 1);
    expect(w.append('b')).toBe(LAST);
    expectPmemError(() => w.append('c'), 'ERR_PMEM_NO_SPACE');
    expect(() => w.append('c')).toThrow(/no LSNs left/);
    w.close();
    w = Wal.open(file);
    expect([...w.read()].map((r) => [r.lsn, Buffer.from(r.data).toString()])).toEqual([
      [LAST - 1, 'a'],
      [LAST, 'b'],
    ]);
    w.close();
    fs.rmSync(file, { force: true });
  });

  test('a batch that would pass the last LSN writes nothing', () => {
    const file = walAt(LAST - 1);
    let w = Wal.open(file);
    expectPmemError(() => w.appendBatch(['a', 'b', 'c']), 'ERR_PMEM_NO_SPACE');
    expect(w.appendBatch(['a', 'b'])).toEqual([LAST - 1, LAST]);
    w.close();
    w = Wal.open(file);
    expect([...w.read()].map((r) => r.lsn)).toEqual([LAST - 1, LAST]);
    w.close();
    fs.rmSync(file, { force: true });
  });
});

describe('TxLog', () => {
  const LOG = { offset: 0, size: 64 * 1024 };

  test('a run after number 2^53 - 2 is refused before it writes; the log opens again', () => {
    const file = tmpFile('last-seq.txlog');
    let m = openMapping(file, { create: true, size: 1 << 20 });
    TxLog.format(m, LOG);
    m.bytes.writeBigUInt64LE(BigInt(LAST - 1), 0); // the retire word: the last number used
    m.persist(0, 8);
    m.close();
    m = openMapping(file);
    let log = TxLog.open(m, LOG);
    log.run((tx) => tx.write(128 * 1024, Buffer.from('last')));
    expectPmemError(() => log.run((tx) => tx.write(128 * 1024 + 64, Buffer.from('one more'))), 'ERR_PMEM_NO_SPACE');
    expectPmemError(() => log.undoUpdate(128 * 1024 + 64, Buffer.from('one more')), 'ERR_PMEM_NO_SPACE');
    log.checkpoint();
    m.close();
    for (let i = 0; i < 2; i++) {
      m = openMapping(file);
      log = TxLog.open(m, LOG);
      expect(m.bytes.toString('latin1', 128 * 1024, 128 * 1024 + 4)).toBe('last');
      expect(m.bytes.readBigUInt64LE(128 * 1024 + 64)).toBe(0n);
      m.close();
    }
    fs.rmSync(file, { force: true });
  });
});

describe('TieredCache', () => {
  test('a set after copy number 2^53 - 2 is refused; the last copy stays, and reopens', () => {
    const file = tmpFile('last-seq.cache');
    const opts = { file, pmemBytes: 1 << 20, dramEntries: 1, writeMode: 'write-through' as const, encoding: 'utf8' as const };
    let c = new TieredCache(opts);
    c.set('a', 'v0');
    c.close();
    // The one published slot's copy number, in its commit word and its
    // record (checksum recomputed), set to 2^53 - 3 (docs/formats.md, "Tiered cache").
    const m = openMapping(file);
    const b = m.bytes;
    const slotBytes = b.readUInt32LE(8);
    const salt = b.readUInt32LE(12);
    const count = Number(b.readBigUInt64LE(16));
    let crafted = 0;
    for (let s = 0; s < count; s++) {
      const off = 64 + s * slotBytes;
      if (b.readBigUInt64LE(off) === 0n) continue;
      b.writeBigUInt64LE(BigInt(LAST - 1), off + 32);
      b.writeUInt32LE(crc32c(b, off + 20, 28 + b.readUInt32LE(off + 20) + b.readUInt32LE(off + 24), salt), off + 16);
      b.writeBigUInt64LE(BigInt(LAST - 1), off);
      crafted++;
    }
    expect(crafted).toBe(1);
    m.persist(0, m.length);
    m.close();
    c = new TieredCache(opts);
    expect(c.get('a')).toBe('v0');
    c.set('a', 'v1'); // copy number 2^53 - 2
    expectPmemError(() => c.set('a', 'v2'), 'ERR_PMEM_NO_SPACE');
    expect(c.get('a')).toBe('v1');
    c.close();
    c = new TieredCache(opts);
    expect(c.get('a')).toBe('v1');
    c.close();
    fs.rmSync(file, { force: true });
  });
});
