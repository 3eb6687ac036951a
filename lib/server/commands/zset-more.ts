// The sorted-set group, second part: ZUNION, ZINTER, ZDIFF (and their
// STORE forms), ZINTERCARD, the pops (ZPOPMIN, ZPOPMAX, ZMPOP and the
// blocking BZPOPMIN, BZPOPMAX, BZMPOP), ZRANDMEMBER and ZSCAN.
import { blockOrServe } from '../blocking';
import { NOT_INTEGER, ReplyError, SYNTAX, type Client } from '../client';
import { TYPE_SET, type Collection } from '../collections';
import { globMatch } from '../glob';
import type { Members } from '../members';
import type { RespServer } from '../server';
import { ZSetValue } from '../zset';
import { i64Arg, keyArg, toI64, word } from './args';
import { formatScore, isZSet, parseDouble, replyEntries, replyScore, zcoll, zdel, zdone, zsetOf, zstore } from './zset-store';
import { positive } from './lists';
import type { Def } from './types';

type Aggregate = 'sum' | 'min' | 'max';
type SetOp = 'union' | 'inter' | 'diff';

/** `+` that never yields NaN (inf + -inf is 0), as Redis's aggregation. */
function combine(agg: Aggregate, a: number, b: number): number {
  if (agg === 'min') return a < b ? a : b;
  if (agg === 'max') return a > b ? a : b;
  const r = a + b;
  return Number.isNaN(r) ? 0 : r;
}

/** The members and scores of an input key: a zset, a set (every score 1), or nothing. @throws ReplyError WRONGTYPE for other types */
function input(s: RespServer, db: number, key: string): Map<string, number> {
  if (s.keyspace.type(db, key) === TYPE_SET) {
    const set = s.keyspace.collection<Members<true>>(db, key, TYPE_SET) as Collection<Members<true>>;
    return new Map(set.data.ids.map((m) => [m, 1]));
  }
  return zsetOf(s, db, key)?.scores ?? new Map();
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
    const weights = keys.map(() => 1);
    let agg: Aggregate = 'sum';
    let withScores = false;
    let limit = 0;
    for (let j = numkeysAt + 1 + numkeys; j < argv.length; j++) {
      const w = word(argv[j]);
      const left = argv.length - j - 1;
      if (op !== 'diff' && !card && w === 'weights' && left >= numkeys) {
        for (let i = 0; i < numkeys; i++) {
          const v = parseDouble(argv[++j].toString('latin1'));
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
    const sets = keys.map((k) => input(s, c.db, k));
    const out = new Map<string, number>();
    const weighted = (sc: number, i: number): number => {
      const v = sc * weights[i];
      return Number.isNaN(v) ? 0 : v;
    };
    if (op === 'union') {
      sets.forEach((set, i) => {
        for (const [m, sc] of set) {
          const v = weighted(sc, i);
          const cur = out.get(m);
          out.set(m, cur === undefined ? v : combine(agg, cur, v));
        }
      });
    } else if (op === 'inter') {
      // Walk the smallest input; a member must be in every other.
      let small = 0;
      sets.forEach((set, i) => {
        if (set.size < sets[small].size) small = i;
      });
      for (const [m] of sets[small]) {
        let v = 0;
        let every = true;
        for (let i = 0; i < sets.length && every; i++) {
          const sc = sets[i].get(m);
          if (sc === undefined) every = false;
          else v = i === 0 ? weighted(sc, i) : combine(agg, v, weighted(sc, i));
        }
        if (!every) continue;
        out.set(m, v);
        if (card && limit > 0 && out.size >= limit) break;
      }
    } else {
      for (const [m, sc] of sets[0]) if (!sets.some((set, i) => i > 0 && set.has(m))) out.set(m, sc);
    }
    if (card) {
      c.out.int(out.size);
      return;
    }
    const sorted = new ZSetValue();
    for (const [m, sc] of out) sorted.set(m, sc);
    if (store) c.out.int(zstore(s, c.db, keyArg(argv[1]), sorted.entries()));
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
  zdone(s, coll);
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
    c.out.bulk(Buffer.from(m, 'latin1'));
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
  let withScores = false;
  if (argv.length >= 3) {
    const n = toI64(argv[2]);
    if (n === null) throw new ReplyError(NOT_INTEGER);
    if (n < -(2n ** 63n - 1n)) throw new ReplyError('ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807');
    if (argv.length > 4 || (argv.length === 4 && word(argv[3]) !== 'withscores')) throw new ReplyError(SYNTAX);
    if (argv.length === 4) {
      withScores = true;
      if (n < -(2n ** 62n) || n > 2n ** 62n) throw new ReplyError('ERR value is out of range');
    }
    count = Number(n);
  }
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  if (count === null) {
    if (z === undefined) c.out.nil();
    else {
      const r = Math.floor(Math.random() * z.size);
      c.out.bulk(Buffer.from(z.range(r, r, false)[0][0], 'latin1'));
    }
    return;
  }
  if (z === undefined || count === 0) {
    c.out.array(0);
    return;
  }
  const got: [string, number][] = [];
  if (count < 0) {
    // Repeats allowed: |count| independent picks.
    const all = z.entries();
    for (let i = 0; i < -count; i++) got.push(all[Math.floor(Math.random() * all.length)]);
  } else {
    const all = z.entries();
    // A partial Fisher-Yates shuffle: `count` distinct members (all of them when count >= size).
    const n = Math.min(count, all.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (all.length - i));
      [all[i], all[j]] = [all[j], all[i]];
      got.push(all[i]);
    }
  }
  replyEntries(c, got, withScores);
}

/**
 * ZSCAN key cursor [MATCH pattern] [COUNT count]. The cursor is a rank:
 * each call returns the members of ranks [cursor, cursor + count).
 */
function zscan(s: RespServer, c: Client, argv: Buffer[]): void {
  const cur = toI64(argv[2]);
  if (cur === null || cur < 0n) throw new ReplyError('ERR invalid cursor');
  let match: Buffer | null = null;
  let count = 10;
  for (let i = 3; i < argv.length; i++) {
    const w = word(argv[i]);
    if (i + 1 >= argv.length) throw new ReplyError(SYNTAX);
    if (w === 'match') match = argv[++i];
    else if (w === 'count') {
      count = Number(i64Arg(argv[++i]));
      if (count < 1) throw new ReplyError(SYNTAX);
    } else throw new ReplyError(SYNTAX);
  }
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  const from = Number(cur);
  const size = z?.size ?? 0;
  const got = z === undefined || from >= size ? [] : z.range(from, Math.min(from + count, size) - 1, false);
  const next = from + count >= size ? 0 : from + count;
  const out: (Buffer | string)[] = [];
  for (const [m, sc] of got) {
    const mb = Buffer.from(m, 'latin1');
    if (match !== null && !globMatch(match, mb)) continue;
    out.push(mb, formatScore(sc));
  }
  c.out.array(2);
  c.out.bulk(String(next));
  c.out.bulks(out);
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
