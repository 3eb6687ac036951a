// KVStore faults its log's pages in ahead of the tail: at open (the rest of
// the active segment) and, while a segment fills, the next one on the
// mapping's prefault thread. A steady-state burst of puts then takes no page
// fault on the log. The same burst over a Region without populate/prefault
// (the log cannot prefault) takes one per page, which shows the count can
// fail. Faults are the minor faults of this thread (/proc/thread-self/stat);
// the prefault thread's own are not in it.
import * as fs from 'node:fs';
import { basename } from 'node:path';

import { KVStore, openMapping, type Mapping, type Region } from '../lib/index';
import { hugePagesMapped, tmpFile } from './helpers';

const SEGMENT = 1024 * 1024;
const VALUE = Buffer.alloc(100, 7);
const RECORD = 144; // 16-byte record header, 8-byte entry header, 16-byte key, 100-byte value
const KEYS = Array.from({ length: 2000 }, (_, i) => `k${String(i).padStart(15, '0')}`);
// Less than a segment of records: a burst crosses at most one segment boundary.
const BURST = Math.floor((SEGMENT - 64) / RECORD) - 200;
const PAGES = Math.floor((BURST * RECORD) / 4096);

/**
 * Whether written pages of the mapping stay writable after they are made
 * durable: on tmpfs (msync writes nothing back) and on DAX (no page cache).
 * On a filesystem with a page cache and writeback (ext4, xfs without DAX),
 * msync write-protects the pages it cleans, so the next store to one
 * faults whatever was prefaulted: a put faults there once a page, by
 * design of the page cache, and the counts below tell nothing.
 */
function staysWritable(m: Mapping, file: string): boolean {
  const TMPFS_MAGIC = 0x01021994;
  return m.mode === 'dax' || fs.statfsSync(file).type === TMPFS_MAGIC;
}

function minorFaults(): number {
  const stat = fs.readFileSync('/proc/thread-self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** Faults taken by BURST overwrites of the keys, in turn from `from`. */
function burst(kv: KVStore, from: number): number {
  const before = minorFaults();
  for (let i = 0; i < BURST; i++) kv.put(KEYS[(from + i) % KEYS.length], VALUE);
  return minorFaults() - before;
}

/** The mapping as a Region without populate and prefault. */
function withoutPrefault(m: Mapping): Region {
  return {
    get bytes() { return m.bytes; },
    length: m.length,
    granularity: m.granularity,
    flush: (o, l) => m.flush(o, l),
    drain: () => m.drain(),
    persist: (o, l) => m.persist(o, l),
    sealRecord: (c, e, s, p, src) => m.sealRecord(c, e, s, p, src),
  };
}

/** Per burst, after a warm-up burst, the faults of three bursts. */
function bursts(m: Mapping, region: Region): number[] {
  const kv = KVStore.openRegion(region, { create: true, segmentSize: SEGMENT });
  for (const k of KEYS) kv.put(k, VALUE);
  burst(kv, 0);
  const faults: number[] = [];
  for (let r = 1; r <= 3; r++) {
    // The segment after the active one is queued on the prefault thread
    // when the active one opened; waiting for it keeps the count from
    // depending on how fast that thread ran.
    m.prefaultWait();
    faults.push(burst(kv, r * 7));
  }
  return faults;
}

describe('KVStore prefaults its log', () => {
  test('a steady-state burst of puts takes no page fault on the log; without prefault it takes one per page', () => {
    const m = openMapping(tmpFile('kv-prefault'), { create: true, size: 16 * SEGMENT });
    const writable = staysWritable(m, m.path);
    const warm = bursts(m, m);
    const s = m.prefaultWait();
    expect(s.done).toBeGreaterThanOrEqual(3); // the bursts opened segments, each queued the next
    expect(s.failed).toBe(0);
    m.close();
    const file = tmpFile('kv-no-prefault');
    const n = openMapping(file, { create: true, size: 16 * SEGMENT });
    const cold = bursts(n, withoutPrefault(n));
    const huge = hugePagesMapped(file);
    n.close();
    if (huge || !writable) return;
    for (const f of cold) expect(f).toBeGreaterThanOrEqual(PAGES / 2);
    // The fewest: a garbage collection that grows V8's heap in a burst
    // faults too (seen with another test file running beside this one).
    // Measured against the same bursts without prefault, in the same
    // process: faults of the JS engine's own count into both.
    expect(Math.min(...warm)).toBeLessThanOrEqual(Math.min(...cold) / 4);
  });

  test('a reopened store faults in the rest of its active segment at open', () => {
    const segment = 4 * SEGMENT;
    // Three bursts after a reopen, all inside the active segment, over the
    // mapping itself or over a Region that cannot populate.
    const reopened = (prefault: boolean): { faults: number[]; used: number; huge: boolean } => {
      const path = tmpFile('kv-reopen');
      let kv = KVStore.open(path, { create: true, size: 4 * segment, segmentSize: segment });
      for (const k of KEYS.slice(0, 100)) kv.put(k, VALUE);
      kv.close();
      const m = openMapping(path);
      kv = KVStore.openRegion(prefault ? m : withoutPrefault(m));
      // Warm the code, then the bursts.
      expect((100 + 2000 + 3 * BURST) * RECORD).toBeLessThan(segment);
      for (let i = 0; i < 2000; i++) kv.put(KEYS[i % 100], VALUE);
      const faults: number[] = [];
      for (let r = 0; r < 3; r++) {
        const before = minorFaults();
        for (let i = 0; i < BURST; i++) kv.put(KEYS[i % 100], VALUE);
        faults.push(minorFaults() - before);
      }
      const used = kv.stats().segments.used;
      // Read from this process's mappings (smaps): before the unmap.
      const huge = hugePagesMapped(path) || !staysWritable(m, path);
      kv.close();
      m.close();
      return { faults, used, huge };
    };
    const warm = reopened(true);
    const cold = reopened(false);
    expect(warm.used).toBe(1);
    expect(cold.used).toBe(1);
    if (cold.huge) return;
    for (const f of cold.faults) expect(f).toBeGreaterThanOrEqual(PAGES / 2);
    // Against the same bursts without the open's populate, in the same
    // process: the faults of a garbage collection that grows V8's heap
    // count into both (test 1).
    expect(Math.min(...warm.faults)).toBeLessThanOrEqual(Math.min(...cold.faults) / 4);
  });

  test('a new store faults in at open the segment its first put opens', () => {
    // Resident pages of the store's mapping, from /proc/self/smaps: a
    // store's first put would populate the segment anyway; what open does
    // shows only as pages mapped before any put.
    const path = tmpFile('kv-new');
    const segment = 4 * SEGMENT;
    const kv = KVStore.open(path, { create: true, size: 4 * segment, segmentSize: segment });
    // A new store is made under a temporary name and renamed: the mapping's
    // line in smaps names the file it was mapped as, which holds the basename.
    const smaps = fs.readFileSync('/proc/self/smaps', 'latin1');
    const at = smaps.indexOf(basename(path));
    expect(at).toBeGreaterThan(0);
    const rssKiB = Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1]);
    kv.close();
    expect(rssKiB * 1024).toBeGreaterThanOrEqual(segment);
  });
});
