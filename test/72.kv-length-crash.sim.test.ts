// The length a KVStore records in its superblock, under the crash
// simulator. The store's file is the simulated region; the store grows by
// taking a longer prefix of it (the Remap a file's store gets), or finds
// one at open (a file grown before a crash, or a store written before
// lengths were recorded). Oracle, after a crash at any point: the whole
// region opens (a file longer than recorded is a store), and so does its
// prefix at the recorded length, and both recover the state before or
// after the call in flight, never older than the last acknowledged call:
// a file cut to its recorded length has lost nothing acknowledged. Broken
// variants of the record's ordering must be caught.
import { KVStore, type Region } from '../lib';
import { crashTest, type CheckContext, type CrashReport } from '../lib/testing';
import { DATA_START } from '../lib/kv/format';
import { KvLog } from '../lib/kv/log';
import { Superblock } from '../lib/log/superblock';

// The format, as docs/formats.md gives it: the store's superblock at 0, its
// payload 32 bytes, the recorded length a u64 at 16 in the payload.
const KV_SUPERBLOCK = { offset: 0, capacity: 32 };
const LENGTH_AT = 16;
import { faulty, ViolationKinds } from './faults';
import { prefixRegion } from './fixtures/sim/prefix-region';

const SIZE = 64 * 1024;
const SEG = 1024;
/** The length the store is formatted with: 12 segments. */
const FIRST = DATA_START + 12 * SEG;
/** Both superblock replicas. */
const SB_BYTES = Superblock.size(KV_SUPERBLOCK.capacity);
const IMAGES = Number(process.env.PMEM_KV_CRASH_IMAGES ?? 128);

/** The length the superblock on `region` records (0: none). */
function recorded(region: Region): number {
  const p = Superblock.open(region, KV_SUPERBLOCK).read();
  return p === undefined ? 0 : Number(p.readBigUInt64LE(LENGTH_AT));
}

/** Writes the payload with no length in it, as a store written before lengths were recorded has. */
function forgetLength(region: Region): void {
  const sb = Superblock.open(region, KV_SUPERBLOCK);
  const p = sb.read()!;
  p.fill(0, LENGTH_AT, LENGTH_AT + 8);
  sb.write(p);
}

/** A canonical string of a store's contents (keys and values here hold no NUL or LF). */
function contents(region: Region): string {
  const store = KVStore.openRegion(region, { readOnly: true });
  try {
    let out = '';
    for (const [k, v] of store.range({ encoding: 'utf8' })) out += `${k}\0${v}\n`;
    return out;
  } finally {
    store.close();
  }
}

function canon(state: Map<string, string>): string {
  return [...state].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}\0${v}\n`).join('');
}

interface Recovered {
  whole: string;
  /** The store cut to its recorded length; undefined when none is recorded. */
  cut?: string;
  length: number;
}

/** The recorded lengths recover() found, over every image of a run. */
const seen = new Set<number>();

function recover(region: Region): Recovered {
  const length = recorded(region);
  seen.add(length);
  if (length > region.length) throw new Error(`the superblock records ${length} bytes; the region has ${region.length}`);
  return { whole: contents(region), cut: length === 0 ? undefined : contents(prefixRegion(region, length)), length };
}

interface Model {
  /** states[0] before the operation; states[i] after its i-th call. */
  states: string[];
}

function check(r: Recovered, { after, acked }: CheckContext<Model>): void {
  const last = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
  const allowed = [after.states[last], after.states[last + 1]];
  const name = (c: string): string => {
    const at = after.states.indexOf(c);
    return at < 0 ? 'a state that never existed' : `the state after call ${at}`;
  };
  if (!allowed.includes(r.whole)) throw new Error(`the whole region recovered ${name(r.whole)}, but call ${last} was acknowledged`);
  if (r.cut !== undefined && !allowed.includes(r.cut)) {
    throw new Error(`cut to its recorded ${r.length} bytes, the store recovered ${name(r.cut)}, but call ${last} was acknowledged`);
  }
}

const value = (i: number): string => `${i}:${'g'.repeat(300)}`;

/** Unique keys until a put finds no room: all but the two segments puts keep free are used. */
function fillUp(store: KVStore, state: Map<string, string>): void {
  try {
    for (let i = 0; ; i++) {
      store.put(`old${i}`, value(i));
      state.set(`old${i}`, value(i));
    }
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_PMEM_NO_SPACE') throw e;
  }
}

interface Scenario {
  /** How the operation opens the store: 'grow' through KvLog with a Remap, 'open' as KVStore.openRegion on the whole region. */
  how: 'grow' | 'open';
  /** The store in setup holds no length (a store written before lengths were recorded). */
  unrecorded?: boolean;
  /** Wraps the region the operation writes through (a broken variant). */
  wrap?: (region: Region) => Region;
  seed?: number;
  /** Replace the oracle's halves (to count violations by kind). */
  recover?: typeof recover;
  check?: typeof check;
}

const PUTS = 16;

function run(sc: Scenario): CrashReport & { grown: number[]; lengths: number[] } {
  seen.clear();
  let grown: number[] = [];
  const report = crashTest<Model, Recovered>({
    size: SIZE,
    seed: sc.seed ?? 1,
    randomImages: IMAGES,
    torn: true,
    setup(region) {
      const store = KVStore.openRegion(prefixRegion(region, FIRST), { create: true, segmentSize: SEG });
      const state = new Map<string, string>();
      fillUp(store, state);
      store.close();
      if (sc.unrecorded) forgetLength(region);
      return { states: [canon(state)] };
    },
    operation(sim, before, ctx) {
      const region = sc.wrap ? sc.wrap(sim) : sim;
      const state = new Map<string, string>();
      for (const line of before.states[0].split('\n')) if (line !== '') state.set(line.split('\0')[0], line.split('\0')[1]);
      const states = [before.states[0]];
      const lengths: number[] = []; // the lengths the store was given past FIRST
      let put: (k: string, v: string) => void;
      let close: () => void;
      if (sc.how === 'grow') {
        // The store's file is FIRST bytes; it grows up to the whole region.
        const log = new KvLog(prefixRegion(region, FIRST), { create: false, readOnly: false, segmentSize: SEG }, SIZE, (bytes) => {
          lengths.push(bytes);
          return prefixRegion(region, bytes);
        });
        put = (k, v) => log.appendPut(k, k.length, v, v.length);
        close = () => log.markEndAtClose();
      } else {
        // The file is longer than the store recorded: grown before a crash.
        lengths.push(SIZE);
        const store = KVStore.openRegion(region);
        put = (k, v) => store.put(k, v);
        close = () => store.close();
      }
      for (let i = 0; i < PUTS; i++) {
        put(`new${i}`, value(i));
        state.set(`new${i}`, value(i));
        states.push(canon(state));
        ctx.ack(states.length - 1);
      }
      close();
      grown = lengths;
      return { states };
    },
    recover: sc.recover ?? recover,
    check: sc.check ?? check,
  });
  return { ...report, grown, lengths: [...seen].sort((a, b) => a - b) };
}

let totalImages = 0;
let totalPoints = 0;
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`KVStore recorded length: ${totalPoints} crash points, ${totalImages} images, no violation`);
});

/** The segments of the region past FIRST that a crash-free run of the operation wrote records into. */
function newSegmentsUsed(sc: Scenario): number {
  const plain: Region = { bytes: Buffer.alloc(SIZE), length: SIZE, granularity: 'cache-line', flush: () => {}, drain: () => {}, persist: () => {} };
  const store = KVStore.openRegion(prefixRegion(plain, FIRST), { create: true, segmentSize: SEG });
  fillUp(store, new Map());
  store.close();
  const log = sc.how === 'grow'
    ? new KvLog(prefixRegion(plain, FIRST), { create: false, readOnly: false, segmentSize: SEG }, SIZE, (bytes) => prefixRegion(plain, bytes))
    : undefined;
  const s = log === undefined ? KVStore.openRegion(plain) : undefined;
  for (let i = 0; i < PUTS; i++) {
    if (log !== undefined) log.appendPut(`new${i}`, `new${i}`.length, value(i), value(i).length);
    else s!.put(`new${i}`, value(i));
  }
  s?.close();
  let used = 0;
  for (let at = FIRST; at + SEG <= SIZE; at += SEG) if (plain.bytes.readUInt32LE(at) !== 0) used++;
  return used;
}

describe('every crash image opens whole and cut to its recorded length, and both hold every acknowledged write', () => {
  test('a growth: the file grows, its length is recorded, then its new segments take records', () => {
    // The operation reaches the new segments: the property is exercised.
    expect(newSegmentsUsed({ how: 'grow' })).toBeGreaterThan(1);
    for (const seed of [1, 2]) {
      const r = run({ how: 'grow', seed });
      // The crash points span the record: images hold the old length and the new.
      expect(r.grown.length).toBeGreaterThan(0);
      expect(r.lengths).toEqual([FIRST, ...r.grown]);
      expect(r.images).toBeGreaterThan(1000);
      expect(r.violations).toEqual([]);
      totalImages += r.images;
      totalPoints += r.points;
    }
  });

  test('an open of a file longer than the store recorded (a crash between a growth and its record)', () => {
    expect(newSegmentsUsed({ how: 'open' })).toBeGreaterThan(1);
    const r = run({ how: 'open' });
    expect(r.lengths).toEqual([FIRST, SIZE]);
    expect(r.images).toBeGreaterThan(1000);
    expect(r.violations).toEqual([]);
    totalImages += r.images;
    totalPoints += r.points;
  });

  test('an open of a store written before lengths were recorded, in a longer file', () => {
    const r = run({ how: 'open', unrecorded: true });
    expect(r.lengths).toEqual([0, SIZE]);
    expect(r.images).toBeGreaterThan(1000);
    expect(r.violations).toEqual([]);
    totalImages += r.images;
    totalPoints += r.points;
  });
});

/**
 * A Region over `inner` whose flushes of the superblock are held back: made
 * (with the fence after them) only at the `late`-th fence after the first
 * flush past FIRST, or never (`late` undefined). The writes that record the
 * length then reach the media late, or only as dirty lines may.
 */
function lateSuperblock(inner: Region, late?: number): Region {
  let held = false;
  let fences = -1; // fences since the first flush past FIRST; -1 before it
  const region: Region = {
    get bytes() {
      return inner.bytes;
    },
    length: inner.length,
    granularity: inner.granularity,
    flush(offset, length) {
      if (offset < SB_BYTES) {
        held = true;
        return;
      }
      if (offset >= FIRST && fences < 0) fences = 0;
      inner.flush(offset, length);
    },
    drain() {
      if (fences >= 0) fences++;
      if (held && late !== undefined && fences >= late) {
        inner.flush(0, SB_BYTES);
        held = false;
      }
      inner.drain();
    },
    persist(offset, length) {
      region.flush(offset, length);
      region.drain();
    },
  };
  return region;
}

/**
 * Runs a broken variant, counting its violations by kind: acknowledged
 * writes lost to a cut at the recorded length (the property), and
 * superblocks refused as damaged (holding back the superblock's fences
 * breaks its own protocol too). Expects some of the first, and nothing
 * else.
 */
function caught(name: string, sc: Scenario): void {
  const kinds = new ViolationKinds({ lost: /cut to its recorded/, refused: /superblock at 0/ });
  const r = run({ ...sc, check: kinds.watch(check), recover: kinds.watch(recover) });
  if (sc.how === 'grow') expect(r.grown.length).toBeGreaterThan(0);
  expect(kinds.counts.lost).toBeGreaterThan(0);
  expect(kinds.counts.other).toBe(0);
  expect(kinds.counts.lost + kinds.counts.refused).toBe(r.violationCount);
  // eslint-disable-next-line no-console
  console.log(`${name}: ${r.images} images, ${r.violationCount} violations: ${kinds.counts.lost} lost acknowledged puts, ${kinds.counts.refused} refused superblocks`);
}

describe('broken variants are caught', () => {
  test('a growth whose length is never flushed', () => {
    caught('length never flushed', { how: 'grow', wrap: (region) => lateSuperblock(region) });
  });

  test('a growth whose length is made durable only after a write into a new segment was acknowledged', () => {
    // The record's lines are flushed and fenced with the second fence after
    // the first flush past the old end: the first record there was fenced,
    // and its call acknowledged, before the length was durable.
    caught('length durable late', { how: 'grow', wrap: (region) => lateSuperblock(region, 2) });
  });

  test('an open of a longer file that records its length but never flushes it', () => {
    caught('length at open never flushed', { how: 'open', wrap: (region) => faulty(region, { flush: (o, l) => (o < SB_BYTES ? null : [o, l]) }) });
  });
});
