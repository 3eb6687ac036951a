/**
 * How a store becomes persistent:
 * - `'byte'`: the CPU caches are in the persistence domain (eADR); a fence
 *   orders stores, no flush is needed;
 * - `'cache-line'`: ADR; each dirty cache line needs a flush (CLWB) and a
 *   fence (SFENCE);
 * - `'page'`: no DAX; the page must be written back with msync.
 */
export type Granularity = 'byte' | 'cache-line' | 'page';

/**
 * The one durability seam. Every persistent structure in this package takes
 * a Region and makes its stores durable only through `flush`, `drain` and
 * `persist`, so the crash simulator (`pmem/testing`) sees every ordering
 * point. `Mapping` implements it over a real file.
 */
export interface Region {
  /** The region's bytes; stores go straight into them. */
  readonly bytes: Buffer;
  readonly length: number;
  readonly granularity: Granularity;
  /** Starts write-back of [offset, offset + length); not yet ordered. */
  flush(offset: number, length: number): void;
  /** Waits until every earlier flush has reached the persistence domain. */
  drain(): void;
  /** flush + drain: [offset, offset + length) is durable when it returns. */
  persist(offset: number, length: number): void;
}
