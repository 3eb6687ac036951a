// pmem serve's collections under the crash simulator: the hash and set
// commands' real handlers drive a Keyspace on a KVStore on a CrashSim.
// Oracle: after a crash at any point, the keyspace reopens to exactly the
// state before the committed batch in flight or after it (a multi-element
// HSET, SADD, SINTERSTORE, SMOVE, DEL or SORT..STORE is all or nothing), never older than
// the last commit; and once the reopened keyspace has freed its garbage, the
// store holds exactly the element records of the live collections. Broken
// variants (each write its own record; the METAs in a record before their
// elements) must be caught.
import { KVStore, type Region } from '../lib';
import type { Client } from '../lib/server/client';
import { Garbage, NS_ELEMENT, TYPE_HASH, TYPE_LIST, TYPE_SET, typeOf } from '../lib/server/collections';
import { COMMANDS } from '../lib/server/commands/table';
import { Keyspace } from '../lib/server/keyspace';
import type { ListValue } from '../lib/server/list';
import type { Members } from '../lib/server/members';
import { ReplyWriter } from '../lib/server/reply';
import type { RespServer } from '../lib/server/server';
import { crashTest, type CrashReport } from '../lib/testing';

const SIZE = 64 * 1024;
const SEG = 1024;
const IMAGES = Number(process.env.PMEM_SERVE_CRASH_IMAGES ?? 64);

type Broken = 'none' | 'per-op' | 'meta-first';

/** A store whose batches are split, as a broken commit would write them. */
function brokenStore(store: KVStore, how: Broken): KVStore {
  if (how === 'none') return store;
  return new Proxy(store, {
    get(target, prop) {
      // A commit is one writeDistinct call (store keys as one-byte strings).
      if (prop === 'writeDistinct') {
        return (writes: ReadonlyMap<string, Buffer | null>) => {
          const all = [...writes];
          if (how === 'per-op') {
            for (const w of all) target.writeDistinct(new Map([w]));
            return;
          }
          const isElement = ([k]: [string, Buffer | null]): boolean => k.charCodeAt(0) === NS_ELEMENT;
          target.writeDistinct(new Map(all.filter((w) => !isElement(w))));
          target.writeDistinct(new Map(all.filter(isElement)));
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Runs one command through its real handler. */
function run(ks: Keyspace, ...args: string[]): void {
  const argv = args.map((a) => Buffer.from(a, 'latin1'));
  const cmd = COMMANDS.get(args[0].toLowerCase());
  if (cmd === undefined) throw new Error(`no command ${args[0]}`);
  const client = { db: 0, out: new ReplyWriter() } as unknown as Client;
  const stats = { keyspaceHits: 0, keyspaceMisses: 0 };
  cmd.run({ keyspace: ks, databases: 16, stats } as unknown as RespServer, client, argv);
}

/** The keyspace's collections as one canonical string (keys and elements sorted). */
function view(ks: Keyspace): string {
  const out: string[] = [];
  for (const [key, c] of ks.dbs[0].colls) {
    if (c.type === TYPE_LIST) {
      // A list in its order.
      out.push(`${key}:l:${(c.data as ListValue).values().map((v) => v.toString('latin1')).join(',')}`);
      continue;
    }
    const m = c.data as Members<Buffer | true>;
    const els = m.ids.map((id, i) => (c.type === TYPE_HASH ? `${id}=${(m.vals[i] as Buffer).toString('latin1')}` : id)).sort();
    out.push(`${key}:${String.fromCharCode(c.type)}:${els.join(',')}`);
  }
  for (const k of ks.dbs[0].keys) if (!ks.dbs[0].colls.has(k)) out.push(`${k}:string`);
  return out.sort().join('\n');
}

interface Recovered {
  view: string;
  /** Element records in the store, and elements of live collections, after garbage is freed. */
  records: number;
  elements: number;
}

function recover(region: Region): Recovered {
  const store = KVStore.openRegion(region);
  try {
    const ks = new Keyspace(store, 16);
    const v = view(ks);
    while (ks.freeStep() > 0) ks.commit();
    ks.commit();
    let records = 0;
    for (const _ of store.keys({ prefix: Buffer.from([NS_ELEMENT]) })) records++;
    let elements = 0;
    for (const c of ks.dbs[0].colls.values()) elements += typeOf(c.type).size(c.data);
    return { view: v, records, elements };
  } finally {
    store.close();
  }
}

/** Runs `prepare` (committed) and then the batches of `batches`, each committed, under the simulator. */
function keyspaceCrash(prepare: string[][], batches: string[][][], how: Broken, seed = 1): CrashReport {
  return crashTest<string[], Recovered>({
    size: SIZE,
    seed,
    randomImages: IMAGES,
    torn: true,
    setup(region) {
      const store = KVStore.openRegion(region, { create: true, segmentSize: SEG });
      const ks = new Keyspace(store, 16);
      for (const cmd of prepare) run(ks, ...cmd);
      ks.commit();
      const v = view(ks);
      store.close();
      return [v];
    },
    operation(region, before, ctx) {
      const store = KVStore.openRegion(region);
      const ks = new Keyspace(brokenStore(store, how), 16);
      const states = [before[0]];
      for (const batch of batches) {
        for (const cmd of batch) run(ks, ...cmd);
        ks.commit();
        // The lazy free's steps go into later batches; they change no visible state.
        while (ks.freeStep() > 0) ks.commit();
        states.push(view(ks));
        ctx.ack(states.length - 1);
      }
      store.close();
      return states;
    },
    recover,
    check(r, { after, acked }) {
      const last = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
      const allowed = [after[last], after[last + 1]].filter((s) => s !== undefined);
      if (!allowed.includes(r.view)) {
        const at = after.indexOf(r.view);
        throw new Error(at >= 0 ? `recovered the state after batch ${at}, but batch ${last} was acknowledged`
          : `recovered a state that never existed:\n${r.view}\nallowed:\n${allowed.join('\n--\n')}`);
      }
      if (r.records !== r.elements) throw new Error(`${r.records} element records after freeing, for ${r.elements} live elements`);
    },
  });
}

const HASH_PREP = [['HSET', 'h', 'f0', 'v0', 'f1', 'v1', 'f2', 'v2'], ['SADD', 's1', 'a', 'b', 'c', 'd'], ['SADD', 's2', 'c', 'd', 'e'], ['SADD', 'dst', 'old1', 'old2']];

const SCENARIOS: [string, string[][], string[][][]][] = [
  ['HSET of several fields, new and overwritten, on an existing hash', HASH_PREP,
    [[['HSET', 'h', 'f1', 'new1', 'f3', 'v3', 'f4', 'v4', 'f5', 'v5']]]],
  ['HSET creating a hash, then SADD to an existing set', HASH_PREP,
    [[['HSET', 'h2', 'a', '1', 'b', '2', 'c', '3']], [['SADD', 's1', 'x', 'y', 'z']]]],
  ['SINTERSTORE and SUNIONSTORE over an existing destination', HASH_PREP,
    [[['SINTERSTORE', 'dst', 's1', 's2']], [['SUNIONSTORE', 'dst', 's1', 's2']]]],
  ['SMOVE, HDEL of the last fields, SREM', HASH_PREP,
    [[['SMOVE', 's2', 's1', 'e']], [['HDEL', 'h', 'f0', 'f1', 'f2']], [['SREM', 's1', 'a', 'b']]]],
  ['DEL of collections (lazy free), RENAME and COPY', HASH_PREP,
    [[['DEL', 'h', 's2']], [['RENAME', 's1', 'r1']], [['COPY', 'r1', 'c1']], [['SET', 'dst', 'a string']]]],
  ['SORT..STORE over a hash, over a set, and over the sorted list itself', [...HASH_PREP, ['RPUSH', 'l', '3', '1', '2', '10']],
    [[['SORT', 'l', 'STORE', 'h']], [['SORT', 's1', 'ALPHA', 'DESC', 'LIMIT', '1', '2', 'STORE', 'dst']], [['SORT', 'l', 'DESC', 'STORE', 'l']]]],
];

let totalImages = 0;

afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`pmem serve collections: ${totalImages} crash images checked`);
});

describe('a command on collections is all or nothing at every crash point', () => {
  test.each(SCENARIOS)('%s', (_name, prepare, batches) => {
    for (const seed of [1, 2]) {
      const r = keyspaceCrash(prepare, batches, 'none', seed);
      expect(r.violations).toEqual([]);
      expect(r.points).toBeGreaterThan(batches.length);
      expect(r.images).toBeGreaterThan(r.points);
      totalImages += r.images;
    }
  });
});

describe('broken variants are caught', () => {
  test('each write its own record: a multi-field HSET is seen half done', () => {
    const r = keyspaceCrash(HASH_PREP, SCENARIOS[0][2], 'per-op');
    expect(r.violationCount).toBeGreaterThan(0);
    expect(r.violations[0].message).toMatch(/never existed/);
  });

  test('each write its own record: a SORT..STORE over a hash is seen half done', () => {
    const r = keyspaceCrash([...HASH_PREP, ['RPUSH', 'l', '3', '1', '2', '10']], SCENARIOS[5][2], 'per-op');
    expect(r.violationCount).toBeGreaterThan(0);
    expect(r.violations[0].message).toMatch(/never existed/);
  });

  test('the METAs in a record before their elements: SINTERSTORE over a set leaves an empty META', () => {
    const r = keyspaceCrash(HASH_PREP, SCENARIOS[2][2], 'meta-first');
    expect(r.violationCount).toBeGreaterThan(0);
  });

  test('an open that forgets orphaned elements: a DEL interrupted before its lazy free leaks them', () => {
    const addKeys = jest.spyOn(Garbage.prototype, 'addKeys').mockImplementation(() => {});
    try {
      const r = keyspaceCrash(HASH_PREP, SCENARIOS[4][2], 'none');
      expect(r.violationCount).toBeGreaterThan(0);
      expect(r.violations[0].message).toMatch(/element records after freeing/);
    } finally {
      addKeys.mockRestore();
    }
  });

  test('the same operations with the real commit pass', () => {
    expect(keyspaceCrash(HASH_PREP, SCENARIOS[2][2], 'none').violations).toEqual([]);
  });
});

test('the set and hash types are registered', () => {
  expect(typeOf(TYPE_SET).name).toBe('set');
  expect(typeOf(TYPE_HASH).name).toBe('hash');
});
