// TieredCache under the crash simulator: a mixed workload of sets, gets
// (promotions), deletes and flushes over more keys than DRAM holds and
// more than the PMem tier holds, so that every call demotes, promotes or
// evicts. At every fence (and the end) every crash image must recover, with
// no lost entry (a version whose DRAM copy was freed by demotion, or that a
// write-through set or a flush acknowledged, is on PMem: no entry is in
// neither tier), no torn value, and no deleted version back. Broken
// variants of the demotion and publish orders must be caught.
import { type Region, TieredCache } from '../lib';
import { cacheHooks } from '../lib/cache/hooks';
import { crashTest, type CrashReport, type CrashTestOptions, type SimMode } from '../lib/testing';
import { type CacheEvent, checkCache, valueOf } from './fixtures/cache/oracle';
import { rng } from './helpers';

const KEYS = Array.from({ length: 40 }, (_, i) => `key${i}`);
const SLOTS = 24;
const SLOT_BYTES = 256;
const SIZE = 64 + SLOTS * SLOT_BYTES;
// A short half-life: a key set in a burst soon beats the coldest DRAM entry
// by the admission margin, so bursts of sets keep demoting dirty entries.
const OPTIONS = { dramEntries: 8, slotBytes: SLOT_BYTES, halfLife: 8, encoding: 'utf8' as const, preload: 0 };
const CALLS = 900;
const IMAGES = Number(process.env.PMEM_CACHE_CRASH_IMAGES ?? 2);

interface Model {
  versions: Map<string, number>;
}

interface Run {
  report: CrashReport;
  demotions: number;
  evictions: number;
  promotions: number;
}

function run(seed: number, mode: SimMode, writeMode: 'write-back' | 'write-through', calls = CALLS): Run {
  let demotions = 0;
  let evictions = 0;
  let promotions = 0;
  const options: CrashTestOptions<Model, (k: string) => unknown> = {
    size: SIZE,
    mode,
    seed,
    randomImages: IMAGES,
    torn: mode === 'adr',
    exhaustiveLimit: 256,
    pairLimit: 256,
    setup: () => ({ versions: new Map() }),
    operation(region: Region, before, ctx) {
      const versions = new Map(before.versions);
      const cache = new TieredCache<string>({ region, writeMode, ...OPTIONS });
      cacheHooks.demoted = (k, v) => {
        demotions++;
        ctx.ack(['d', k, Number((v as string).split(':')[1])] satisfies CacheEvent);
      };
      let evictedNow: string[] = [];
      cacheHooks.evicted = (k) => {
        evictions++;
        evictedNow.push(k);
        ctx.ack(['e', k] satisfies CacheEvent);
      };
      try {
        const next = rng(seed);
        for (let c = 0; c < calls; c++) {
          const r = next();
          const key = KEYS[Math.floor(KEYS.length * next())];
          if (r < 0.7) {
            // A burst of 1 to 3 sets of one key: its second set is admitted to
            // DRAM (dirty) and demotes the coldest entry, often a dirty one.
            for (let burst = 1 + Math.floor(next() * 3); burst > 0; burst--) {
              const n = (versions.get(key) ?? 0) + 1;
              versions.set(key, n);
              cache.set(key, valueOf(key, n));
              if (writeMode === 'write-through') ctx.ack(['d', key, n] satisfies CacheEvent);
            }
          } else if (r < 0.9) {
            cache.get(key);
          } else if (r < 0.97) {
            ctx.ack(['r', key] satisfies CacheEvent);
            cache.delete(key);
            ctx.ack(['x', key, versions.get(key) ?? 0] satisfies CacheEvent);
          } else {
            evictedNow = [];
            cache.flush();
            // Every value set before is durable, but for one whose PMem copy
            // the flush itself evicted to make room (the PMem tier here has
            // fewer slots than keys).
            for (const k of KEYS) if (cache.has(k) && !evictedNow.includes(k)) ctx.ack(['d', k, versions.get(k)!] satisfies CacheEvent);
          }
        }
        promotions = cache.stats().promotions;
      } finally {
        cacheHooks.demoted = undefined;
        cacheHooks.evicted = undefined;
      }
      return { versions };
    },
    recover(region) {
      const cache = new TieredCache<string>({ region, writeMode, ...OPTIONS });
      return (k: string) => cache.peek(k);
    },
    check(read, { acked, after }) {
      checkCache(KEYS, read, acked as CacheEvent[], (k) => after.versions.get(k) ?? 0);
    },
  };
  return { report: crashTest(options), demotions, evictions, promotions };
}

function withHook(name: 'freeBeforeFence' | 'publishBeforeValue', fn: () => void): void {
  cacheHooks[name] = true;
  try {
    fn();
  } finally {
    cacheHooks[name] = false;
  }
}

describe('TieredCache under the crash simulator', () => {
  test('adr, write-back: >= 10,000 dirty demotions, every fence, no lost or torn entry', () => {
    let demotions = 0;
    let images = 0;
    let points = 0;
    let evictions = 0;
    let promotions = 0;
    for (let seed = 1; demotions < 10_000; seed++) {
      const r = run(seed, 'adr', 'write-back');
      expect(r.report.violations).toEqual([]);
      demotions += r.demotions;
      evictions += r.evictions;
      promotions += r.promotions;
      images += r.report.images;
      points += r.report.points;
    }
    // eslint-disable-next-line no-console
    console.log(`TieredCache crash sim (adr, write-back): ${demotions} dirty demotions, ${evictions} PMem evictions, ` +
      `${promotions} promotions, ${points} crash points, ${images} images, 0 violations`);
    expect(demotions).toBeGreaterThanOrEqual(10_000);
    expect(evictions).toBeGreaterThan(0);
    expect(promotions).toBeGreaterThan(0);
    expect(images).toBeGreaterThan(points);
  }, 600_000);

  test.each([
    ['adr', 'write-through'],
    ['page', 'write-back'],
    ['page', 'write-through'],
    ['eadr', 'write-back'],
  ] as const)('%s, %s: no lost or torn entry', (mode, writeMode) => {
    let images = 0;
    for (let seed = 101; seed < 104; seed++) {
      const r = run(seed, mode, writeMode);
      expect(r.report.violations).toEqual([]);
      images += r.report.images;
    }
    expect(images).toBeGreaterThan(1000);
  }, 300_000);

  test('broken: a DRAM copy freed before its PMem copy is fenced loses entries', () => {
    withHook('freeBeforeFence', () => {
      const r = run(1, 'adr', 'write-back', 300);
      expect(r.report.violationCount).toBeGreaterThan(0);
      expect(r.report.violations[0].message).toMatch(/lost/);
    });
  });

  test('broken: a commit word published before its record is caught', () => {
    withHook('publishBeforeValue', () => {
      const r = run(1, 'adr', 'write-back', 300);
      expect(r.report.violationCount).toBeGreaterThan(0);
      expect(r.report.violations[0].message).toMatch(/published but its record does not match|lost|torn/);
    });
  });
});
