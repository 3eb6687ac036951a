// The words a KVStore writer publishes for its readers (lib/kv/published.ts),
// as a reader decodes them without BigInt arithmetic: every word below 2^53
// as a number, the rest with BigInt operations, and both must agree with
// the word's bits.
import { FREES_AT, TAIL_AT } from '../lib/kv/format';
import { wordsOf } from '../lib/core/region';
import { PublishedWords, publishTail, publishTailIn, readWord, tailEnd, tailSeqLow, tailWord } from '../lib/kv/published';

const TWO_32 = 2 ** 32;

/** One 4 KiB page, 8-byte aligned like a mapping's first page. */
function page(): Buffer {
  return Buffer.from(new ArrayBuffer(4096));
}

const words = [
  0n, 1n, 0xffffffffn, 1n << 32n, (1n << 32n) + 4096n, (0x1fffffn << 32n) + 0xffffffffn, // below 2^53
  1n << 53n, (1n << 53n) + 1n, (0x200001n << 32n) + 7n, (0xffffffffn << 32n) + 0xfffffff8n, // at or above 2^53
  0x7ff8000000000001n, 0xfff0000000000000n, 0x7ff0000000000000n, // NaN and infinity patterns
];

describe('published words', () => {
  test('a tail word splits into its sequence number and end as the BigInt operations do, below and above 2^53', () => {
    for (const w of words) {
      expect(tailSeqLow(w)).toBe(Number(w >> 32n));
      expect(tailEnd(w)).toBe(Number(w & 0xffffffffn));
    }
  });

  test('readWord gives a word below 2^53 as a number, and 0 for any word above it (NaN patterns included)', () => {
    const b = page();
    for (const w of words) {
      b.writeBigUInt64LE(w, 64);
      expect(readWord(b, 64)).toBe(w < 1n << 53n ? Number(w) : 0);
    }
    // At an offset into a larger buffer, as a mapping's view is used.
    const big = Buffer.from(new ArrayBuffer(8192));
    const view = big.subarray(4096);
    view.writeBigUInt64LE((5n << 32n) + 24n, FREES_AT);
    expect(readWord(view, FREES_AT)).toBe(5 * TWO_32 + 24);
  });

  test('sameTail compares both halves of the tail word', () => {
    const b = page();
    const p = new PublishedWords(b);
    for (const [seq, used] of [[3, 4096], [0x1fffff, 64], [0x200000, 64], [0xffffffff, 0xfffffff8]]) {
      publishTail(b, seq, used);
      expect(b.readBigUInt64LE(TAIL_AT)).toBe(tailWord(seq, used));
      const w = p.tail();
      expect(p.sameTail(tailSeqLow(w), tailEnd(w))).toBe(true);
      expect(p.sameTail(seq % TWO_32, used)).toBe(true);
      // A new segment whose record ends at the same offset: only the high half moved.
      expect(p.sameTail((seq + 1) % TWO_32, used)).toBe(false);
      expect(p.sameTail(seq % TWO_32, used + 8)).toBe(false);
    }
  });

  test('publishTailIn stores the word publishTail stores, for sequence numbers below, at and past 2^32 and 2^53', () => {
    const a = page();
    const b = page();
    const w = wordsOf(b);
    for (const seq of [1, 0x1fffff, 0x200000, TWO_32 - 1, TWO_32, TWO_32 + 5, 3 * TWO_32 + 0x1fffff, 2 ** 53 - 1]) {
      for (const used of [0, 64, 0xfffffff8]) {
        publishTail(a, seq, used);
        publishTailIn(w, seq, used);
        expect(b.readBigUInt64LE(TAIL_AT)).toBe(a.readBigUInt64LE(TAIL_AT));
        expect(b.readBigUInt64LE(TAIL_AT)).toBe(tailWord(seq, used));
      }
    }
  });
});
