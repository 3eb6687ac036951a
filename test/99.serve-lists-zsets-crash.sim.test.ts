// pmem serve's list and sorted-set records under the crash simulator. A
// multi-element LPUSH, an LINSERT that renumbers records, and a
// multi-member ZADD are each one keyspace batch; after a crash at any
// point the keyspace reopens with the collection exactly as before or as
// after the command, never a mix, and never older than the last
// acknowledged command. The broken variant commits each element record on
// its own, and the simulator must catch the half-done commands it leaves.
import { KVStore, type Region } from '../lib';
import { deleteList, listFor, listOf, writeAt } from '../lib/server/commands/list-store';
import { zput, zsetFor, zsetOf } from '../lib/server/commands/zset-store';
import { Keyspace } from '../lib/server/keyspace';
import type { RespServer } from '../lib/server/server';
import { crashTest, type CrashReport } from '../lib/testing';

const SIZE = 64 * 1024;
const SEG = 1024;
const IMAGES = Number(process.env.PMEM_KV_CRASH_IMAGES ?? 32);

/** The keyspace as the record helpers see it (they only use `s.keyspace`). */
const asServer = (keyspace: Keyspace): RespServer => ({ keyspace }) as unknown as RespServer;

/** A canonical text of what the keyspace holds: the list and the zset. */
function canon(ks: Keyspace): string {
  const s = asServer(ks);
  const l = listOf(s, 0, 'L')?.values().map(String) ?? [];
  const z = zsetOf(s, 0, 'Z')?.entries().map(([m, sc]) => `${m}=${sc}`) ?? [];
  return `L[${l.join(',')}] Z[${z.join(',')}]`;
}

interface Model {
  states: string[];
}

type Step = (ks: Keyspace, commitEach: boolean) => void;

/** Commits after every record write when `commitEach` (the broken variant), else once per command. */
function commitIf(ks: Keyspace, commitEach: boolean): void {
  if (commitEach) ks.commit();
}

const lpush: Step = (ks, each) => {
  const s = asServer(ks);
  const l = listFor(s, 0, 'L');
  for (const v of ['p1', 'p2', 'p3', 'p4', 'p5']) {
    writeAt(s, 0, 'L', l.pushFront(Buffer.from(v)), Buffer.from(v));
    commitIf(ks, each);
  }
};

/** An insert between touching positions: the shorter side's records move. */
const linsert: Step = (ks, each) => {
  const s = asServer(ks);
  const l = listOf(s, 0, 'L');
  if (l === undefined) throw new Error('no list');
  const v = Buffer.from('ins');
  const at = l.insertAt(3, v);
  if (at === null) throw new Error('no positions left');
  const { pos, moves } = at;
  if (moves.length === 0) throw new Error('the insert moved nothing: the scenario tests no renumbering');
  for (const m of moves) {
    writeAt(s, 0, 'L', m.from, null);
    commitIf(ks, each);
    writeAt(s, 0, 'L', m.to, m.value);
    commitIf(ks, each);
  }
  writeAt(s, 0, 'L', pos, v);
};

const ltrimAll: Step = (ks, each) => {
  const s = asServer(ks);
  const l = listOf(s, 0, 'L');
  if (l === undefined) throw new Error('no list');
  while (l.length > 0) {
    writeAt(s, 0, 'L', l.popBack()[0], null);
    commitIf(ks, each);
  }
  deleteList(s, 0, 'L');
};

const zadd: Step = (ks, each) => {
  const s = asServer(ks);
  const z = zsetFor(s, 0, 'Z');
  for (const [m, sc] of [['c', 3], ['a', 10], ['d', -1], ['e', 2.5]] as [string, number][]) {
    zput(s, z, m, sc);
    commitIf(ks, each);
  }
};

/** Runs `steps`; `broken` (if any) commits each of its records on its own. */
function run(steps: Step[], broken: Step | null, seed: number): CrashReport {
  return crashTest<Model, string>({
    size: SIZE,
    seed,
    randomImages: IMAGES,
    torn: true,
    setup(region) {
      const store = KVStore.openRegion(region, { create: true, segmentSize: SEG });
      const ks = new Keyspace(store, 16);
      const s = asServer(ks);
      const l = listFor(s, 0, 'L');
      for (const v of ['a', 'b', 'c']) writeAt(s, 0, 'L', l.pushBack(Buffer.from(v)), Buffer.from(v));
      const z = zsetFor(s, 0, 'Z');
      zput(s, z, 'a', 1);
      zput(s, z, 'b', 2);
      ks.commit();
      const states = [canon(ks)];
      store.close();
      return { states };
    },
    operation(region, _before, ctx) {
      const store = KVStore.openRegion(region);
      const ks = new Keyspace(store, 16);
      const states = [canon(ks)];
      for (const step of steps) {
        step(ks, step === broken);
        ks.commit(); // the command's batch: durable when it returns, then acknowledged
        states.push(canon(ks));
        ctx.ack(states.length - 1);
      }
      store.close();
      return { states };
    },
    recover(region) {
      const store = KVStore.openRegion(region);
      try {
        return canon(new Keyspace(store, 16));
      } finally {
        store.close();
      }
    },
    check(got, { after, acked }) {
      const last = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
      const allowed = [after.states[last], after.states[last + 1]];
      if (!allowed.includes(got)) {
        throw new Error(`recovered ${got}; allowed ${allowed.join(' or ')}`);
      }
    },
  });
}

describe('list and zset commands are all-or-nothing at every crash point', () => {
  test('LPUSH of five, an LINSERT that renumbers, ZADD of four, a trim to nothing', () => {
    const steps = [lpush, linsert, zadd, ltrimAll];
    let images = 0;
    let points = 0;
    for (const seed of [1, 2]) {
      const r = run(steps, null, seed);
      expect(r.violations).toEqual([]);
      expect(r.points).toBeGreaterThan(steps.length);
      images += r.images;
      points += r.points;
    }
    expect(images).toBeGreaterThan(100);
    // eslint-disable-next-line no-console
    console.log(`list/zset crash test: ${points} crash points, ${images} images checked`);
  });

  test('broken variant: a record committed on its own is caught', () => {
    const caught: string[] = [];
    for (const [name, step] of [['lpush', lpush], ['linsert', linsert], ['zadd', zadd], ['ltrim', ltrimAll]] as [string, Step][]) {
      const r = run(step === lpush ? [lpush] : [lpush, step], step, 1);
      expect(r.images).toBeGreaterThan(0);
      if (r.violationCount > 0) caught.push(name);
    }
    expect(caught).toEqual(['lpush', 'linsert', 'zadd', 'ltrim']);
  });
});
