// TieredCache under SIGKILL: a child runs a write-back workload that
// demotes, promotes and evicts, and is killed at a random moment (after
// its Nth acknowledgement, or just before its Nth drain or persist). After
// each kill the reopened cache must hold every acknowledged version (or a
// later one), no torn value and no deleted version. PMEM_CACHE_KILLS sets
// the number of kills of each kind (default 30).
import * as path from 'node:path';

import { TieredCache } from '../lib';
import { killTest, type KillTestOptions } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { type CacheEvent, checkCache } from './fixtures/cache/oracle';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const child = require('./fixtures/cache/kill-child') as { KEYS: string[]; OPTIONS: object; file(dir: string): string };

const KILLS = Number(process.env.PMEM_CACHE_KILLS ?? 30);

function options(name: string, aim: Partial<KillTestOptions>): { options: KillTestOptions; checked: { keys: number } } {
  const checked = { keys: 0 };
  return {
    checked,
    options: {
      child: path.join(__dirname, 'fixtures', 'cache', 'kill-child.js'),
      kills: KILLS,
      seed: 5,
      ...aim,
      dir: path.join(testDir(), `cache-kill-${name}-${process.pid}`),
      verify(dir, acked) {
        let cache: TieredCache<string>;
        try {
          cache = new TieredCache<string>({ file: child.file(dir), ...child.OPTIONS });
        } catch (e) {
          // Killed before the first format was durable: nothing was acknowledged.
          if ((e as { code?: string }).code === 'ERR_PMEM_NOT_A_STORE' && acked.length === 0) return;
          throw e;
        }
        try {
          checkCache(child.KEYS, (k) => cache.peek(k), acked as CacheEvent[], () => Infinity);
          checked.keys += cache.size;
        } finally {
          cache.close();
        }
      },
    },
  };
}

test(`${KILLS} SIGKILLs during demotions, promotions and evictions lose no acknowledged entry`, async () => {
  const { options: o, checked } = options('random', { crashAt: 'random', maxAcks: 400, maxDelayUs: 2000 });
  const report = await killTest(o);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expect(checked.keys).toBeGreaterThan(0);
  expectKillsLanded('83 TieredCache, during the calls', report);
}, 600_000);

test(`${KILLS} SIGKILLs just before the Nth drain or persist lose no acknowledged entry`, async () => {
  const { options: o } = options('persist', { crashAt: 'persist', maxCrashAt: 3000 });
  const report = await killTest(o);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expectKillsLanded('83 TieredCache, before the Nth drain or persist', report);
}, 600_000);
