// TieredCache's options and its stats type, and the checks of both.
import { checkIndex, checkOptions, checkPath, typeName } from '../core/args';
import { checkRegion, type Region } from '../core/region';
import { type CacheEncoding, ENCODINGS } from './encoding';
import { MAX_CACHE_FILE } from './file';
import { checkSlots, MAX_ENTRIES, MAX_SLOT_BYTES, MIN_SLOT_BYTES, slotsIn } from './pmem-format';

/**
 * - `'write-back'`: `set` keeps a new value in DRAM only (dirty); it is
 *   durable once its entry is demoted to PMem, or after `flush()` or
 *   `close()`. A value the admission policy keeps out of DRAM goes to PMem
 *   and is durable on return.
 * - `'write-through'`: `set` writes the value to PMem before it returns, so
 *   it is durable on return; DRAM holds clean copies, except one whose
 *   PMem slot the tier evicted while DRAM held it (written again when it is
 *   demoted, flushed or closed).
 */
export type WriteMode = 'write-back' | 'write-through';

export interface TieredCacheOptions {
  /** A file for the PMem tier, created (with `pmemBytes`) when missing. */
  file?: string;
  /** Or a Region the caller owns (a Mapping, a CrashSim): formatted when it holds nothing. */
  region?: Region;
  /** With `file`: bytes of a new file (default 64 MiB, at most 4 GiB). An existing file keeps its size. */
  pmemBytes?: number;
  /** Entries the DRAM tier holds at most (default 10,000, unless `dramBytes` is given). */
  dramEntries?: number;
  /** Bytes of keys and encoded values the DRAM tier holds at most. */
  dramBytes?: number;
  /** Bytes of a PMem slot, a multiple of 64 from 128 (default 256); an entry takes one slot. */
  slotBytes?: number;
  /** Accesses (gets and sets of any key) after which a reference counts half (default 64 × DRAM entries, or 1,000,000 with `dramBytes` alone). */
  halfLife?: number;
  /** Default 'write-back'. */
  writeMode?: WriteMode;
  /** Default 'buffer'. */
  encoding?: CacheEncoding;
  /** Milliseconds an entry lives after its set (default 0: forever); `set(k, v, { ttl })` overrides it. */
  ttl?: number;
  /** At open, the hottest entries of the PMem tier copied into DRAM (default: as many as DRAM holds). */
  preload?: number;
}

export interface TieredCacheStats {
  /** Entries in the cache, each key once. */
  size: number;
  dram: { entries: number; bytes: number; dirty: number; maxEntries: number; maxBytes: number };
  pmem: { entries: number; bytes: number; slots: number; slotBytes: number };
  hits: { dram: number; pmem: number };
  misses: number;
  /** Entries moved out of DRAM: dirty ones written to PMem first, clean ones dropped. */
  demotions: { dirty: number; clean: number };
  /** PMem hits copied into DRAM. */
  promotions: number;
  /** Candidates the admission policy kept out of DRAM (they stay on, or go to, PMem). */
  rejected: number;
  /** Entries evicted from the PMem tier (gone from the cache). */
  evictions: number;
  expired: number;
  /** Sets not stored because the entry does not fit a slot. */
  tooLarge: number;
  /** The last open's recovery of the PMem tier. */
  recovery: { entries: number; dropped: number; preloaded: number; ms: number };
}

export interface Checked {
  file?: string;
  region?: Region;
  pmemBytes: number;
  dramEntries: number;
  dramBytes: number;
  slotBytes: number;
  halfLife: number;
  writeMode: WriteMode;
  encoding: CacheEncoding;
  ttl: number;
  preload: number;
}

const KEYS = ['file', 'region', 'pmemBytes', 'dramEntries', 'dramBytes', 'slotBytes', 'halfLife', 'writeMode', 'encoding', 'ttl', 'preload'];

function positive(v: unknown, name: string): number {
  const n = checkIndex(v, name);
  if (n === 0) throw new RangeError(`${name} must be at least 1`);
  return n;
}

/** @throws TypeError, RangeError */
export function checkTtl(v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`ttl must be a number, got ${typeName(v)}`);
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`ttl must be a finite number of ms, at least 0, got ${v}`);
  return v;
}

/** set()'s options. */
const SET_KEYS = ['ttl'];

/**
 * The ttl of a set: `options.ttl`, else the cache's default.
 * @throws TypeError, RangeError
 */
export function setTtl(options: unknown, dflt: number): number {
  if (options === undefined) return dflt;
  // An unknown name (a misspelt `tll`) would leave the entry without its ttl, unseen.
  const ttl = checkOptions(options, SET_KEYS).ttl;
  return ttl === undefined ? dflt : checkTtl(ttl);
}

/** @throws TypeError, RangeError */
export function checkCacheOptions(options: unknown): Checked {
  const given = checkOptions(options, KEYS);
  // Each option read once, then checked and used: a getter or a Proxy may
  // answer differently the second time (dramBytes undefined to the check
  // of dramEntries' default, then a number, would lift both DRAM bounds).
  const o: Record<string, unknown> = {};
  for (const key of KEYS) o[key] = given[key];
  // A null is a value of the wrong type, named as its option, not one of two given.
  if (o.file === null) checkPath(o.file, 'file');
  if (o.region === null) throw new TypeError('region must be a Region (bytes, a length they hold, flush, drain, persist), got null');
  if ((o.file === undefined) === (o.region === undefined)) throw new TypeError('give one of file and region');
  if (o.file !== undefined) checkPath(o.file, 'file');
  if (o.region !== undefined) {
    checkRegion(o.region);
    if (o.pmemBytes !== undefined) throw new TypeError('pmemBytes is for a file; a region has its own length');
  }
  const pmemBytes = positive(o.pmemBytes === undefined ? 64 * 2 ** 20 : o.pmemBytes, 'pmemBytes');
  if (pmemBytes > MAX_CACHE_FILE) throw new RangeError(`pmemBytes must be at most ${MAX_CACHE_FILE}, got ${pmemBytes}`);
  const dramBytes = o.dramBytes === undefined ? Infinity : positive(o.dramBytes, 'dramBytes');
  const dramEntries = o.dramEntries === undefined ? (o.dramBytes === undefined ? 10_000 : Infinity) : positive(o.dramEntries, 'dramEntries');
  if (Number.isFinite(dramEntries) && dramEntries > MAX_ENTRIES) {
    throw new RangeError(`dramEntries must be at most ${MAX_ENTRIES} (2^24 - 1: a JavaScript Map's limit), got ${dramEntries}`);
  }
  const slotBytes = checkIndex(o.slotBytes === undefined ? 256 : o.slotBytes, 'slotBytes');
  if (slotBytes < MIN_SLOT_BYTES || slotBytes > MAX_SLOT_BYTES || slotBytes % 64 !== 0) {
    throw new RangeError(`slotBytes must be a multiple of 64 from ${MIN_SLOT_BYTES} to ${MAX_SLOT_BYTES}, got ${slotBytes}`);
  }
  // A new file's slots, checked before it is made (a region's at its format).
  if (o.file !== undefined) checkSlots(slotsIn(pmemBytes, slotBytes), slotBytes, `pmemBytes ${pmemBytes}`);
  let halfLife = Number.isFinite(dramEntries) ? 64 * dramEntries : 1_000_000;
  if (o.halfLife !== undefined) {
    if (typeof o.halfLife !== 'number') throw new TypeError(`halfLife must be a number, got ${typeName(o.halfLife)}`);
    if (!(o.halfLife >= 1) || !Number.isFinite(o.halfLife)) throw new RangeError(`halfLife must be a finite number of accesses, at least 1, got ${o.halfLife}`);
    halfLife = o.halfLife;
  }
  const writeMode = (o.writeMode === undefined ? 'write-back' : o.writeMode) as WriteMode;
  if (typeof writeMode !== 'string') throw new TypeError(`writeMode must be a string, got ${typeName(writeMode)}`);
  if (writeMode !== 'write-back' && writeMode !== 'write-through') {
    throw new RangeError(`writeMode must be 'write-back' or 'write-through', got '${writeMode}'`);
  }
  const encoding = (o.encoding === undefined ? 'buffer' : o.encoding) as CacheEncoding;
  if (typeof encoding !== 'string') throw new TypeError(`encoding must be a string, got ${typeName(encoding)}`);
  if (!ENCODINGS.includes(encoding)) throw new RangeError(`encoding must be one of ${ENCODINGS.join(', ')}, got '${encoding}'`);
  return {
    file: o.file as string | undefined,
    region: o.region as Region | undefined,
    pmemBytes,
    dramEntries,
    dramBytes,
    slotBytes,
    halfLife,
    writeMode,
    encoding,
    ttl: o.ttl === undefined ? 0 : checkTtl(o.ttl),
    preload: o.preload === undefined ? Infinity : checkIndex(o.preload, 'preload'),
  };
}
