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
import { type Mapping, openMapping } from '../lib/core/mapping';
import { DATA_START } from '../lib/kv/format';
import { KvIndex } from '../lib/kv/hash-index';
import { SegmentTable } from '../lib/kv/segments';
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
  const w = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: SEGMENT });
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

const SEGMENT = 16 * 1024;

/** The sequence number in the header of the segment holding region offset `o` (0: free). */
function seqAt(m: Mapping, o: number): bigint {
  return m.bytes.readBigUInt64LE(DATA_START + Math.floor((o - DATA_START) / SEGMENT) * SEGMENT + 8);
}

/** Dead entries, then compaction until a segment is freed. */
function freeASegment(w: KVStore, put: (n: number) => void): void {
  let freed = 0;
  for (let k = 0; k < 50 && freed === 0; k++) {
    put(KEYS / 2);
    freed = w.compact();
  }
  if (freed === 0) throw new Error('the writer freed no segment');
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
        freeASegment(w, put);
        seen.scans++;
      } finally {
        busy = false;
      }
    }
    return n;
  };
  return seen;
}

/** A long value in a failure's message: its length and first bytes. */
const brief = (v: string | undefined): string => (v === undefined ? 'undefined' : `${v.length} bytes: ${v.slice(0, 24)}`);

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

// A segment freed while the reader replays it: a compaction catching up
// with a reader behind it. The reader skips the rest of it (every live
// entry was copied to the log's end first), where it used to rebuild its
// index; a segment reused meanwhile, even one freed again since, must
// still be rebuilt from. The writer acts inside the reader's replay, at
// its first applied entry (SegmentTable.applyEntry, hooked).
describe('a segment freed while the reader replays it', () => {
  const table = SegmentTable.prototype as unknown as Hooked;
  const applyEntry = table.applyEntry;
  afterEach(() => {
    table.applyEntry = applyEntry;
  });

  /** The header words of segment `s` (16 KiB segments), as a reader sees them. */
  function header(m: Mapping, s: number): { seq: number; sum: number } {
    const at = DATA_START + s * SEGMENT;
    return { seq: Number(m.bytes.readBigUInt64LE(at + 8)), sum: m.bytes.readUInt32LE(at + 4) };
  }

  function run(name: string, writer: (w: KVStore, put: (n: number) => void, m: Mapping, s: number) => void): { resyncs: number } {
    const { w, file, model, put } = setup(name);
    const r = KVStore.open(file, { readOnly: true });
    expectServes(r, model);
    // Read before the writer goes on (a reader's stats() catches up too).
    const before = r.stats().reader!;
    // The reader falls behind by a few segments.
    put(2 * KEYS);
    const m = openMapping(file, { readOnly: true });
    let ran = false;
    let busy = false;
    table.applyEntry = function (this: unknown, ...a: unknown[]) {
      if (!ran && !busy) {
        ran = true;
        busy = true;
        try {
          writer(w, put, m, a[2] as number);
        } finally {
          busy = false;
        }
      }
      return applyEntry.apply(this, a);
    };
    r.has('key-0'); // the catch-up, inside which the writer acts
    table.applyEntry = applyEntry;
    expect(ran).toBe(true);
    const after = r.stats().reader!;
    expectServes(r, model);
    m.close();
    r.close();
    w.close();
    return { resyncs: after.resyncs - before.resyncs };
  }

  /** Every key written again, then compaction until segment `s` is free. */
  function freeIt(w: KVStore, put: (n: number) => void, m: Mapping, s: number): void {
    for (let k = 0; k < 50 && header(m, s).seq !== 0; k++) {
      put(KEYS);
      while (w.compact() > 0 && header(m, s).seq !== 0);
    }
    expect(header(m, s).seq).toBe(0);
  }

  test('freed, not reused: the reader skips the rest of it, with no rebuild', () => {
    const got = run('churn-freed.kv', (w, put, m, s) => freeIt(w, put, m, s));
    expect(got.resyncs).toBe(0);
  });

  test('freed and reused: the reader rebuilds', () => {
    const got = run('churn-reused.kv', (w, put, m, s) => {
      freeIt(w, put, m, s);
      for (let k = 0; k < 200 && header(m, s).seq === 0; k++) put(20);
      expect(header(m, s).seq).not.toBe(0);
    });
    expect(got.resyncs).toBe(1);
  });

  test('freed, reused and freed again: the header was rewritten, and the reader rebuilds', () => {
    const got = run('churn-refreed.kv', (w, put, m, s) => {
      const first = header(m, s).sum;
      freeIt(w, put, m, s);
      for (let k = 0; k < 200 && header(m, s).seq === 0; k++) put(20);
      const reused = header(m, s);
      expect(reused.seq).not.toBe(0);
      expect(reused.sum).not.toBe(first);
      // Moved past it, then it is freed again: its number is zero, as
      // after the first free, but its header is the reuse's.
      put(2 * KEYS);
      freeIt(w, put, m, s);
    });
    expect(got.resyncs).toBe(1);
  });
});

// range() on a reader copies the keys of its index out of the mapping. On a
// large store that copy takes long enough for a busy writer's compaction to
// free a segment during every copy: range() must not copy again for each,
// and a segment reused under the copy must not leave a key out. The writer
// acts inside the copy (KvIndex.rangeCandidates, hooked).
describe('range() on a reader while segments are freed and reused under its copy of the keys', () => {
  const index = KvIndex.prototype as unknown as Hooked;
  const rangeCandidates = index.rangeCandidates;
  afterEach(() => {
    index.rangeCandidates = rangeCandidates;
  });

  /** Runs `writer` inside the reader's first `limit` copies of the keys; @returns the copies made */
  function duringCopies(limit: number, writer: (copy: number) => void): { copies: number } {
    const seen = { copies: 0 };
    let busy = false;
    index.rangeCandidates = function (this: unknown, ...a: unknown[]) {
      if (!busy) {
        seen.copies++;
        if (seen.copies <= limit) {
          busy = true;
          try {
            writer(seen.copies);
          } finally {
            busy = false;
          }
        }
      }
      return rangeCandidates.apply(this, a);
    };
    return seen;
  }

  function expectKeys(r: KVStore, model: Map<string, string>, o: { prefix?: string; reverse?: boolean }): void {
    const got = [...r.keys({ ...o, encoding: 'utf8' })];
    index.rangeCandidates = rangeCandidates;
    let want = [...model.keys()].sort();
    if (o.prefix !== undefined) want = want.filter((k) => k.startsWith(o.prefix!));
    if (o.reverse === true) want.reverse();
    expect(got).toEqual(want);
  }

  test.each([
    ['every key', {}],
    ['a prefix, in reverse', { prefix: 'key-1', reverse: true }],
  ])('%s: segments reused under the copy leave no key out', (_name, o) => {
    const { w, file, model, put } = setup('churn-range.kv');
    const r = KVStore.open(file, { readOnly: true });
    expectServes(r, model);
    const before = r.stats().reader!;
    const seen = duringCopies(1, () => {
      // Every key written again, compaction, and new keys of another size
      // that reuse the freed segments: the reader's index, not caught up,
      // points into bytes that now hold other records, and what it copies
      // from there are not its keys.
      put(KEYS);
      while (w.compact() > 0);
      for (let i = 0; i < 800; i++) {
        w.put(`zzz-${i}`, 'y'.repeat(501));
        model.set(`zzz-${i}`, 'y'.repeat(501));
      }
    });
    expectKeys(r, model, o);
    const after = r.stats().reader!;
    // The reader saw the frees, and copied the keys once (again only after a rebuild).
    expect(after.retries).toBeGreaterThan(before.retries);
    expect(seen.copies).toBe(1 + after.resyncs - before.resyncs);
    r.close();
    w.close();
  });

  test('keys the copy lost to freed segments are found again from the copies compaction made', () => {
    const { w, file, model } = setup('churn-range-lost.kv');
    const r = KVStore.open(file, { readOnly: true });
    expectServes(r, model);
    const m = openMapping(file, { readOnly: true });
    const freed = (o: number): boolean => seqAt(m, o) === 0n;
    let lost = 0;
    let busy = false;
    index.rangeCandidates = function (this: KvIndex, ...a: unknown[]) {
      if (busy) return rangeCandidates.apply(this, a);
      busy = true;
      // Half the keys written again, then compaction: the other half's
      // entries are copied to the log's end and their segments freed.
      for (let i = 0; i < KEYS; i += 2) {
        const v = `${key(i)}:again:`.padEnd(200, 'x');
        w.put(key(i), v);
        model.set(key(i), v);
      }
      while (w.compact() > 0);
      busy = false;
      // A copy that read those segments after they were reused: every key
      // the reader's index holds there comes out as some other string.
      const out: string[] = [];
      for (const k of rangeCandidates.apply(this, a) as Iterable<string>) {
        const o = this.get(k);
        if (o !== undefined && freed(o)) {
          lost++;
          out.push(`~${k}`);
        } else out.push(k);
      }
      index.rangeCandidates = rangeCandidates;
      return out.sort()[Symbol.iterator]();
    };
    expectKeys(r, model, {});
    expect(lost).toBeGreaterThan(KEYS / 4);
    m.close();
    r.close();
    w.close();
  });

  test('a segment freed during every copy: the keys are copied once', () => {
    const { w, file, model, put } = setup('churn-range-frees.kv');
    const r = KVStore.open(file, { readOnly: true });
    expectServes(r, model);
    const before = r.stats().reader!;
    // 20 copies with a free, then none: a reader that copied again after
    // each would copy 21 times.
    const seen = duringCopies(20, () => freeASegment(w, put));
    expectKeys(r, model, {});
    const after = r.stats().reader!;
    expect(seen.copies).toBe(1 + after.resyncs - before.resyncs);
    expect(after.resyncs - before.resyncs).toBeLessThan(2);
    r.close();
    w.close();
  });
});

// A get copies its value, then checks that no segment was freed meanwhile.
// Beside a busy writer whose segments are small, a long copy (a large
// value) meets a free elsewhere in the file every time: what is checked is
// the segment the value lies in. The writer frees a segment inside the
// reader's lookup (KvIndex.get, hooked) of each get.
const hookedIndex = KvIndex.prototype as unknown as Hooked;
const indexGet = hookedIndex.get;
afterEach(() => {
  hookedIndex.get = indexGet;
});

/** A store with a `length`-byte value under 'big', a reader that has read it, and a read-only mapping of the file. */
function withBig(name: string, length: number): ReturnType<typeof setup> & { r: KVStore; m: Mapping; big: string } {
  const s = setup(name);
  const big = 'b'.repeat(length);
  s.w.put('big', big);
  s.model.set('big', big);
  const r = KVStore.open(s.file, { readOnly: true });
  expect(r.getString('big')).toBe(big);
  return { ...s, r, m: openMapping(s.file, { readOnly: true }), big };
}

/** The reader serves the writer's state; everything is closed. */
function finish(o: { w: KVStore; r: KVStore; m: Mapping; model: Map<string, string> }): void {
  hookedIndex.get = indexGet;
  expectServes(o.r, o.model);
  o.m.close();
  o.r.close();
  o.w.close();
}

test('a get is not done again for a segment freed elsewhere during it', () => {
  const hooked = hookedIndex;
  const get = indexGet;
  const { w, model, put, r, m, big } = withBig('churn-get.kv', 100_000);
  let lookups = 0;
  let busy = false;
  let bigAt = -1;
  try {
    hooked.get = function (this: KvIndex, ...a: unknown[]) {
      const off = get.apply(this, a) as number | undefined;
      if (!busy && a[0] === 'big') {
        lookups++;
        bigAt = off!;
        if (lookups <= 20) {
          busy = true;
          try {
            freeASegment(w, put);
          } finally {
            busy = false;
          }
        }
      }
      return off;
    };
    const before = r.stats().reader!;
    for (const f of [() => r.getString('big'), () => r.get('big')?.toString('latin1'), () => {
      const target = Buffer.alloc(big.length);
      return target.toString('latin1', 0, r.getInto('big', target));
    }]) {
      lookups = 0;
      expect(brief(f())).toBe(brief(big));
      // Freed during the read, not where the value lies: read once.
      expect(seqAt(m, bigAt)).not.toBe(0n);
      expect(lookups).toBe(1);
    }
    expect(r.stats().reader!.retries).toBe(before.retries);
  } finally {
    hooked.get = get;
  }
  finish({ w, r, m, model });
});

test('a get whose own segment is freed and reused during it is done again', () => {
  const hooked = hookedIndex;
  const get = indexGet;
  const { w, model, put, r, m } = withBig('churn-get-own.kv', 30_000);
  const after = 'a'.repeat(30_000);
  let lookups = 0;
  let busy = false;
  try {
    hooked.get = function (this: KvIndex, ...a: unknown[]) {
      const off = get.apply(this, a) as number | undefined;
      if (!busy && a[0] === 'big' && ++lookups === 1) {
        busy = true;
        try {
          // The value written again elsewhere, its old segment freed by
          // compaction, then reused by more writes.
          const was = seqAt(m, off!);
          w.put('big', after);
          model.set('big', after);
          for (let k = 0; k < 50 && seqAt(m, off!) === was; k++) {
            put(KEYS / 2);
            w.compact();
          }
          for (let k = 0; k < 200 && seqAt(m, off!) === 0n; k++) put(20);
          expect(seqAt(m, off!)).not.toBe(was);
          expect(seqAt(m, off!)).not.toBe(0n);
        } finally {
          busy = false;
        }
      }
      return off;
    };
    expect(brief(r.getString('big'))).toBe(brief(after));
    expect(lookups).toBe(2);
  } finally {
    hooked.get = get;
  }
  finish({ w, r, m, model });
});
