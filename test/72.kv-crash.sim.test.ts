// KVStore under the crash simulator. Oracle: after a crash at any point,
// the store recovers to exactly the state before the call in flight or
// after it, never a mix (so every key holds its value from before or after,
// and batch and rename are all-or-nothing), and never a state older than
// the last acknowledged call; `count` agrees with a full scan; and the
// recovered store takes a write and reopens with it. Broken variants of the
// protocol must be caught.
import { KVStore, type Region } from '../lib';
import { crashTest, type CheckContext, type CrashReport } from '../lib/testing';
import { faulty, type Faults, ViolationKinds } from './faults';
import { prefixRegion } from './fixtures/sim/prefix-region';

const SIZE = 64 * 1024;
const SEG = 1024;
// Random images per crash point, and seeds of the mixed sequences; the
// crash sweep (PMEM_KV_CRASH_IMAGES, PMEM_KV_CRASH_SEEDS) scales them up.
const IMAGES = Number(process.env.PMEM_KV_CRASH_IMAGES ?? 128);
const SEEDS = Number(process.env.PMEM_KV_CRASH_SEEDS ?? 140);

type State = Map<string, string>;
interface Model {
  /** states[0] is the state before the operation; states[i] the state after its i-th call. */
  states: string[];
}

/** A canonical string of a store's contents (keys and values here never hold NUL or LF). */
function canon(entries: Iterable<[string, string]>): string {
  let out = '';
  for (const [k, v] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) out += `${k}\0${v}\n`;
  return out;
}

function parse(c: string): State {
  const m: State = new Map();
  for (const line of c.split('\n')) {
    if (line === '') continue;
    const i = line.indexOf('\0');
    m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/** The store's contents in key order, as canon() writes them. */
function contents(store: KVStore): { text: string; n: number } {
  let text = '';
  let n = 0;
  for (const [k, v] of store.range({ encoding: 'utf8' })) {
    text += `${k}\0${v}\n`;
    n++;
  }
  return { text, n };
}

interface Recovered {
  contents: string;
  count: number;
  scanned: number;
  /** Set when a write after recovery failed or did not survive a reopen. */
  afterWrite?: string;
}

function recoverStore(region: Region, writeAfter: boolean): Recovered {
  let store = KVStore.openRegion(region);
  const { text, n } = contents(store);
  const r: Recovered = { contents: text, count: store.count, scanned: n };
  if (writeAfter) {
    try {
      store.put('after-recovery', 'z'.repeat(40));
      store.close();
      store = KVStore.openRegion(region);
      if (store.getString('after-recovery') !== 'z'.repeat(40)) r.afterWrite = 'a write after recovery was lost';
      else {
        store.delete('after-recovery');
        if (contents(store).text !== r.contents) r.afterWrite = 'a write after recovery changed other keys';
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_PMEM_NO_SPACE') r.afterWrite = `a write after recovery threw ${e}`;
    }
  }
  store.close();
  return r;
}

interface Scenario {
  seed?: number;
  randomImages?: number;
  torn?: boolean;
  writeAfter?: boolean;
  /** Region the store is formatted on in setup (a prefix, to model growth). */
  setupLength?: number;
  faults?: Faults;
  /** Counts every violation by kind. */
  kinds?: ViolationKinds<string>;
  prepare(store: KVStore, state: State): void;
  /** Runs the calls; `done(state)` after each call acknowledges the state it left. */
  act(store: KVStore, state: State, done: (s: State) => void): void;
}

function kvCrash(sc: Scenario): CrashReport {
  const recover = (region: Region): Recovered => recoverStore(region, sc.writeAfter ?? false);
  const check = (r: Recovered, { after, acked }: CheckContext<Model>): void => {
    if (r.count !== r.scanned) throw new Error(`count ${r.count} but a scan finds ${r.scanned} keys`);
    const lastAck = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
    const allowed = [after.states[lastAck], after.states[lastAck + 1]];
    if (!allowed.includes(r.contents)) {
      const at = after.states.indexOf(r.contents);
      throw new Error(at >= 0 ? `recovered the state after call ${at}, but call ${lastAck} was acknowledged`
        : `recovered a state that never existed: ${r.contents.slice(0, 200)}`);
    }
    if (r.afterWrite !== undefined) throw new Error(r.afterWrite);
  };
  return crashTest<Model, Recovered>({
    size: SIZE,
    seed: sc.seed ?? 1,
    randomImages: sc.randomImages ?? IMAGES,
    torn: sc.torn ?? true,
    setup(region) {
      const store = KVStore.openRegion(sc.setupLength ? prefixRegion(region, sc.setupLength) : region, { create: true, segmentSize: SEG });
      const state: State = new Map();
      sc.prepare(store, state);
      store.close();
      return { states: [canon(state)] };
    },
    operation(region, before, ctx) {
      const store = KVStore.openRegion(sc.faults ? faulty(region, sc.faults) : region);
      const state: State = parse(before.states[0]);
      const states = [before.states[0]];
      sc.act(store, state, (s) => {
        states.push(canon(s));
        ctx.ack(states.length - 1);
      });
      return { states };
    },
    recover: sc.kinds?.watch(recover) ?? recover,
    check: sc.kinds?.watch(check) ?? check,
  });
}

/** Fills `n` keys with values of about `len` bytes. */
function fill(store: KVStore, state: State, n: number, len = 40, tag = 'v'): void {
  for (let i = 0; i < n; i++) {
    const v = `${tag}${i}-${'.'.repeat((i * 7) % len)}`;
    store.put(`key${i}`, v);
    state.set(`key${i}`, v);
  }
}

const put = (store: KVStore, s: State, k: string, v: string): void => {
  store.put(k, v);
  s.set(k, v);
};
const del = (store: KVStore, s: State, k: string): void => {
  store.delete(k);
  s.delete(k);
};

let totalImages = 0;
let totalSeconds = 0;
const rows = new Map<string, { runs: number; points: number; images: number }>();
function ok(name: string, report: CrashReport): void {
  expect(report.violations).toEqual([]);
  totalImages += report.images;
  totalSeconds += report.seconds;
  const row = rows.get(name) ?? { runs: 0, points: 0, images: 0 };
  row.runs++;
  row.points += report.points;
  row.images += report.images;
  rows.set(name, row);
}

afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`KVStore crash images: ${totalImages} in ${totalSeconds.toFixed(1)} s ` +
    `(${(totalImages / totalSeconds).toFixed(0)}/s)\n` +
    [...rows].map(([name, r]) => `${name.padEnd(28)} ${String(r.runs).padStart(4)} runs ${String(r.points).padStart(6)} points ` +
      `${String(r.images).padStart(8)} images`).join('\n'));
});

describe('every crash image recovers to the state before or after the call', () => {
  test('put of a new key', () => {
    for (const seed of [1, 2, 3]) {
      ok('put new key', kvCrash({ seed, writeAfter: true, prepare: (s, st) => fill(s, st, 10), act: (s, st, done) => {
        put(s, st, 'new', 'fresh value'.repeat(3));
        done(st);
      } }));
    }
  });

  test('puts of keys given as bytes: a new key, then an overwrite', () => {
    ok('put bytes key', kvCrash({ writeAfter: true, prepare: (s, st) => fill(s, st, 10), act: (s, st, done) => {
      s.put(Buffer.from('new'), Buffer.from('fresh value'.repeat(3)));
      st.set('new', 'fresh value'.repeat(3));
      done(st);
      s.put(new Uint8Array(Buffer.from('key3')), Buffer.from('replaced'));
      st.set('key3', 'replaced');
      done(st);
    } }));
  });

  test('overwrite, and a put that opens a new segment', () => {
    ok('overwrite', kvCrash({ writeAfter: true, prepare: (s, st) => fill(s, st, 10), act: (s, st, done) => {
      put(s, st, 'key3', 'replaced');
      done(st);
    } }));
    // 20 puts of ~70 bytes cross several 1 KiB segments.
    ok('puts across segments', kvCrash({ prepare: (s, st) => fill(s, st, 5), act: (s, st, done) => {
      for (let i = 0; i < 20; i++) {
        put(s, st, `key${i % 7}`, `round ${i} ${'#'.repeat(40)}`);
        done(st);
      }
    } }));
  });

  test('delete', () => {
    ok('delete', kvCrash({ writeAfter: true, prepare: (s, st) => fill(s, st, 10), act: (s, st, done) => {
      del(s, st, 'key4');
      done(st);
      del(s, st, 'key0');
      done(st);
    } }));
  });

  test('batch', () => {
    for (const seed of [1, 2]) {
      ok('batch', kvCrash({ seed, writeAfter: true, prepare: (s, st) => fill(s, st, 8), act: (s, st, done) => {
        s.batch([
          { type: 'put', key: 'key1', value: 'b1' },
          { type: 'del', key: 'key2' },
          { type: 'put', key: 'n1', value: 'x'.repeat(200) },
          { type: 'put', key: 'n2', value: 'y'.repeat(200) },
          { type: 'del', key: 'key5' },
        ]);
        st.set('key1', 'b1');
        st.delete('key2');
        st.set('n1', 'x'.repeat(200));
        st.set('n2', 'y'.repeat(200));
        st.delete('key5');
        done(st);
      } }));
    }
  });

  test('rename, to a new name and over an existing one', () => {
    ok('rename', kvCrash({ writeAfter: true, prepare: (s, st) => fill(s, st, 8), act: (s, st, done) => {
      s.rename('key1', 'moved');
      st.set('moved', st.get('key1')!);
      st.delete('key1');
      done(st);
      s.rename('moved', 'key6');
      st.set('key6', st.get('moved')!);
      st.delete('moved');
      done(st);
    } }));
  });

  test('a value spanning several segments', () => {
    ok('large value', kvCrash({ writeAfter: true, prepare: (s, st) => fill(s, st, 6), act: (s, st, done) => {
      put(s, st, 'big', 'B'.repeat(3000));
      done(st);
      put(s, st, 'key1', 'after big');
      done(st);
    } }));
  });

  test('each compaction step', () => {
    // Overwrites, deletes (tombstones in later segments than the entries
    // they hide) and a batch spread over many segments; compact() cleans
    // them oldest first. The state must never change.
    const prepare = (s: KVStore, st: State): void => {
      fill(s, st, 40, 60);
      for (let i = 0; i < 150; i++) put(s, st, `key${i % 40}`, `over ${i} ${'o'.repeat(i % 30)}`);
      for (let i = 0; i < 40; i += 3) del(s, st, `key${i}`);
      s.batch([{ type: 'put', key: 'b1', value: 'bb' }, { type: 'put', key: 'b2', value: 'cc' }]);
      st.set('b1', 'bb');
      st.set('b2', 'cc');
      for (let i = 0; i < 6; i++) put(s, st, `late${i}`, 'l'.repeat(50));
    };
    for (const seed of [1, 2, 3, 4]) {
      ok('compact', kvCrash({ seed, prepare, act: (s, st, done) => {
        s.compact();
        done(st);
        put(s, st, 'key3', 'back');
        done(st);
      } }));
    }
  });

  test('compact() that copies into the active segment\'s room', () => {
    // The active segment holds only live entries: compact() goes on
    // appending to it, and the copies of the segments it cleans fill its
    // room before any new segment is opened. Run outside the simulator,
    // the segments in use drop by as many as compact() frees: it opened
    // none (given up, the active segment's room was lost, and the copies
    // took a new segment).
    const prepare = (s: KVStore, st: State): void => {
      fill(s, st, 40, 60);
      // Dead entries in the oldest segments, new live ones in the active.
      for (let i = 0; i < 8; i++) put(s, st, `key${i}`, `again ${i}`);
    };
    const plain: Region = { bytes: Buffer.alloc(SIZE), length: SIZE, granularity: 'cache-line', flush: () => {}, drain: () => {}, persist: () => {} };
    const store = KVStore.openRegion(plain, { create: true, segmentSize: SEG });
    prepare(store, new Map());
    const used = store.stats().segments.used;
    const freed = store.compact();
    expect(freed).toBeGreaterThan(0);
    expect(store.stats().segments.used).toBe(used - freed);
    store.close();
    for (const seed of [1, 2, 3]) {
      ok('compact into active', kvCrash({ seed, writeAfter: true, prepare, act: (s, st, done) => {
        s.compact();
        done(st);
        put(s, st, 'key3', 'back');
        done(st);
      } }));
    }
  });

  test('a put into a full store compacts on its own', () => {
    ok('put compacts when full', kvCrash({ randomImages: 240, prepare: (s, st) => {
      try {
        for (let i = 0; ; i++) put(s, st, `k${i}`, `${i}:${'f'.repeat(150)}`);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_PMEM_NO_SPACE') throw e;
      }
      for (let i = 0; i < 60; i += 2) del(s, st, `k${i}`);
    }, act: (s, st, done) => {
      for (let i = 0; i < 12; i++) {
        put(s, st, `n${i}`, `after full ${i} ${'a'.repeat(150)}`);
        done(st);
      }
    } }));
  });

  test('writes that clean as they go, a bounded step at a time', () => {
    // Few free segments and many dead entries: every few writes run one
    // step of the incremental compaction (a victim copied out in parts,
    // then freed), with tombstones that must not be dropped too early.
    // The calls do clean: run outside the simulator, they free segments
    // (the frees word, 8 bytes at 2056, counts them), more than one, in
    // more writes than one.
    const bytes = Buffer.alloc(SIZE);
    const plain: Region = { bytes, length: SIZE, granularity: 'cache-line', flush: () => {}, drain: () => {}, persist: () => {} };
    const store = KVStore.openRegion(plain, { create: true, segmentSize: SEG });
    lowOnSpace(store, new Map());
    const freesAt = (): number => Number(bytes.readBigUInt64LE(2056));
    let freeing = 0;
    const before = freesAt();
    cleaningWrites(store, new Map(), () => {
      if (freesAt() > before + freeing) freeing++;
    });
    store.close();
    expect(freesAt() - before).toBeGreaterThan(1);
    expect(freeing).toBeGreaterThan(1);
    for (const seed of [1, 2, 3]) {
      ok('writes clean as they go', kvCrash({ seed, writeAfter: true, prepare: lowOnSpace, act: cleaningWrites }));
    }
  });

  test('growth: the store takes segments that appear at the end of its region', () => {
    ok('growth (region part)', kvCrash({ setupLength: 16 * 1024, writeAfter: true, prepare: (s, st) => fill(s, st, 60, 100), act: (s, st, done) => {
      for (let i = 0; i < 10; i++) {
        put(s, st, `grown${i}`, 'g'.repeat(300));
        done(st);
      }
    } }));
  });

  test('a mixed sequence of calls', () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      ok('mixed sequence', kvCrash({ seed, randomImages: 2 * IMAGES, prepare: (s, st) => fill(s, st, 10), act: (s, st, done) => {
        let x = seed;
        const rnd = (n: number): number => (x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff) % n;
        for (let i = 0; i < 30; i++) {
          const k = `key${rnd(14)}`;
          const op = rnd(10);
          if (op < 5) put(s, st, k, `m${i}${'m'.repeat(rnd(80))}`);
          else if (op < 7) del(s, st, k);
          else if (op < 8) {
            const to = `key${rnd(14)}`;
            if (s.rename(k, to) && k !== to) {
              st.set(to, st.get(k)!);
              st.delete(k);
            }
          } else if (op < 9) {
            const k2 = `key${rnd(14)}`;
            s.batch([{ type: 'put', key: k, value: `bt${i}` }, { type: 'del', key: k2 }]);
            st.set(k, `bt${i}`);
            st.delete(k2);
          } else {
            s.compact();
          }
          done(st);
        }
      } }));
    }
  });
});

/** Key length and value of the writes that bring a store down to its last few free segments. */
const STABLE = 6;
/**
 * Keys that are never written again (their entries stay live in old
 * segments, so cleaning copies them: a few first, then one write in six, so
 * that every segment keeps some), deletes (tombstones) and overwrites,
 * until no more than 6 segments of 1 KiB are free: writes clean as they go.
 */
function lowOnSpace(s: KVStore, st: State): void {
  for (let i = 0; i < STABLE; i++) put(s, st, `stable${i}`, `s${i}${'='.repeat(30)}`);
  for (let i = 0; s.stats().segments.free > 6; i++) {
    if (i % 6 === 5) put(s, st, `live${i}`, `l${i}${'~'.repeat(10)}`);
    else if (i % 7 === 3) del(s, st, `key${(i * 5) % 23}`);
    else put(s, st, `key${i % 23}`, `p${i}${'-'.repeat(20 + (i % 40))}`);
  }
}

/** Puts and deletes after lowOnSpace (about 2 KiB in all, so cleaning frees segments), each acknowledged. */
function cleaningWrites(s: KVStore, st: State, done: (s: State) => void): void {
  for (let i = 0; i < 16; i++) {
    if (i % 5 === 4) del(s, st, `key${(i * 3) % 23}`);
    else put(s, st, `u${i % 9}`, `w${i}${'+'.repeat(120 + i)}`);
    done(st);
  }
}

describe('broken variants are caught', () => {
  const putNew = (s: KVStore, st: State, done: (s: State) => void): void => {
    for (let i = 0; i < 12; i++) {
      put(s, st, `n${i}`, 'w'.repeat(100));
      done(st);
    }
  };

  test('acknowledging a put before its fence', () => {
    const r = kvCrash({ randomImages: 4, prepare: (s, st) => fill(s, st, 4), faults: { skipDrain: () => true }, act: putNew });
    expect(r.violationCount).toBeGreaterThan(0);
  });

  test('acknowledging a put of a key given as bytes before its fence', () => {
    const r = kvCrash({ randomImages: 4, prepare: (s, st) => fill(s, st, 4), faults: { skipDrain: () => true }, act: (s, st, done) => {
      for (let i = 0; i < 12; i++) {
        s.put(Buffer.from(`n${i}`), Buffer.alloc(100, 0x77));
        st.set(`n${i}`, 'w'.repeat(100));
        done(st);
      }
    } });
    expect(r.violationCount).toBeGreaterThan(0);
  });

  test('a new segment whose header is never flushed: its records are refused as damage, or lost', () => {
    // A new segment's header is flushed where the segment is opened (log.ts
    // #place), and the fence of its first record makes it durable. With
    // that flush dropped, the records behind the header are fenced and the
    // header is not: a crash leaves it as it was (zeros: the segment is
    // dropped with its acknowledged puts), or torn, its sequence number new
    // and its checksum not, ahead of two intact records. Recovery refuses
    // that (refuseDamagedHeader in lib/kv/recover.ts) as a state no crash of
    // the real protocol leaves, and the refusal is a violation here. Only a
    // torn image (a random one, 32 per crash point) holds such a header.
    const kinds = new ViolationKinds({
      refused: /its header is damaged, and records written after it was durable are intact/,
      lost: /^recovered the state after call \d+, but call \d+ was acknowledged$/,
    });
    const variant = (faults?: Faults, counted?: ViolationKinds<string>): CrashReport =>
      kvCrash({ randomImages: 32, prepare: (s, st) => fill(s, st, 4), faults, kinds: counted, act: putNew });
    const r = variant({ flush: (o, l) => (l === 64 && (o - 4096) % SEG === 0 ? null : [o, l]) }, kinds);
    kinds.expectEveryKind(r);
    // eslint-disable-next-line no-console
    console.log(`unflushed segment header: ${r.images} images, ${kinds.counts.refused} refused, ${kinds.counts.lost} lost acknowledged puts`);
    // The same calls with the header flushed: no image is refused, none loses a put.
    const healthy = variant();
    expect(healthy.images).toBeGreaterThan(0);
    expect(healthy.violations).toEqual([]);
  });

  test('a batch written as separate records, with no single commit', () => {
    const r = kvCrash({ randomImages: 4, prepare: (s, st) => fill(s, st, 4), act: (s, st, done) => {
      s.put('key1', 'b1');
      s.delete('key2');
      s.put('n', 'x');
      st.set('key1', 'b1');
      st.delete('key2');
      st.set('n', 'x');
      done(st);
    } });
    expect(r.violationCount).toBeGreaterThan(0);
  });

  test('cleaning steps that fence neither their copies nor their frees', () => {
    // Every fence of the writes' cleaning steps is skipped (their copies'
    // and their frees'); the writes' own records keep theirs. Copies, frees
    // and the writes' records then reach the media in any order.
    let written = false;
    const r = kvCrash({
      randomImages: 16,
      prepare: lowOnSpace,
      faults: {
        flush: (o, l, b) => {
          // A record the act writes: a tombstone (cleaning copies only
          // puts) or a put of a `u` key (cleaning's copies start with other
          // keys until it copies those).
          written = l > 24 && (b[o + 16] === 2 || b[o + 24] === 0x75);
          return [o, l];
        },
        skipDrain: () => !written,
      },
      act: cleaningWrites,
    });
    expect(r.violationCount).toBeGreaterThan(0);
  });

  test('compaction that frees a segment before its copies are fenced', () => {
    let compacting = false;
    const r = kvCrash({
      randomImages: 8,
      prepare: (s, st) => {
        fill(s, st, 12, 60);
        for (let i = 0; i < 20; i++) put(s, st, `key${i % 6}`, `over ${i}`);
      },
      // Skip every fence while compact() runs, except the one of each free:
      // copies and frees then become durable in any order.
      faults: { skipDrain: () => compacting },
      act: (s, st, done) => {
        compacting = true;
        try {
          s.compact();
        } finally {
          compacting = false;
        }
        done(st);
      },
    });
    expect(r.violationCount).toBeGreaterThan(0);
  });
});

test('at least 1,000,000 crash images in all', () => {
  expect(totalImages).toBeGreaterThanOrEqual(Number(process.env.PMEM_KV_MIN_IMAGES ?? 1_000_000));
});
