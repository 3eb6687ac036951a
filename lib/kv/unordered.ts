// KVStore.unordered(): every entry with a key prefix, in the order of the
// entries in the file. No key order is built (range() sorts every key once):
// pmem serve's open scans millions of element records this way.
import { checkOptions } from '../core/args';
import { keyOf } from './args';
import { ENTRY_HEADER_BYTES, valueCopy } from './format';
import type { KvLog } from './log';

/** unordered()'s arguments: the prefix as a one-byte string, and whether to yield strings. @throws TypeError, RangeError */
export function unorderedArgs(prefix: unknown, options: unknown): { prefix: string; latin1: boolean } {
  const p = prefix === undefined ? '' : keyOf(prefix, 'prefix');
  const given = (checkOptions(options, ['encoding']) as { encoding?: unknown }).encoding;
  const enc = given === undefined ? 'buffer' : given;
  if (enc !== 'buffer' && enc !== 'latin1') throw new TypeError(`options.encoding must be 'buffer' or 'latin1', got ${String(enc)}`);
  return { prefix: p, latin1: enc === 'latin1' };
}

/** Entries as they are, or as one-byte strings. */
export function* latin1If(latin1: boolean, entries: Iterable<[Buffer, Buffer]>): IterableIterator<[Buffer, Buffer] | [string, string]> {
  for (const [k, v] of entries) yield latin1 ? [k.toString('latin1'), v.toString('latin1')] : [k, v];
}

/**
 * An unordered() walk's place in its snapshot of entry offsets. A
 * compaction moves live entries out of a segment, then frees it, and a
 * later append may reuse its bytes: before the free (KvLog.beforeFree),
 * the keys of the entries the walk has not reached there are taken from
 * them, to be looked up when the offsets are done, and the walk skips
 * that segment's offsets from then on.
 */
class Walk {
  /** offsets[next..] are not walked yet. */
  next = 0;
  /** Keys (one-byte strings) of entries not walked yet whose segment was freed. */
  readonly later: string[] = [];
  /** Segments freed since the snapshot, by their region offset. */
  readonly freed = new Set<number>();

  constructor(readonly offsets: Uint32Array, readonly prefix: string) {}

  beforeFree(b: Buffer, start: number, end: number): void {
    // Freed twice (freed, reused, freed again): its snapshot entries were taken the first time.
    if (this.freed.has(start)) return;
    this.freed.add(start);
    const o = this.offsets;
    // The first offset not walked yet at or past `start` (ascending).
    let lo = this.next;
    let hi = o.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (o[mid] < start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < o.length && o[i] < end; i++) {
      const key = b.toString('latin1', o[i] + ENTRY_HEADER_BYTES, o[i] + ENTRY_HEADER_BYTES + b.readUInt16LE(o[i] + 2));
      if (key.startsWith(this.prefix)) this.later.push(key);
    }
  }
}

/** The entry at `off` as unordered() yields it. */
function entryAt(log: KvLog, off: number, latin1: boolean): [Buffer, Buffer] | [string, string] {
  const b = log.bytes;
  const start = off + ENTRY_HEADER_BYTES;
  const klen = b.readUInt16LE(off + 2);
  if (latin1) {
    const vstart = start + klen;
    return [b.toString('latin1', start, vstart), b.toString('latin1', vstart, vstart + b.readUInt32LE(off + 4))];
  }
  return [Buffer.from(b.subarray(start, start + klen)), valueCopy(log.view, off)];
}

/**
 * [key, value] copies (Buffers, or with `latin1` one-byte strings of their
 * bytes) of the entries whose key starts with `prefix` (a one-byte string),
 * present when the iteration starts, each once, as it is when the walk
 * reaches it (a key deleted by then is skipped). The offsets are a
 * snapshot, walked in address order; a key whose segment a compaction
 * freed before the walk reached it is yielded after them (Walk).
 */
export function* unorderedEntries(log: KvLog, prefix: string, latin1: boolean, assertOpen: () => void): IterableIterator<[Buffer, Buffer] | [string, string]> {
  const walk = new Walk(log.index.offsets(), prefix);
  const watch = log.watchFrees(walk);
  try {
    const { offsets, freed } = walk;
    for (let i = 0; i < offsets.length; i++) {
      assertOpen();
      walk.next = i + 1; // offsets[i] is read here, before any of the caller's code runs
      const off = offsets[i];
      if (freed.size > 0 && freed.has(log.table.start(log.table.segOf(off)))) continue;
      const b = log.bytes;
      const klen = b.readUInt16LE(off + 2);
      if (klen < prefix.length) continue;
      const start = off + ENTRY_HEADER_BYTES;
      let j = 0;
      while (j < prefix.length && b[start + j] === prefix.charCodeAt(j)) j++;
      if (j < prefix.length) continue;
      // The entry its key has now: this one, or the copy a cleaning step
      // moved it to (its segment not freed yet), or a rewrite's; none when
      // the key was deleted since the snapshot.
      const now = log.index.getEntry(off);
      if (now !== undefined) yield entryAt(log, now, latin1);
    }
    // Entries moved by a compaction before the walk reached them: by key,
    // as they are now (a key deleted since is skipped).
    for (let i = 0; i < walk.later.length; i++) {
      assertOpen();
      const off = log.index.get(walk.later[i]);
      if (off !== undefined) yield entryAt(log, off, latin1);
    }
  } finally {
    log.unwatchFrees(watch);
  }
}
