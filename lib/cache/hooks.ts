// Observation points and deliberately broken orderings of the tiered
// cache, for its crash tests (test/82, test/83). Not API: index.ts does not
// export this file. Production code reads two booleans and an undefined
// callback here.

/** @internal */
export interface CacheHooks {
  /** Called as a dirty entry's DRAM copy is freed by demotion. */
  demoted?: (key: string, value: unknown) => void;
  /** Called as the PMem tier decides to evict an entry, before its slot is freed. */
  evicted?: (key: string) => void;
  /** Broken variant: the DRAM copy is freed before the PMem copy is fenced. */
  freeBeforeFence: boolean;
  /** Broken variant: the commit word is stored before the record it publishes. */
  publishBeforeValue: boolean;
}

/** @internal */
export const cacheHooks: CacheHooks = { freeBeforeFence: false, publishBeforeValue: false };
