// KVStore under SIGKILL: a child runs a mixed workload (puts, deletes,
// renames, batches, compactions, growth) and is killed at a random moment:
// during its calls (after its Nth acknowledged call), or aimed at its open
// and recovery (a delay after the child signals, past Node's start-up and
// the module loads, that it begins to open the store). After each kill the
// store must hold exactly the state after the last acknowledged call, or
// after the call in flight: never a partial batch or rename, never a lost
// acknowledged write. PMEM_KV_KILLS sets the number of kills (default 200;
// the crash sweep runs 1000 or more): four in five during the calls, one in
// five aimed at the open. The kills just before the Nth drain or persist
// are half as many, at least 50 (PMEM_KV_PERSIST_KILLS sets them).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { killTest, type KillTestOptions } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const workload = require('./fixtures/kv/workload') as {
  op(seed: number, i: number): unknown;
  apply(model: Map<string, string>, op: unknown): void;
};

// eslint-disable-next-line @typescript-eslint/no-var-requires
const persistChild = require('./fixtures/kv/kill-persist') as { SEED: number; file(dir: string): string; base(run: number): number };
// eslint-disable-next-line @typescript-eslint/no-var-requires
const randomChild = require('./fixtures/kv/kill-child') as {
  SEED: number;
  OPTIONS: object;
  file(dir: string): string;
  nextFile(dir: string): string;
  call(store: KVStore, op: unknown): void;
};

const KILLS = Number(process.env.PMEM_KV_KILLS ?? 200);
const OPEN_KILLS = Math.max(10, Math.floor(KILLS / 5));
const PERSIST_KILLS = Number(process.env.PMEM_KV_PERSIST_KILLS ?? Math.max(50, Math.floor(KILLS / 2)));
const PREFILL = 300;

function snapshot(store: KVStore): string {
  let out = '';
  for (const [k, v] of store.range({ encoding: 'utf8' })) out += `${k}=${v}\n`;
  return out;
}

function modelText(model: Map<string, string>): string {
  return [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}\n`).join('');
}

/**
 * killTest options for fixtures/kv/kill-child.js: verify replays the
 * acknowledged calls on a model, accepts the call in flight as applied when
 * the store holds it (all of it), and tells the next run where to start.
 */
function randomKills(name: string, kills: number, aim: Partial<KillTestOptions>) {
  const model = new Map<string, string>();
  const stats = { inFlightApplied: 0 };
  let seen = 0; // acknowledgements already applied to the model
  let next = 0; // first call not yet known to be applied
  const options: KillTestOptions = {
    child: path.join(__dirname, 'fixtures', 'kv', 'kill-child.js'),
    kills,
    seed: 7,
    crashAt: 'random',
    ...aim,
    dir: path.join(testDir(), `kv-kill-${name}-${process.pid}`),
    prepare(dir) {
      // PREFILL calls made here, so the first open already has a store to recover.
      const store = KVStore.open(randomChild.file(dir), randomChild.OPTIONS);
      try {
        for (; next < PREFILL; next++) {
          const o = workload.op(randomChild.SEED, next);
          randomChild.call(store, o);
          workload.apply(model, o);
        }
      } finally {
        store.close();
      }
      fs.writeFileSync(randomChild.nextFile(dir), String(next));
    },
    verify(dir, acked) {
      const fresh = acked.slice(seen) as number[];
      seen = acked.length;
      fresh.forEach((i, n) => {
        if (i !== next + n) throw new Error(`acknowledgement ${i} out of order, expected ${next + n}`);
        workload.apply(model, workload.op(randomChild.SEED, i));
      });
      next += fresh.length;
      const store = KVStore.open(randomChild.file(dir), randomChild.OPTIONS);
      try {
        const got = snapshot(store);
        if (store.count !== (got === '' ? 0 : got.split('\n').length - 1)) throw new Error('count disagrees with the keys');
        if (got !== modelText(model)) {
          // Only the call in flight may have taken effect, and all of it.
          workload.apply(model, workload.op(randomChild.SEED, next));
          if (got !== modelText(model)) throw new Error(`the store holds neither the acknowledged state nor the one after call ${next}`);
          next++;
          stats.inFlightApplied++;
        }
      } finally {
        store.close();
      }
      fs.writeFileSync(randomChild.nextFile(dir), String(next));
    },
  };
  return { options, stats };
}

test(`${KILLS - OPEN_KILLS} SIGKILLs during a mixed workload lose no acknowledged call and tear none`, async () => {
  // The kill comes 0..1000 us after the run's Nth acknowledged call, N in 1..100.
  const { options, stats } = randomKills('work', KILLS - OPEN_KILLS, { maxAcks: 100, maxDelayUs: 1000 });
  const report = await killTest(options);
  // eslint-disable-next-line no-console
  console.log(`KVStore kill harness: ${stats.inFlightApplied} calls in flight found applied, ` +
    `${((report.seconds * 1000) / report.runs).toFixed(0)} ms per run`);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS - OPEN_KILLS);
  expect(report.acked).toBeGreaterThan(KILLS - OPEN_KILLS);
  expectKillsLanded('73 KVStore, during the calls', report);
}, 600_000);

test(`${OPEN_KILLS} SIGKILLs aimed at the open and its recovery lose no acknowledged call and tear none`, async () => {
  // The kill comes 0..3000 us after ctx.started(), which the child calls
  // just before KVStore.open: into the open, its recovery of the previous
  // kill, or the first calls.
  const { options, stats } = randomKills('open', OPEN_KILLS, { maxDelayUs: 3000 });
  const report = await killTest(options);
  // eslint-disable-next-line no-console
  console.log(`KVStore kills at open: ${report.killsAfterStart - report.killsDuringWork} before the first ack, ` +
    `${stats.inFlightApplied} calls in flight found applied`);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(OPEN_KILLS);
  // verify checks the PREFILL calls of prepare after every run too, and
  // on a slow machine no child may get past its open.
  expectKillsLanded('73 KVStore, aimed at the open', report, 'start', report.acked + PREFILL);
}, 600_000);

test(`${PERSIST_KILLS} SIGKILLs just before the Nth drain or persist (killTest) tear no call`, async () => {
  const model = new Map<string, string>();
  let seen = 0; // acknowledgements already applied to the model
  let run = 0;
  let inFlightApplied = 0;
  const report = await killTest({
    child: path.join(__dirname, 'fixtures', 'kv', 'kill-persist.js'),
    kills: PERSIST_KILLS,
    crashAt: 'persist',
    maxCrashAt: 150,
    dir: path.join(testDir(), `kv-kill-persist-${process.pid}`),
    verify(dir, acked) {
      const fresh = acked.slice(seen) as number[];
      seen = acked.length;
      const base = persistChild.base(run++);
      fresh.forEach((i, n) => {
        if (i !== base + n) throw new Error(`acknowledgement ${i} out of order`);
        workload.apply(model, workload.op(persistChild.SEED, i));
      });
      let store: KVStore;
      try {
        store = KVStore.open(persistChild.file(dir), { readOnly: true });
      } catch (e) {
        // Killed before the first format was durable: nothing was acknowledged.
        if ((e as { code?: string }).code === 'ERR_PMEM_CORRUPT' && acked.length === 0) return;
        throw e;
      }
      try {
        const got = snapshot(store);
        if (got !== modelText(model)) {
          workload.apply(model, workload.op(persistChild.SEED, base + fresh.length));
          if (got !== modelText(model)) throw new Error(`run ${run - 1}: the store holds neither the acknowledged state nor the one after the call in flight`);
          inFlightApplied++;
        }
      } finally {
        store.close();
      }
    },
  });
  // eslint-disable-next-line no-console
  console.log(`KVStore killTest (persist): ${inFlightApplied} in-flight calls applied`);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(PERSIST_KILLS);
  expectKillsLanded('73 KVStore, before the Nth drain or persist', report);
}, 600_000);
