// The sorted-set group, first part: ZADD, ZINCRBY, ZREM, the counts, scores
// and ranks, the ZRANGE family (by rank, score and lex, and ZRANGESTORE),
// and the ZREMRANGEBY* commands. Each member is its own store record
// (zset-store.ts); a command's writes are one atomic durable batch.
import { NOT_INTEGER, ReplyError, SYNTAX, type Client } from '../client';
import { NOTIFY_ZSET } from '../notify';
import type { RespServer } from '../server';
import type { LexRange, ScoreRange, ZSetValue } from '../zset';
import { i64Arg, keyArg, word } from './args';
import { lexRange, memberArg, replyEntries, replyScore, scoreArg, scoreRange, zcoll, zdel, zdone, zput, zremoved, zsetFor, zsetOf, zstore } from './zset-store';
import { ZSET_MORE_COMMANDS } from './zset-more';
import type { Def } from './types';

const NAN = 'ERR resulting score is not a number (NaN)';

const member = (b: Buffer): string => b.toString('latin1');

/** ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]; ZINCRBY is ZADD INCR. */
function zaddLike(incrOnly: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    let nx = false;
    let xx = false;
    let gt = false;
    let lt = false;
    let ch = false;
    let incr = incrOnly;
    let at = 2;
    // ZINCRBY is ZADD INCR in Redis (zaddGenericCommand): its options are
    // read too, so an option word where its increment stands leaves one
    // argument, a syntax error.
    for (; at < argv.length; at++) {
      const w = word(argv[at]);
      if (w === 'nx') nx = true;
      else if (w === 'xx') xx = true;
      else if (w === 'ch') ch = true;
      else if (w === 'incr') incr = true;
      else if (w === 'gt') gt = true;
      else if (w === 'lt') lt = true;
      else break;
    }
    const n = argv.length - at;
    if (n % 2 !== 0 || n === 0) throw new ReplyError(SYNTAX);
    if (nx && xx) throw new ReplyError('ERR XX and NX options at the same time are not compatible');
    if ((gt && nx) || (lt && nx) || (gt && lt)) throw new ReplyError('ERR GT, LT, and/or NX options at the same time are not compatible');
    if (incr && n > 2) throw new ReplyError('ERR INCR option supports a single increment-element pair');
    const scores: number[] = [];
    for (let j = at; j < argv.length; j += 2) scores.push(scoreArg(argv[j]));
    const members: string[] = [];
    for (let j = at + 1; j < argv.length; j += 2) members.push(memberArg(argv[j]));
    zaddPairs(s, c, keyArg(argv[1]), { nx, xx, gt, lt, ch, incr }, scores, members);
  };
}

/** ZADD's options. */
export interface ZaddOptions {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
}

/**
 * ZADD's work once its arguments are read (GEOADD's too): sets each
 * member's score as the options allow, and replies. @throws ReplyError
 * WRONGTYPE, or INCR's NaN
 */
export function zaddPairs(s: RespServer, c: Client, key: string, o: ZaddOptions, scores: number[], members: string[]): void {
  const { nx, xx, gt, lt, ch, incr } = o;
  const have = zsetOf(s, c.db, key);
  if (have === undefined && xx) {
    if (incr) c.out.nil();
    else c.out.int(0);
    return;
  }
  const z = zsetFor(s, c.db, key);
  let added = 0;
  let updated = 0;
  let result: number | null = null;
  for (let j = 0; j < scores.length; j++) {
    const m = members[j];
    let score = scores[j];
    const cur = z.data.members.get(m);
    if (cur !== undefined) {
      if (nx) continue;
      if (incr) {
        score += cur;
        if (Number.isNaN(score)) {
          zdone(s, z);
          throw new ReplyError(NAN);
        }
      }
      if ((lt && score >= cur) || (gt && score <= cur)) continue;
      result = score;
      if (score !== cur) {
        zput(s, z, m, score);
        updated++;
      }
    } else {
      if (xx) continue;
      zput(s, z, m, score);
      added++;
      result = score;
    }
  }
  zdone(s, z); // a ZADD that added nothing to a new key leaves no key
  if (added > 0 || updated > 0) s.keyspace.notify.raise(NOTIFY_ZSET, incr ? 'zincr' : 'zadd', c.db, key);
  if (incr) {
    if (result === null) c.out.nil();
    else replyScore(c, result);
  } else c.out.int(ch ? added + updated : added);
}

function zrem(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  if (zsetOf(s, c.db, key) === undefined) {
    c.out.int(0);
    return;
  }
  const z = zcoll(s, c.db, key);
  let n = 0;
  for (let i = 2; i < argv.length; i++) if (zdel(s, z, member(argv[i]))) n++;
  zremoved(s, z, 'zrem', n, zdone(s, z));
  c.out.int(n);
}

function zcard(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(zsetOf(s, c.db, keyArg(argv[1]))?.size ?? 0);
}

function zscore(s: RespServer, c: Client, argv: Buffer[]): void {
  const sc = zsetOf(s, c.db, keyArg(argv[1]))?.members.get(member(argv[2]));
  if (sc === undefined) c.out.nil();
  else replyScore(c, sc);
}

function zmscore(s: RespServer, c: Client, argv: Buffer[]): void {
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  c.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const sc = z?.members.get(member(argv[i]));
    if (sc === undefined) c.out.nil();
    else replyScore(c, sc);
  }
}

function zcount(s: RespServer, c: Client, argv: Buffer[]): void {
  const r = scoreRange(argv[2], argv[3]);
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  c.out.int(z === undefined ? 0 : z.countByScore(r));
}

function zlexcount(s: RespServer, c: Client, argv: Buffer[]): void {
  const r = lexRange(argv[2], argv[3]);
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  c.out.int(z === undefined ? 0 : z.countByLex(r));
}

function zrankLike(rev: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const z = zsetOf(s, c.db, keyArg(argv[1]));
    const r = z?.rank(member(argv[2]));
    if (z === undefined || r === undefined) c.out.nil();
    else c.out.int(rev ? z.size - 1 - r : r);
  };
}

type RangeKind = 'rank' | 'score' | 'lex';

/** One parsed range request of the ZRANGE family. */
interface RangeQuery {
  kind: RangeKind;
  rev: boolean;
  withScores: boolean;
  offset: number;
  limit: number;
  start: number;
  end: number;
  score: ScoreRange | null;
  lex: LexRange | null;
}

/** The members a query selects, in reply order. */
function select(z: ZSetValue, q: RangeQuery): [string, number][] {
  if (q.kind === 'rank') {
    const len = z.size;
    let start = q.start < 0 ? len + q.start : q.start;
    let end = q.end < 0 ? len + q.end : q.end;
    if (start < 0) start = 0;
    if (start > end || start >= len) return [];
    if (end >= len) end = len - 1;
    return z.range(start, end, q.rev);
  }
  // A negative offset selects nothing, a negative limit everything (Redis's loops).
  if (q.offset < 0 || (q.offset > 0 && q.offset >= z.size)) return [];
  if (q.kind === 'score') return z.rangeByScore(q.score as ScoreRange, q.rev, q.offset, q.limit);
  return z.rangeByLex(q.lex as LexRange, q.rev, q.offset, q.limit);
}

/**
 * zrangeGenericCommand: the arguments from `first` (key's min, max, then
 * options); `kind`/`rev` fixed by the legacy commands, or null for ZRANGE's
 * own options.
 */
function parseRange(argv: Buffer[], first: number, store: boolean, kind: RangeKind | null, rev: boolean | null): RangeQuery {
  let withScores = false;
  let offset = 0;
  let limit = -1;
  let k = kind;
  let r = rev;
  for (let j = first + 2; j < argv.length; j++) {
    const w = word(argv[j]);
    const left = argv.length - j - 1;
    if (!store && w === 'withscores') withScores = true;
    else if (w === 'limit' && left >= 2) {
      offset = Number(i64Arg(argv[j + 1]));
      limit = Number(i64Arg(argv[j + 2]));
      j += 2;
    } else if (r === null && w === 'rev') r = true;
    else if (k === null && w === 'bylex') k = 'lex';
    else if (k === null && w === 'byscore') k = 'score';
    else throw new ReplyError(SYNTAX);
  }
  const q: RangeQuery = { kind: k ?? 'rank', rev: r ?? false, withScores, offset, limit, start: 0, end: 0, score: null, lex: null };
  // Redis checks the count only: `LIMIT n -1` by rank is taken, its offset unused.
  if (limit !== -1 && q.kind === 'rank') throw new ReplyError('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  if (withScores && q.kind === 'lex') throw new ReplyError('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  // By score and by lex, a reversed range is given as max, min.
  const [lo, hi] = q.rev && q.kind !== 'rank' ? [argv[first + 1], argv[first]] : [argv[first], argv[first + 1]];
  if (q.kind === 'rank') {
    q.start = Number(i64Arg(lo, NOT_INTEGER));
    q.end = Number(i64Arg(hi, NOT_INTEGER));
  } else if (q.kind === 'score') q.score = scoreRange(lo, hi);
  else q.lex = lexRange(lo, hi);
  return q;
}

function zrangeLike(kind: RangeKind | null, rev: boolean | null) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const q = parseRange(argv, 2, false, kind, rev);
    const z = zsetOf(s, c.db, keyArg(argv[1]));
    replyEntries(c, z === undefined ? [] : select(z, q), q.withScores);
  };
}

/** ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count] */
function zrangestore(s: RespServer, c: Client, argv: Buffer[]): void {
  const q = parseRange(argv, 3, true, null, null);
  const dst = keyArg(argv[1]);
  const z = zsetOf(s, c.db, keyArg(argv[2]));
  c.out.int(zstore(s, c.db, dst, z === undefined ? [] : select(z, q), 'zrangestore'));
}

function zremrange(kind: RangeKind) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const q: RangeQuery = { kind, rev: false, withScores: false, offset: 0, limit: -1, start: 0, end: 0, score: null, lex: null };
    if (kind === 'rank') {
      q.start = Number(i64Arg(argv[2]));
      q.end = Number(i64Arg(argv[3]));
    } else if (kind === 'score') q.score = scoreRange(argv[2], argv[3]);
    else q.lex = lexRange(argv[2], argv[3]);
    const key = keyArg(argv[1]);
    const z = zsetOf(s, c.db, key);
    if (z === undefined) {
      c.out.int(0);
      return;
    }
    const coll = zcoll(s, c.db, key);
    const gone = select(z, q);
    for (const [m] of gone) zdel(s, coll, m);
    zremoved(s, coll, `zremrangeby${kind}`, gone.length, zdone(s, coll));
    c.out.int(gone.length);
  };
}

export const ZSET_COMMANDS: Record<string, Def> = {
  zadd: [-4, 'write fast', 1, 1, 1, zaddLike(false)],
  zincrby: [4, 'write fast', 1, 1, 1, zaddLike(true)],
  zrem: [-3, 'write fast', 1, 1, 1, zrem],
  zcard: [2, 'readonly fast', 1, 1, 1, zcard],
  zscore: [3, 'readonly fast', 1, 1, 1, zscore],
  zmscore: [-3, 'readonly fast', 1, 1, 1, zmscore],
  zcount: [4, 'readonly fast', 1, 1, 1, zcount],
  zlexcount: [4, 'readonly fast', 1, 1, 1, zlexcount],
  zrank: [3, 'readonly fast', 1, 1, 1, zrankLike(false)],
  zrevrank: [3, 'readonly fast', 1, 1, 1, zrankLike(true)],
  zrange: [-4, 'readonly', 1, 1, 1, zrangeLike(null, null)],
  zrevrange: [-4, 'readonly', 1, 1, 1, zrangeLike('rank', true)],
  zrangebyscore: [-4, 'readonly', 1, 1, 1, zrangeLike('score', false)],
  zrevrangebyscore: [-4, 'readonly', 1, 1, 1, zrangeLike('score', true)],
  zrangebylex: [-4, 'readonly', 1, 1, 1, zrangeLike('lex', false)],
  zrevrangebylex: [-4, 'readonly', 1, 1, 1, zrangeLike('lex', true)],
  zrangestore: [-5, 'write', 1, 2, 1, zrangestore],
  zremrangebyrank: [4, 'write', 1, 1, 1, zremrange('rank')],
  zremrangebyscore: [4, 'write', 1, 1, 1, zremrange('score')],
  zremrangebylex: [4, 'write', 1, 1, 1, zremrange('lex')],
  ...ZSET_MORE_COMMANDS,
};
