// KVStore's calls against a model (a Map of key bytes to value bytes), at
// random, with keys and values in every form the API takes (strings, with
// and without multi-byte chars, Buffers, views at an offset into a larger
// ArrayBuffer, SharedArrayBuffer views, subclasses with a lying `length`),
// sizes at and one past the limits, bad arguments that must change
// nothing, batches that throw part way, getters that write to the store,
// iterators left open across writes and compactions, and a reader beside
// the writer that must agree with the model after every write.
// PMEM_KV_MODEL_STEPS sets the number of steps (default 4000).
import { KVStore } from '../lib';
import { rng, tmpFile } from './helpers';

const STEPS = Number(process.env.PMEM_KV_MODEL_STEPS ?? 4000);
const SIZE = 2 << 20;
const SEG = 16 * 1024;
const MAX_KEY = 4096;

type Form = (bytes: Buffer) => Buffer | Uint8Array | string;

class Lying extends Uint8Array {
  override get length(): number {
    return 1 << 20;
  }
}

/** The forms a key or value may be given in, each of the same bytes. */
const forms: Array<[string, Form | null]> = [
  ['buffer', (b) => Buffer.from(b)],
  ['offset view', (b) => {
    const u = new Uint8Array(new ArrayBuffer(b.length + 7), 5, b.length);
    u.set(b);
    return u;
  }],
  ['shared view', (b) => {
    const u = new Uint8Array(new SharedArrayBuffer(b.length + 3), 1, b.length);
    u.set(b);
    return u;
  }],
  ['lying subclass', (b) => Lying.from(b) as Uint8Array],
  // A string only for bytes that are their own UTF-8 form's.
  ['string', null],
];

function given(bytes: Buffer, r: () => number): Buffer | Uint8Array | string {
  const asString = bytes.toString('utf8');
  if (Buffer.from(asString, 'utf8').equals(bytes) && r() < 0.4) return asString;
  const [, f] = forms[Math.floor(r() * (forms.length - 1))];
  return (f as Form)(bytes);
}

function sortedModel(m: Map<string, Buffer>): Array<[string, Buffer]> {
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

test('random calls of every kind agree with a model, on the writer and on a reader beside it', () => {
  const r = rng(0x5eed54);
  const int = (n: number): number => Math.floor(r() * n);
  const path = tmpFile('model.kv');
  let db = KVStore.open(path, { create: true, size: SIZE, maxSize: SIZE, segmentSize: SEG });
  const ro = KVStore.open(path, { readOnly: true });
  const model = new Map<string, Buffer>();
  const counts: Record<string, number> = {};
  const did = (what: string): void => {
    counts[what] = (counts[what] ?? 0) + 1;
  };

  const keyPool: Buffer[] = [Buffer.alloc(0), Buffer.alloc(MAX_KEY, 0x6b), Buffer.from('é', 'utf8'), Buffer.from([0xff, 0x00])];
  for (let i = 0; i < 60; i++) keyPool.push(Buffer.from(`k${i}`));
  const someKey = (): Buffer => keyPool[int(keyPool.length)];
  const someValue = (step: number): Buffer => {
    if (r() < 0.1) return Buffer.alloc(0);
    const tag = Buffer.from(`${step}:`);
    const fill = Buffer.alloc(int(r() < 0.05 ? 3000 : 60), r() < 0.2 ? 0xc3 : 0x61 + (step % 26));
    return Buffer.concat([tag, fill]);
  };

  /** Every way a reader or the writer can be asked about one key, checked against the model. */
  const checkKey = (s: KVStore, kb: Buffer): void => {
    const want = model.get(kb.toString('latin1'));
    const k = given(kb, r);
    expect(s.has(k)).toBe(want !== undefined);
    const got = s.get(k);
    expect(got === undefined ? undefined : Buffer.from(got).toString('hex')).toBe(want?.toString('hex'));
    if (want !== undefined) expect(s.getString(k)).toBe(want.toString('utf8'));
    const room = Math.max(0, want === undefined ? int(8) : want.length + int(3) - 1);
    const target = Buffer.alloc(room, 0xee);
    if (want !== undefined && room < want.length) {
      expect(() => s.getInto(k, target)).toThrow(RangeError);
      expect(target.every((x) => x === 0xee)).toBe(true);
    } else {
      const n = s.getInto(k, target);
      expect(n).toBe(want === undefined ? -1 : want.length);
      if (want !== undefined) expect(target.subarray(0, n).equals(want)).toBe(true);
      expect(target.subarray(Math.max(n, 0)).every((x) => x === 0xee)).toBe(true);
    }
  };

  /** A random range, checked against the model's sorted entries. */
  const checkRange = (s: KVStore): void => {
    const opts: Record<string, unknown> = {};
    const lo = someKey();
    const hi = someKey();
    if (r() < 0.5) opts[r() < 0.5 ? 'gt' : 'gte'] = given(lo, r);
    if (r() < 0.5) opts[r() < 0.5 ? 'lt' : 'lte'] = given(hi, r);
    if (r() < 0.2) opts.prefix = given(Buffer.from('k1'), r);
    if (r() < 0.5) opts.reverse = true;
    const limits = [0, 1, 3, 2 ** 53 - 1];
    if (r() < 0.5) opts.limit = limits[int(limits.length)];
    let want = sortedModel(model).filter(([k]) => {
      if (opts.gt !== undefined && !(k > lo.toString('latin1'))) return false;
      if (opts.gte !== undefined && !(k >= lo.toString('latin1'))) return false;
      if (opts.lt !== undefined && !(k < hi.toString('latin1'))) return false;
      if (opts.lte !== undefined && !(k <= hi.toString('latin1'))) return false;
      if (opts.prefix !== undefined && !k.startsWith('k1')) return false;
      return true;
    });
    if (opts.reverse === true) want = want.reverse();
    if (opts.limit !== undefined) want = want.slice(0, opts.limit as number);
    const got = [...s.range(opts)].map(([k, v]) => [(k as Buffer).toString('latin1'), (v as Buffer).toString('hex')]);
    expect(got).toEqual(want.map(([k, v]) => [k, v.toString('hex')]));
    expect([...s.keys(opts)].map((k) => (k as Buffer).toString('latin1'))).toEqual(want.map(([k]) => k));
  };

  /** Calls that must throw, and change nothing. */
  const bad: Array<[string, () => unknown, 'TypeError' | 'RangeError']> = [
    ['put: a number key', () => db.put(1 as never, 'v'), 'TypeError'],
    ['put: a symbol value', () => db.put('k0', Symbol('v') as never), 'TypeError'],
    ['put: a DataView key', () => db.put(new DataView(new ArrayBuffer(2)) as never, 'v'), 'TypeError'],
    ['put: a lone surrogate', () => db.put('k0', '\ud800'), 'TypeError'],
    ['put: a key one past the limit', () => db.put(Buffer.alloc(MAX_KEY + 1), 'v'), 'RangeError'],
    ['put: a multi-byte key one past the limit', () => db.put('é'.repeat(MAX_KEY / 2) + 'a', 'v'), 'RangeError'],
    ['get: null', () => db.get(null as never), 'TypeError'],
    ['has: an object', () => db.has({} as never), 'TypeError'],
    ['getInto: a DataView target', () => db.getInto('k0', new DataView(new ArrayBuffer(8)) as never), 'TypeError'],
    ['delete: a key one past the limit', () => db.delete('x'.repeat(MAX_KEY + 1)), 'RangeError'],
    ['rename: a bad to', () => db.rename('k0', undefined as never), 'TypeError'],
    ['batch: not an array', () => db.batch({ length: 0 } as never), 'TypeError'],
    ['range: limit -1', () => db.range({ limit: -1 }), 'RangeError'],
    ['range: limit NaN', () => db.range({ limit: NaN }), 'RangeError'],
    ['range: limit 2**53', () => db.range({ limit: 2 ** 53 }), 'RangeError'],
    ['range: a number bound', () => db.keys({ gte: 3 as never }), 'TypeError'],
    ['range: gt with gte', () => db.keys({ gt: 'a', gte: 'b' }), 'TypeError'],
  ];

  /** Iterators left open across writes: each yields keys present when it began, with their values as they are now. */
  // Its keys are those present at its first next(), not at range() (docs/api.md, range).
  let open: { it: Iterator<[Buffer, Buffer]>; startKeys: Set<string> | null } | null = null;

  for (let step = 0; step < STEPS; step++) {
    const op = int(100);
    if (op < 30) {
      const kb = someKey();
      const vb = someValue(step);
      db.put(given(kb, r), given(vb, r));
      model.set(kb.toString('latin1'), vb);
      did('put');
    } else if (op < 40) {
      const kb = someKey();
      expect(db.delete(given(kb, r))).toBe(model.delete(kb.toString('latin1')));
      did('delete');
    } else if (op < 46) {
      const from = someKey();
      const to = someKey();
      const moved = db.rename(given(from, r), given(to, r));
      const f = from.toString('latin1');
      expect(moved).toBe(model.has(f));
      if (moved) {
        const v = model.get(f) as Buffer;
        model.delete(f);
        model.set(to.toString('latin1'), v);
      }
      did('rename');
    } else if (op < 58) {
      // A batch: some ops through getters (one may write to the store
      // itself), maybe a bad op part way, after which nothing is applied.
      const ops: unknown[] = [];
      const applied: Array<[string, Buffer | null]> = [];
      const sideWrites: Array<[string, Buffer]> = [];
      const n = 1 + int(5);
      const failAt = r() < 0.2 ? int(n) : -1;
      for (let i = 0; i < n; i++) {
        const kb = someKey();
        if (i === failAt) {
          const bads = [null, { type: 'put', key: kb }, { type: 'nope', key: kb }, { type: 'put', key: 5, value: 'v' }, { type: 'del', key: Buffer.alloc(MAX_KEY + 1) }];
          ops.push(bads[int(bads.length)]);
          continue;
        }
        if (r() < 0.5) {
          const vb = someValue(step * 8 + i);
          const value = given(vb, r);
          if (r() < 0.2) {
            // A getter that writes another key to the store as it is read.
            const sk = someKey();
            const sv = someValue(step * 8 + i + 4);
            ops.push({
              type: 'put',
              key: given(kb, r),
              get value() {
                db.put(given(sk, r), sv);
                sideWrites.push([sk.toString('latin1'), sv]);
                return value;
              },
            });
          } else ops.push({ type: 'put', key: given(kb, r), value });
          applied.push([kb.toString('latin1'), vb]);
        } else {
          ops.push({ type: 'del', key: given(kb, r) });
          applied.push([kb.toString('latin1'), null]);
        }
      }
      if (failAt >= 0) expect(() => db.batch(ops as never)).toThrow();
      else db.batch(ops as never);
      // The getters' own puts ran first and stand; then the batch, in
      // order, or nothing of it.
      for (const [k, v] of sideWrites) model.set(k, v);
      if (failAt < 0) {
        for (const [k, v] of applied) {
          if (v === null) model.delete(k);
          else model.set(k, v);
        }
      }
      did(failAt >= 0 ? 'batch refused' : 'batch');
    } else if (op < 63) {
      const [name, f, kind] = bad[int(bad.length)];
      let thrown: unknown;
      try {
        f();
      } catch (e) {
        thrown = e;
      }
      expect({ name, error: (thrown as Error | undefined)?.name }).toEqual({ name, error: kind });
      did('bad call');
    } else if (op < 78) {
      checkKey(r() < 0.5 ? db : ro, someKey());
      did('read');
    } else if (op < 84) {
      checkRange(r() < 0.5 ? db : ro);
      did('range');
    } else if (op < 90) {
      if (open === null) {
        const it = db.range() as Iterator<[Buffer, Buffer]>;
        open = { it, startKeys: null };
        did('iterator opened');
      } else {
        open.startKeys ??= new Set(model.keys());
        const n = open.it.next();
        if (n.done === true) open = null;
        else {
          const k = n.value[0].toString('latin1');
          expect(open.startKeys.has(k)).toBe(true);
          open.startKeys.delete(k); // never twice
          expect(n.value[1].toString('hex')).toBe(model.get(k)?.toString('hex'));
          did('iterator step');
        }
      }
    } else if (op < 93) {
      db.compact();
      did('compact');
    } else if (op < 95) {
      expect(db.count).toBe(model.size);
      expect(ro.count).toBe(model.size);
      expect(db.stats().count).toBe(model.size);
      expect(ro.stats().count).toBe(model.size);
      did('count');
    } else if (op < 96) {
      db.close();
      if (open !== null) {
        const it = open.it;
        expect(() => it.next()).toThrow(expect.objectContaining({ code: 'ERR_PMEM_CLOSED' }) as never);
        open = null;
      }
      db = KVStore.open(path);
      did('reopen');
    } else {
      checkKey(db, someKey());
    }
  }
  // Everything, both ways, and once more after a reopen.
  const want = sortedModel(model).map(([k, v]) => [k, v.toString('hex')]);
  const dump = (s: KVStore): string[][] => [...s.entries()].map(([k, v]) => [(k as Buffer).toString('latin1'), (v as Buffer).toString('hex')]);
  expect(dump(db)).toEqual(want);
  expect(dump(ro)).toEqual(want);
  db.close();
  db = KVStore.open(path);
  expect(dump(db)).toEqual(want);
  db.close();
  ro.close();
  // The test did what it says: every kind of step ran, and often.
  for (const what of ['put', 'delete', 'rename', 'batch', 'batch refused', 'bad call', 'read', 'range', 'iterator step', 'compact', 'count', 'reopen']) {
    expect({ what, ran: (counts[what] ?? 0) >= Math.min(10, STEPS / 400) }).toEqual({ what, ran: true });
  }
});
