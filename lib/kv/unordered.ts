// KVStore.unordered(): every entry with a key prefix, in the order of the
// entries in the file. No key order is built (range() sorts every key once):
// pmem serve's open scans millions of element records this way.
import { ENTRY_HEADER_BYTES, valueCopy } from './format';
import type { KvLog } from './log';

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
