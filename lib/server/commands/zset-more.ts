// The sorted-set group, second part: ZUNION, ZINTER, ZDIFF (and their
// STORE forms), ZINTERCARD, the pops (ZPOPMIN, ZPOPMAX, ZMPOP and the
// blocking BZPOPMIN, BZPOPMAX, BZMPOP), ZRANDMEMBER and ZSCAN.
import { blockOrServe } from '../blocking';
import { ReplyError, SYNTAX, type Client } from '../client';
import { TYPE_SET, type Collection } from '../collections';
import { Members } from '../members';
import type { RespServer } from '../server';
import { ZSetValue } from '../zset';
import { cursorArg, i64Arg, keyArg, strictDouble, toI64, word } from './args';
import { checkPairCount, randomCount, replyRandom, scanMembers } from './elements';
import { encodingOf, formatScore, isZSet, replyEntries, replyScore, zcoll, zdel, zdone, zremoved, zsetOf, zstore } from './zset-store';
import { positive } from './lists';
import type { Def } from './types';

type Aggregate = 'sum' | 'min' | 'max';
type SetOp = 'union' | 'inter' | 'diff';

/** `+` that never yields NaN (inf + -inf is 0), as Redis's aggregation. */
/** zunionInterAggregate: the score so far `a` with the next one `b` (a NaN `b` leaves `a` under MIN and MAX, as in Redis). */
function combine(agg: Aggregate, a: number, b: number): number {
  if (agg === 'min') return b < a ? b : a;
  if (agg === 'max') return b > a ? b : a;
  const r = a + b;
  return Number.isNaN(r) ? 0 : r;
}

/** An input of ZUNION, ZINTER, ZDIFF: members with their scores. */
type Input = Members<number> | Members<true>;

const NONE = new Members<number>();

/** The input at `key`: a zset, a set (every score 1), or nothing. @throws ReplyError WRONGTYPE for other types */
function input(s: RespServer, db: number, key: string): Input {
  if (s.keyspace.type(db, key) === TYPE_SET) return (s.keyspace.collection<Members<true>>(db, key, TYPE_SET) as Collection<Members<true>>).data;
  return zsetOf(s, db, key)?.members ?? NONE;
}

/** The score of slot `i` of an input. */
const scoreAt = (m: Input, i: number): number => (m.vals[i] === true ? 1 : (m.vals[i] as number));

/** The score of `member` in an input, or undefined. */
function scoreOf(m: Input, member: string): number | undefined {
  const v = m.get(member);
  return v === undefined ? undefined : v === true ? 1 : v;
}

/**
 * zunionInterDiffGenericCommand: `numkeysAt` is the numkeys argument.
 * `store` names the destination, `card` is ZINTERCARD.
 */
function setOp(op: SetOp, numkeysAt: number, store: boolean, card: boolean, name: string) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const numkeys = Number(i64Arg(argv[numkeysAt]));
    if (numkeys < 1) throw new ReplyError(`ERR at least 1 input key is needed for '${name}' command`);
    if (numkeys > argv.length - numkeysAt - 1) throw new ReplyError(SYNTAX);
    const keys = argv.slice(numkeysAt + 1, numkeysAt + 1 + numkeys).map(keyArg);
    // The inputs (WRONGTYPE) before the options, as Redis reads them.
    const sets = keys.map((k) => input(s, c.db, k));
    const weights = keys.map(() => 1);
    let agg: Aggregate = 'sum';
    let withScores = false;
    let limit = 0;
    for (let j = numkeysAt + 1 + numkeys; j < argv.length; j++) {
      const w = word(argv[j]);
      const left = argv.length - j - 1;
      if (op !== 'diff' && !card && w === 'weights' && left >= numkeys) {
        for (let i = 0; i < numkeys; i++) {
          const v = strictDouble(argv[++j].toString('latin1'));
          if (v === null) throw new ReplyError('ERR weight value is not a float');
          weights[i] = v;
        }
      } else if (op !== 'diff' && !card && w === 'aggregate' && left >= 1) {
        const a = word(argv[++j]);
        if (a !== 'sum' && a !== 'min' && a !== 'max') throw new ReplyError(SYNTAX);
        agg = a;
      } else if (!store && !card && w === 'withscores') withScores = true;
      else if (card && w === 'limit' && left >= 1) {
        // getPositiveLongFromObjectOrReply: one message for both a non-integer and a negative.
        const n = toI64(argv[++j]);
        if (n === null || n < 0n) throw new ReplyError("ERR LIMIT can't be negative");
        limit = Number(n);
      } else throw new ReplyError(SYNTAX);
    }
    const out = new Map<string, number>();
    // A member's first weighted score: NaN (0 × inf) counts as 0.
    const weighted = (sc: number, i: number): number => {
      const v = sc * weights[i];
      return Number.isNaN(v) ? 0 : v;
    };
    // Redis takes the inputs smallest first (a stable sort by size), each
    // with its weight: the order in which scores are added, which decides
    // a sum's rounding.
    const order = sets.map((_, i) => i).sort((a, b) => sets[a].size - sets[b].size);
    if (op === 'union') {
      for (const i of order) {
        const set = sets[i];
        for (let k = 0; k < set.size; k++) {
          const m = set.ids[k];
          const v = weighted(scoreAt(set, k), i);
          const cur = out.get(m);
          out.set(m, cur === undefined ? v : combine(agg, cur, v));
        }
      }
    } else if (op === 'inter') {
      // Walk the smallest input; a member must be in every other.
      for (const m of sets[order[0]].ids) {
        let v = 0;
        let every = true;
        for (let j = 0; j < order.length && every; j++) {
          const i = order[j];
          const sc = scoreOf(sets[i], m);
          if (sc === undefined) every = false;
          // Only the first score is made 0 when NaN; a later NaN goes to the aggregate, as in Redis.
          else v = j === 0 ? weighted(sc, i) : combine(agg, v, sc * weights[i]);
        }
        if (!every) continue;
        out.set(m, v);
        if (card && limit > 0 && out.size >= limit) break;
      }
    } else {
      const first = sets[0];
      for (let k = 0; k < first.size; k++) {
        const m = first.ids[k];
        if (!sets.some((set, i) => i > 0 && set.has(m))) out.set(m, scoreAt(first, k));
      }
    }
    if (card) {
      c.out.int(out.size);
      return;
    }
    const sorted = new ZSetValue();
    for (const [m, sc] of out) sorted.set(m, sc);
    if (store) c.out.int(zstore(s, c.db, keyArg(argv[1]), sorted.entries(), `z${op}store`));
    else replyEntries(c, sorted.entries(), withScores);
  };
}

/** Pops up to `count` members from the low (min) or high end of the zset at `key`; deletes the key when it empties. */
function popEnds(s: RespServer, db: number, key: string, max: boolean, count: number): [string, number][] {
  const coll = zcoll(s, db, key);
  const z = coll.data;
  const n = Math.min(count, z.size);
  const got = max ? z.range(0, n - 1, true) : z.range(0, n - 1, false);
  for (const [m] of got) zdel(s, coll, m);
  zremoved(s, coll, max ? 'zpopmax' : 'zpopmin', got.length, zdone(s, coll));
  return got;
}

/** The first of `keys` that exists: a zset, or WRONGTYPE. */
function firstZSet(s: RespServer, db: number, keys: string[]): string | undefined {
  return keys.find((k) => zsetOf(s, db, k) !== undefined);
}

/** Entries as a flat array [m, s, ...] (RESP2 ZPOP, BZPOP) or as [m, s] pairs. */
function replyPairs(c: Client, got: [string, number][], nested: boolean): void {
  for (const [m, sc] of got) {
    if (nested) c.out.array(2);
    c.out.bulkLatin1(m);
    replyScore(c, sc);
  }
}

/** ZPOPMIN/ZPOPMAX key [count] */
function zpop(max: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    if (argv.length > 3) throw new ReplyError(SYNTAX);
    let count = -1;
    if (argv.length === 3) {
      count = positive(argv[2]);
    }
    const key = keyArg(argv[1]);
    if (zsetOf(s, c.db, key) === undefined || count === 0) {
      c.out.array(0);
      return;
    }
    const nested = c.out.proto === 3 && count !== -1;
    const got = popEnds(s, c.db, key, max, count === -1 ? 1 : count);
    c.out.array(nested ? got.length : got.length * 2);
    replyPairs(c, got, nested);
  };
}

/** ZMPOP/BZMPOP's arguments from `numkeysAt`. */
function mpopArgs(argv: Buffer[], numkeysAt: number): { keys: string[]; max: boolean; count: number } {
  const numkeys = Number(i64Arg(argv[numkeysAt], 'ERR numkeys should be greater than 0'));
  if (numkeys < 1) throw new ReplyError('ERR numkeys should be greater than 0');
  const whereAt = numkeysAt + numkeys + 1;
  if (whereAt >= argv.length) throw new ReplyError(SYNTAX);
  const w = word(argv[whereAt]);
  if (w !== 'min' && w !== 'max') throw new ReplyError(SYNTAX);
  let count = -1;
  for (let j = whereAt + 1; j < argv.length; j++) {
    if (count === -1 && word(argv[j]) === 'count' && j + 1 < argv.length) {
      count = Number(i64Arg(argv[++j], 'ERR count should be greater than 0'));
      if (count < 1) throw new ReplyError('ERR count should be greater than 0');
    } else throw new ReplyError(SYNTAX);
  }
  return { keys: argv.slice(numkeysAt + 1, whereAt).map(keyArg), max: w === 'max', count: count === -1 ? 1 : count };
}

function replyMpop(c: Client, key: string, got: [string, number][]): void {
  c.out.array(2);
  c.out.bulk(Buffer.from(key, 'latin1'));
  c.out.array(got.length);
  replyPairs(c, got, true);
}

function zmpop(s: RespServer, c: Client, argv: Buffer[]): void {
  const { keys, max, count } = mpopArgs(argv, 1);
  const key = firstZSet(s, c.db, keys);
  if (key === undefined) c.out.nilArray();
  else replyMpop(c, key, popEnds(s, c.db, key, max, count));
}

function bzpop(max: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const keys = argv.slice(1, -1).map(keyArg);
    blockOrServe(s, c, keys, argv[argv.length - 1], isZSet, (key) => {
      if (zsetOf(s, c.db, key) === undefined) return false;
      const got = popEnds(s, c.db, key, max, 1);
      c.out.array(3);
      c.out.bulk(Buffer.from(key, 'latin1'));
      replyPairs(c, got, false);
      return true;
    }, () => c.out.nilArray());
  };
}

function bzmpop(s: RespServer, c: Client, argv: Buffer[]): void {
  const { keys, max, count } = mpopArgs(argv, 2);
  blockOrServe(s, c, keys, argv[1], isZSet, (key) => {
    if (zsetOf(s, c.db, key) === undefined) return false;
    replyMpop(c, key, popEnds(s, c.db, key, max, count));
    return true;
  }, () => c.out.nilArray());
}

/** ZRANDMEMBER key [count [WITHSCORES]] */
function zrandmember(s: RespServer, c: Client, argv: Buffer[]): void {
  let count: number | null = null;
  if (argv.length >= 3) {
    count = randomCount(argv[2]);
    if (argv.length > 4 || (argv.length === 4 && word(argv[3]) !== 'withscores')) throw new ReplyError(SYNTAX);
    if (argv.length === 4) checkPairCount(argv[2]);
  }
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  if (count === null) {
    if (z === undefined) c.out.nil();
    else c.out.bulk(Buffer.from(z.members.ids[z.members.randomSlot()], 'latin1'));
    return;
  }
  if (z === undefined || count === 0) {
    c.out.array(0);
    return;
  }
  const m = z.members;
  const withScores = argv.length === 4;
  const nested = withScores && c.out.proto === 3;
  // As HRANDFIELD: a negative count's picks (repeats allowed, not bounded
  // by the size) are written as they are drawn.
  replyRandom(s, c, m.size, count, withScores && !nested ? 2 : 1, (i) => {
    if (nested) c.out.array(2);
    c.out.bulkLatin1(m.ids[i]);
    if (withScores) replyScore(c, m.vals[i]);
  });
}

/**
 * ZSCAN key cursor [MATCH pattern] [COUNT count]: the slot array's scan
 * (elements.ts), as HSCAN's; a zset small enough for Redis's listpack comes
 * whole in one call.
 */
function zscan(s: RespServer, c: Client, argv: Buffer[]): void {
  const cur = cursorArg(argv[2]);
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  // A listpack holds its members in (score, member) order.
  const small = z !== undefined && encodingOf(z) === 'listpack' ? () => z.range(0, z.size - 1, false).map(([id]) => z.members.slots.get(id) as number) : null;
  scanMembers(c, argv, cur, z?.members, small, 2, (i) => {
    const m = (z as ZSetValue).members;
    c.out.bulkLatin1(m.ids[i]);
    c.out.bulkLatin1(formatScore(m.vals[i]));
  });
}

export const ZSET_MORE_COMMANDS: Record<string, Def> = {
  zunion: [-3, 'readonly', 0, 0, 0, setOp('union', 1, false, false, 'zunion')],
  zinter: [-3, 'readonly', 0, 0, 0, setOp('inter', 1, false, false, 'zinter')],
  zdiff: [-3, 'readonly', 0, 0, 0, setOp('diff', 1, false, false, 'zdiff')],
  zunionstore: [-4, 'write', 1, 1, 1, setOp('union', 2, true, false, 'zunionstore')],
  zinterstore: [-4, 'write', 1, 1, 1, setOp('inter', 2, true, false, 'zinterstore')],
  zdiffstore: [-4, 'write', 1, 1, 1, setOp('diff', 2, true, false, 'zdiffstore')],
  zintercard: [-3, 'readonly', 0, 0, 0, setOp('inter', 1, false, true, 'zintercard')],
  zpopmin: [-2, 'write fast', 1, 1, 1, zpop(false)],
  zpopmax: [-2, 'write fast', 1, 1, 1, zpop(true)],
  zmpop: [-4, 'write', 0, 0, 0, zmpop],
  bzpopmin: [-3, 'write', 1, -2, 1, bzpop(false)],
  bzpopmax: [-3, 'write', 1, -2, 1, bzpop(true)],
  bzmpop: [-5, 'write', 0, 0, 0, bzmpop],
  zrandmember: [-2, 'readonly', 1, 1, 1, zrandmember],
  zscan: [-3, 'readonly', 1, 1, 1, zscan],
};
