// What the hash and set commands share: the SCAN of a collection's
// elements (HSCAN, SSCAN) and random picks with a count (HRANDFIELD,
// SRANDMEMBER).
import { ReplyError, type Client } from '../client';
import type { RespServer } from '../server';
import { globMatch, matchArg } from '../glob';
import type { Members } from '../members';
import { intArg, syntax, toI64, word } from './args';

/** LONG_MAX as a number: counts are checked against ±LONG_MAX as Redis does. */
export const LONG_MAX = 2 ** 63 - 1;

/**
 * HSCAN / SSCAN key cursor [MATCH p] [COUNT n]: the cursor walks the slot
 * array from its end down, as the keyspace's SCAN does (a delete moves the
 * last element into the hole, already visited or still ahead). A small
 * collection is returned in one call with cursor 0, as Redis does for its
 * listpack and intset encodings, in the order `smallOrder` gives its slots
 * (that encoding's order: a listpack's, an intset's ascending values).
 * `emit` writes one element's reply items. As in Redis (hscanCommand,
 * scanGenericCommand), the cursor is read before the key: the caller reads
 * it with cursorArg, then the key (WRONGTYPE); a missing key is an empty
 * scan whatever options follow, which are read only for a collection.
 */
export function scanMembers<V>(c: Client, argv: Buffer[], cur: bigint, m: Members<V> | undefined, smallOrder: (() => readonly number[]) | null, perElement: number, emit: (i: number) => void): void {
  const n = m === undefined ? 0 : m.size;
  if (m === undefined || n === 0) {
    c.out.array(2);
    c.out.bulk('0');
    c.out.array(0);
    return;
  }
  let match: Buffer | null = null;
  let count = 10;
  for (let i = 3; i < argv.length; i++) {
    const w = word(argv[i]);
    if (i + 1 >= argv.length) syntax();
    if (w === 'match') match = matchArg(argv[++i]);
    else if (w === 'count') {
      count = intArg(argv[++i]);
      if (count < 1) syntax();
    } else syntax();
  }
  const found: number[] = [];
  const matches = (i: number): boolean => match === null || globMatch(match, Buffer.from(m.ids[i], 'latin1'));
  if (smallOrder !== null) {
    for (const i of smallOrder()) if (matches(i)) found.push(i);
    c.out.array(2);
    c.out.bulk('0');
  } else {
    let pos = cur === 0n ? n - 1 : Math.min(Number(cur) - 1, n - 1);
    for (let k = 0; k < count && pos >= 0; k++, pos--) if (matches(pos)) found.push(pos);
    c.out.array(2);
    c.out.bulk(pos < 0 ? '0' : String(pos + 1));
  }
  c.out.array(found.length * perElement);
  for (const i of found) emit(i);
}

/** Slots 0..n-1: a listpack's order, where elements are appended and a delete moves the last one into the hole. */
export function slotOrder(n: number): number[] {
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}

/** The slots of integer members (an intset's: canonical 64-bit integers), by ascending value, as an intset keeps them. */
export function intOrder(ids: readonly string[]): number[] {
  const values = ids.map((id) => BigInt(id));
  return slotOrder(ids.length).sort((a, b) => (values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : 0));
}

/** The count argument of HRANDFIELD / SRANDMEMBER: within ±LONG_MAX. */
export function randomCount(b: Buffer): number {
  const n = toI64(b);
  if (n === null) throw new ReplyError('ERR value is not an integer or out of range');
  if (n < -(2n ** 63n - 1n)) throw new ReplyError(`ERR value is out of range, value must between -${2n ** 63n - 1n} and ${2n ** 63n - 1n}`);
  return Number(n);
}

/**
 * The count of HRANDFIELD WITHVALUES / ZRANDMEMBER WITHSCORES (already
 * read by randomCount): within ±LONG_MAX / 2, compared exactly (a number
 * near 2^62 is not). @throws ReplyError "value is out of range"
 */
export function checkPairCount(b: Buffer): void {
  const n = toI64(b) as bigint;
  const half = (2n ** 63n - 1n) / 2n;
  if (n < -half || n > half) throw new ReplyError('ERR value is out of range');
}

/**
 * Replies to HRANDFIELD / SRANDMEMBER with `count` random picks out of
 * `size` slots: distinct ones (at most `size`) for a positive count,
 * repeats allowed for a negative one. `emit` writes one pick. A negative
 * count is not bounded by the size: its picks are written as they are
 * drawn, and a client whose reply passes the output limit is disconnected
 * instead of the server holding it all (Redis stops the same way).
 */
export function replyRandom(s: RespServer, c: Client, size: number, count: number, perPick: number, emit: (slot: number) => void): void {
  if (count >= 0) {
    const slots = randomSlots(size, count);
    c.out.array(slots.length * perPick);
    for (const i of slots) emit(i);
    return;
  }
  c.out.array(-count * perPick);
  for (let n = 0; n < -count; n++) {
    if (n % 1024 === 1023 && c.out.bytes > s.maxOutput) {
      s.log(`client ${c.id} (${c.addr}) closed: a random-pick reply over ${s.maxOutput} bytes`);
      s.kill(c);
      return;
    }
    emit(Math.floor(Math.random() * size));
  }
}

/** Slots of `count` distinct random picks out of `size` (all of them when count ≥ size). */
export function randomSlots(size: number, count: number): number[] {
  const out: number[] = [];
  if (count >= size) {
    for (let i = 0; i < size; i++) out.push(i);
    return out;
  }
  // A partial Fisher-Yates shuffle over a sparse view of the slots.
  const swapped = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (size - i));
    const vj = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(vj);
  }
  return out;
}
