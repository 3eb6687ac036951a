// The words a KVStore writer publishes for readers in other threads and
// processes (lib/kv/follow.ts): the log's tail, and the count of freed
// segments. Both live below DATA_START (format.ts: TAIL_AT, FREES_AT) and
// are written with one aligned 8-byte store each; the protocol is in
// docs/durability.md ("Readers beside the writer").
import { FREES_AT, TAIL_AT } from './format';
import { store64, type Words, wordsOf } from '../core/region';

const TWO_32 = 0x100000000;

/** The tail word for the record end `used` bytes into the segment with sequence number `seq`. */
export function tailWord(seq: number, used: number): bigint {
  return (BigInt(seq % TWO_32) << 32n) + BigInt(used);
}

/**
 * Publishes the log's tail: the segment with sequence number `seq` ends,
 * for readers, `used` bytes after its start. The caller has fenced every
 * record up to there. A plain number below 2^53 is stored without
 * allocating a BigInt.
 */
export function publishTail(b: Uint8Array, seq: number, used: number): void {
  const hi = seq % TWO_32;
  if (hi < 0x200000) store64(b, TAIL_AT, hi * TWO_32 + used);
  else store64(b, TAIL_AT, tailWord(seq, used));
}

// The tail word's bit pattern, moved as one double (as store64 does).
const pattern = new Float64Array(1);
const patternU32 = new Uint32Array(pattern.buffer);

/**
 * publishTail() through `w`, the words of the log's bytes (wordsOf, looked
 * up once per mapping by the writer), for the store every record makes:
 * the same one aligned 8-byte store, without store64's lookup and checks.
 * Those checks ran on the same bytes before any record reaches here: a
 * writer's open publishes its tail with store64 (publishTail), and opening
 * a segment stores the sequence floor with it, both 8-byte aligned like
 * TAIL_AT, so bytes that do not start 8-byte aligned fail there; a file
 * that grew is mapped again, and a mapping starts on a page.
 */
export function publishTailIn(w: Words, seq: number, used: number): void {
  // `%` by 2^32, which is no small integer, is a call to a C function in
  // optimized code (about 5 ns); a sequence number is below 2^32 for years.
  const hi = seq < TWO_32 ? seq : seq % TWO_32;
  if (hi < 0x200000) {
    // Below 2^53: the double's exponent field is at most 1, so it is never
    // a NaN and no load or store can alter it.
    patternU32[0] = used;
    patternU32[1] = hi;
    w.f64[(w.base + TAIL_AT) / 8] = pattern[0];
  } else w.u64[(w.base + TAIL_AT) / 8] = tailWord(seq, used);
}

/**
 * Counts one more freed segment. Stored before the free itself, so that a
 * reader that sees a freed (or reused) segment's bytes also sees the count
 * move. Not flushed: only live readers read it.
 */
export function countFree(b: Uint8Array): void {
  const w = wordsOf(b);
  const i = (w.base + FREES_AT) / 8;
  store64(b, FREES_AT, w.u64[i] + 1n);
}

// A word's bit pattern, moved as one double (as store64 does): read
// without making a BigInt.
const word = new Float64Array(1);
const wordU32 = new Uint32Array(word.buffer);

/**
 * A u64 word below 2^53, as a number (0 above it): one 8-byte load, as
 * before, and no BigInt. A word below 2^53 is never a NaN pattern, so no
 * load or store alters it; one above may be, and any NaN keeps its high
 * half at or above 2^21, which gives 0 either way.
 */
export function readWord(b: Uint8Array, at: number): number {
  word[0] = wordsOf(b).f64[(b.byteOffset + at) / 8];
  const hi = wordU32[1];
  return hi < 0x200000 ? hi * TWO_32 + wordU32[0] : 0;
}

/** Atomic loads of the published words, over one mapping's bytes. */
export class PublishedWords {
  readonly #u64: BigUint64Array;
  readonly #u32: Uint32Array;
  readonly #tail: number;
  readonly #tailLow: number;
  readonly #frees: number;

  constructor(b: Uint8Array) {
    // The mapping starts on a page: its words are aligned.
    this.#u64 = new BigUint64Array(b.buffer, b.byteOffset, 4096 / 8);
    this.#u32 = new Uint32Array(b.buffer, b.byteOffset, 4096 / 4);
    this.#tail = TAIL_AT / 8;
    this.#tailLow = TAIL_AT / 4; // little-endian: the end offset, then the sequence number
    this.#frees = FREES_AT / 4;
  }

  /**
   * The published tail, one 8-byte atomic load. (Mapping.load64 does the
   * same on any mapping.)
   */
  tail(): bigint {
    return Atomics.load(this.#u64, this.#tail);
  }

  /**
   * Whether the tail word still names the end `used` in the segment with
   * sequence number `seqLow` (mod 2^32), with two 4-byte atomic loads and
   * no BigInt: the reader's test on every call, so a get that finds
   * nothing new allocates nothing for it. The low half (the end) is loaded
   * first, then the high half (the sequence number). The two loads are
   * not one atomic read, but the word only moves forward: each publish
   * names a later segment, or a later end in the same one. A word that
   * moved before the first load and still showed the old end there and
   * the old number at the second load would have to be in the old
   * segment at the second load (numbers only grow) and so past the old
   * end at the first (ends only grow within a segment): no such word. A
   * writer's open publishes the tail it recovered, never one behind the
   * last a writer published (docs/durability.md, "Readers beside the
   * writer").
   */
  sameTail(seqLow: number, used: number): boolean {
    return Atomics.load(this.#u32, this.#tailLow) === used && Atomics.load(this.#u32, this.#tailLow + 1) === seqLow;
  }

  /**
   * The low half of the count of freed segments. A reader compares it
   * before and after a read; it would have to move by 2^32 frees during
   * one read to come back to the same value.
   */
  frees(): number {
    return Atomics.load(this.#u32, this.#frees);
  }
}

// A tail word below 2^53 (a sequence number below 2^21, as publishTail
// stores it without a BigInt) is split as a number: a catch-up makes no
// BigInt beyond the one its atomic load returns.

/** The segment sequence number (mod 2^32) a tail word names. */
export function tailSeqLow(w: bigint): number {
  const x = Number(w);
  return x < 2 ** 53 ? Math.floor(x / TWO_32) : Number(w >> 32n);
}

/** The end offset a tail word names. */
export function tailEnd(w: bigint): number {
  const x = Number(w);
  return x < 2 ** 53 ? x % TWO_32 : Number(w & 0xffffffffn);
}
