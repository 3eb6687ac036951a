// KVStore.range() and keys() over a writer's own index: the entries in key
// byte order (a reader beside a writer iterates through lib/kv/follow.ts).
// unordered.ts walks them in file order instead.
import { ENTRY_HEADER_BYTES, valueCopy } from './format';
import type { IndexRange } from './hash-index';
import type { KvLog } from './log';

/**
 * [key, value] copies (Buffers, or strings decoded as UTF-8 with `utf8`)
 * of at most `limit` entries in `range`, in key byte order. The keys are
 * those present when the iteration starts (a key deleted meanwhile is
 * skipped); each value is the one current when it is yielded.
 * `assertOpen` is called before each step.
 */
export function* indexRange(
  log: KvLog, range: IndexRange, limit: number, encoding: 'buffer' | 'utf8', assertOpen: () => void,
): IterableIterator<[Buffer, Buffer] | [string, string]> {
  // Each key is looked up below, which also skips one deleted since.
  const keys = log.index.rangeCandidates(range);
  let n = 0;
  for (;;) {
    assertOpen();
    const next = keys.next();
    if (next.done || n >= limit) return;
    const k = next.value;
    const off = log.index.get(k);
    if (off === undefined) continue;
    const b = log.bytes;
    const start = off + ENTRY_HEADER_BYTES + k.length;
    const end = start + b.readUInt32LE(off + 4);
    n++;
    if (encoding === 'utf8') yield [Buffer.from(k, 'latin1').toString('utf8'), b.toString('utf8', start, end)];
    else yield [Buffer.from(k, 'latin1'), valueCopy(log.view, off)];
  }
}

/** The keys of `entries`, lazily. */
export function* keysOf<K>(entries: Iterable<[K, unknown]>): IterableIterator<K> {
  for (const [k] of entries) yield k;
}
