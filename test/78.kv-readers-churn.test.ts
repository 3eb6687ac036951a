// A reader's index rebuild beside a writer whose compaction frees a segment
// during every full scan of the log: a large store beside a busy writer,
// where a scan takes seconds and a free comes every few milliseconds. A
// reader that scanned again after each such scan never finished its open
// (nor a get that needed a rebuild) while the writer ran. Here the free
// lands deterministically inside the reader's scan: the native record scan
// (binding.kvScan, which only a full scan calls) is wrapped, and its first
// call in each scan makes the writer, in this same thread, overwrite keys
// and compact until a segment is freed. The reader scans once, then builds
// its index by following the log (lib/kv/follow.ts, #rebuild), and serves
// the writer's state.
import { binding } from '../lib/core/binding';
import { KVStore } from '../lib/kv/store';
import { Superblock } from '../lib/log/superblock';
import { tmpFile } from './helpers';

type Hooked = Record<string, (...a: unknown[]) => unknown>;
const proto = Superblock.prototype as unknown as Hooked;
const sbRecover = proto.recover;
const b = binding as unknown as Hooked;
const kvScan = b.kvScan;
afterEach(() => {
  proto.recover = sbRecover;
  b.kvScan = kvScan;
});

const KEYS = 600;
const key = (i: number): string => `key-${i}`;

/** A writer with dead entries in most segments, and the model of what it holds. */
function setup(name: string): { file: string; w: KVStore; model: Map<string, string>; put: (n: number) => void } {
  const file = tmpFile(name);
  const w = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 16 * 1024 });
  const model = new Map<string, string>();
  let version = 0;
  const put = (n: number): void => {
    for (let j = 0; j < n; j++) {
      const i = (version * 7919) % KEYS;
      const v = `${key(i)}:${version++}:`.padEnd(200, 'x');
      w.put(key(i), v);
      model.set(key(i), v);
    }
  };
  put(3 * KEYS);
  return { file, w, model, put };
}

/**
 * Arms the hooks: each reader scan (a superblock read, then record scans)
 * gets one free, made by the writer at the scan's first record scan, until
 * `limit` scans have had one. @returns the count of scans that had a free
 */
function freeDuringEveryScan(w: KVStore, put: (n: number) => void, limit: number): { scans: number } {
  const seen = { scans: 0 };
  let pending = false;
  let busy = false;
  proto.recover = function (this: Superblock, ...a: unknown[]) {
    if (!busy) pending = true;
    return sbRecover.apply(this, a);
  };
  b.kvScan = (...a: unknown[]) => {
    const n = kvScan(...a);
    if (pending && !busy && seen.scans < limit) {
      pending = false;
      busy = true;
      try {
        // Dead entries, then compaction until a segment is freed.
        let freed = 0;
        for (let k = 0; k < 50 && freed === 0; k++) {
          put(KEYS / 2);
          freed = w.compact();
        }
        if (freed === 0) throw new Error('the writer freed no segment');
        seen.scans++;
      } finally {
        busy = false;
      }
    }
    return n;
  };
  return seen;
}

function expectServes(r: KVStore, model: Map<string, string>): void {
  expect(r.count).toBe(model.size);
  for (const [k, v] of model) expect(r.getString(k)).toBe(v);
}

test('an open beside a writer that frees a segment during every scan follows the log instead of scanning again', () => {
  const { w, file, model, put } = setup('churn-open.kv');
  // 20 scans with a free, then none: a reader that scanned again each time
  // would open after the 21st scan, with 20 scans counted.
  const seen = freeDuringEveryScan(w, put, 20);
  const r = KVStore.open(file, { readOnly: true });
  const stats = r.stats().reader!;
  expect({ scansWithAFree: seen.scans, followed: stats.followed }).toEqual({ scansWithAFree: 1, followed: 1 });
  proto.recover = sbRecover;
  b.kvScan = kvScan;
  expectServes(r, model);
  // It follows on from there: more writes and compactions, each seen.
  for (let round = 0; round < 5; round++) {
    put(KEYS);
    w.compact();
    expectServes(r, model);
  }
  r.close();
  w.close();
});
