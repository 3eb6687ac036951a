// What a TieredCache counts, and the stats() it reports from the counts
// and the two tiers.
import type { DramTier } from './dram-tier';
import type { TieredCacheStats } from './options';
import type { PmemTier } from './pmem-tier';

/** Counters a TieredCache raises as it works. */
export class CacheCounters {
  dramHits = 0;
  pmemHits = 0;
  misses = 0;
  dirtyDemotions = 0;
  cleanDemotions = 0;
  promotions = 0;
  rejected = 0;
  evictions = 0;
  expired = 0;
  tooLarge = 0;
  preloaded = 0;
}

export function statsOf(s: CacheCounters, d: DramTier, p: PmemTier, size: number): TieredCacheStats {
  return {
    size,
    dram: { entries: d.count, bytes: d.bytes, dirty: d.dirtyCount, maxEntries: d.maxEntries, maxBytes: d.maxBytes },
    pmem: { entries: p.count, bytes: p.bytes, slots: p.slotCount, slotBytes: p.slotBytes },
    hits: { dram: s.dramHits, pmem: s.pmemHits },
    misses: s.misses,
    demotions: { dirty: s.dirtyDemotions, clean: s.cleanDemotions },
    promotions: s.promotions,
    rejected: s.rejected,
    evictions: s.evictions,
    expired: s.expired,
    tooLarge: s.tooLarge,
    recovery: { ...p.recovery, preloaded: s.preloaded },
  };
}
