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
 * [key, value] copies (Buffers, or with `latin1` one-byte strings of their
 * bytes) of the entries whose key starts with `prefix` (a one-byte string),
 * present when the iteration starts. The offsets are a snapshot, in
 * address order.
 */
export function* unorderedEntries(log: KvLog, prefix: string, latin1: boolean, assertOpen: () => void): IterableIterator<[Buffer, Buffer] | [string, string]> {
  const offsets = log.index.offsets();
  for (let i = 0; i < offsets.length; i++) {
    assertOpen();
    const off = offsets[i];
    const b = log.bytes;
    const start = off + ENTRY_HEADER_BYTES;
    const klen = b.readUInt16LE(off + 2);
    if (klen < prefix.length) continue;
    let j = 0;
    while (j < prefix.length && b[start + j] === prefix.charCodeAt(j)) j++;
    // An entry rewritten or deleted since the snapshot is no longer the one indexed for its key: skipped.
    if (j < prefix.length || log.index.getEntry(off) !== off) continue;
    if (latin1) {
      const vstart = start + klen;
      yield [b.toString('latin1', start, vstart), b.toString('latin1', vstart, vstart + b.readUInt32LE(off + 4))];
    } else yield [Buffer.from(b.subarray(start, start + klen)), valueCopy(log.view, off)];
  }
}
