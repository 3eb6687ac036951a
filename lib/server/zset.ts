// A sorted set's DRAM image: a skiplist ordered by (score, member) whose
// links carry spans, so rank lookups are O(log n) (Redis's zskiplist), and
// the members with their scores in a slot array (members.ts: O(1) lookups,
// random picks, and the SCAN cursor of hashes and sets). Members are latin1
// strings of their bytes,
// so `<` on them is Redis's byte order (memcmp). The element records are
// written by the commands; this structure only orders.
//
// The skiplist's nodes live in one ArrayBuffer, not as objects: a node is
// the index of its first 8-byte word, [score (f64)] [prev, level (i32)]
// then one [next, span] pair of i32 per level, as Redis lays out a
// zskiplistNode. A search step reads a link, then the next node's score
// and links side by side (one cache line for its lowest six levels), where
// a node object, its arrays of links and spans and its boxed score were
// four places in memory. Node 0 is the head; -1 is
// no node. Members are in an array by node.

import { Members } from './members';

const MAX_LEVEL = 32;
const P = 0.25;
const HEAD = 0;
const NONE = -1;
/** The words of a node of `level` levels. */
const wordsOf = (level: number): number => 2 + level;
/** Pool words below which a pool is never rebuilt smaller. */
const REBUILD_FROM = 4096;
/** A search's last node on each level, and its rank there: scratch of #insert, #unlink and #copied, which run no other code meanwhile. */
const UPDATE = new Int32Array(MAX_LEVEL);
const RANK = new Float64Array(MAX_LEVEL);

/** A score range: min and max, each exclusive or not. */
export interface ScoreRange {
  min: number;
  max: number;
  minEx: boolean;
  maxEx: boolean;
}

/** A lex range over members: '-' and '+' are the ends (as null), else a bound, exclusive or not. */
export interface LexRange {
  min: string | null;
  max: string | null;
  minEx: boolean;
  maxEx: boolean;
  /** Whether min is '+' (nothing is above it) and max is '-'. */
  minPlus?: boolean;
  maxMinus?: boolean;
}

export const aboveMin = (r: ScoreRange, s: number): boolean => (r.minEx ? s > r.min : s >= r.min);
export const belowMax = (r: ScoreRange, s: number): boolean => (r.maxEx ? s < r.max : s <= r.max);

export function lexAboveMin(r: LexRange, m: string): boolean {
  if (r.minPlus) return false;
  if (r.min === null) return true;
  return r.minEx ? m > r.min : m >= r.min;
}

export function lexBelowMax(r: LexRange, m: string): boolean {
  if (r.maxMinus) return false;
  if (r.max === null) return true;
  return r.maxEx ? m < r.max : m <= r.max;
}

export class ZSetValue {
  /** Member → score, in slots. */
  readonly members = new Members<number>();
  /** The node pool: scores through #f64, the rest through #i32 (two i32 a word). */
  #f64 = new Float64Array(0);
  #i32 = new Int32Array(0);
  /** Each node's member, by node. */
  #names: string[] = [];
  /** Words in use at the pool's end, and in live nodes (the head's too). */
  #top = 0;
  #used = 0;
  /** Freed nodes by level, for the next node of that level. */
  #free: number[][] = Array.from({ length: MAX_LEVEL + 1 }, () => []);
  #level = 1;

  constructor() {
    this.#reset(64);
  }

  get size(): number {
    return this.members.size;
  }

  /** @internal The node pool's capacity, in 8-byte words. */
  get poolWords(): number {
    return this.#f64.length;
  }

  /** @internal The words of the pool's live nodes, the head's included. */
  get usedWords(): number {
    return this.#used;
  }

  /** An empty list in a pool of `words`. */
  #reset(words: number): void {
    const buf = new ArrayBuffer(words * 8);
    this.#f64 = new Float64Array(buf);
    this.#i32 = new Int32Array(buf);
    this.#names = [];
    this.#free = Array.from({ length: MAX_LEVEL + 1 }, () => []);
    this.#top = 0;
    this.#used = 0;
    this.#level = 1;
    const h = this.#alloc(MAX_LEVEL, '', 0);
    if (h !== HEAD) throw new Error('the head is not node 0');
    const i32 = this.#i32;
    for (let i = 0; i < MAX_LEVEL; i++) i32[2 * h + 4 + 2 * i] = NONE;
  }

  /** A node of `level` levels for (member, score); its links are set by the caller. */
  #alloc(level: number, member: string, score: number): number {
    const w = wordsOf(level);
    let h = this.#free[level].pop();
    if (h === undefined) {
      if (this.#top + w > this.#f64.length) this.#grow(this.#top + w);
      h = this.#top;
      this.#top += w;
    }
    this.#used += w;
    this.#f64[h] = score;
    this.#i32[2 * h + 2] = NONE;
    this.#i32[2 * h + 3] = level;
    this.#names[h] = member;
    return h;
  }

  #release(h: number): void {
    const level = this.#i32[2 * h + 3];
    this.#used -= wordsOf(level);
    this.#names[h] = '';
    this.#free[level].push(h);
  }

  #grow(words: number): void {
    const buf = new ArrayBuffer(Math.max(words, 2 * this.#f64.length) * 8);
    new Uint8Array(buf).set(new Uint8Array(this.#f64.buffer));
    this.#f64 = new Float64Array(buf);
    this.#i32 = new Int32Array(buf);
  }

  /**
   * The pool again, twice what its nodes need, once three quarters of it
   * is free: the nodes copied in order into a new list, which then
   * replaces this one (a set that grew large and shrank keeps no more than
   * four times what it holds). One pass, no search: each node is linked
   * after the last node of each of its levels. A new pool that cannot be
   * had leaves the list as it was.
   */
  #shrinkIfSparse(): void {
    const words = this.#f64.length;
    if (words < REBUILD_FROM || this.#used * 4 > words) return;
    const t = this.#copied();
    if (t === null) return; // no memory for it now: the larger pool still serves
    this.#f64 = t.#f64;
    this.#i32 = t.#i32;
    this.#names = t.#names;
    this.#free = t.#free;
    this.#top = t.#top;
    this.#used = t.#used;
    this.#level = t.#level;
  }

  /** This list's nodes in order in a new pool of twice the words they use, or null when the pool cannot be had (RangeError). */
  #copied(): ZSetValue | null {
    const f64 = this.#f64;
    const i32 = this.#i32;
    const names = this.#names;
    const last = UPDATE.fill(HEAD);
    const lastRank = RANK.fill(0);
    let t: ZSetValue;
    let level = 1;
    let r = 0;
    let prev = NONE;
    try {
      t = new ZSetValue();
      t.#reset(Math.max(64, 2 * this.#used));
      for (let x = i32[2 * HEAD + 4]; x !== NONE; x = i32[2 * x + 4]) {
        r++;
        const l = t.#randomLevel();
        const node = t.#alloc(l, names[x], f64[x]); // may grow the pool: its views are read after
        const ti = t.#i32;
        for (let i = 0; i < l; i++) {
          const u = last[i];
          ti[2 * u + 4 + 2 * i] = node;
          ti[2 * u + 5 + 2 * i] = r - lastRank[i];
          last[i] = node;
          lastRank[i] = r;
        }
        ti[2 * node + 2] = prev;
        prev = node;
        if (l > level) level = l;
      }
    } catch (e) {
      if (e instanceof RangeError) return null;
      throw e;
    }
    const ti = t.#i32;
    for (let i = 0; i < level; i++) {
      ti[2 * last[i] + 4 + 2 * i] = NONE;
      ti[2 * last[i] + 5 + 2 * i] = r - lastRank[i]; // as #insert keeps a last link's span: the nodes after it
    }
    t.#level = level;
    return t;
  }

  #randomLevel(): number {
    let l = 1;
    while (l < MAX_LEVEL && Math.random() < P) l++;
    return l;
  }

  /** Adds or moves `member` to `score`. @returns whether it was new */
  set(member: string, score: number): boolean {
    const m = this.members;
    const slot = m.slots.get(member); // one lookup: a move writes its slot's score
    const old = slot === undefined ? undefined : m.vals[slot];
    if (old === score) return false;
    // The new node first: a pool that cannot grow throws before anything changed.
    const node = this.#alloc(this.#randomLevel(), member, score);
    if (old === undefined) {
      try {
        m.append(member, score);
      } catch (e) {
        this.#release(node); // the map refused it (no memory, or a Map's 2^24 entries): nothing else changed
        throw e;
      }
    } else {
      this.#unlink(member, old);
      m.vals[slot as number] = score;
    }
    this.#insert(node, this.size);
    return old === undefined;
  }

  /** Removes `member`. @returns whether it was there */
  delete(member: string): boolean {
    const m = this.members;
    const slot = m.slots.get(member);
    if (slot === undefined) return false;
    const s = m.vals[slot];
    m.deleteAt(slot, member);
    this.#unlink(member, s);
    this.#shrinkIfSparse();
    return true;
  }

  /** Links `node` (#alloc's, its member and score set); `count`: the nodes once it is in. */
  #insert(node: number, count: number): void {
    const f64 = this.#f64;
    const i32 = this.#i32;
    const names = this.#names;
    const score = f64[node];
    const member = names[node];
    const level = i32[2 * node + 3];
    const update = UPDATE;
    const rank = RANK;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      rank[i] = i === this.#level - 1 ? 0 : rank[i + 1];
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && (f64[n] < score || (f64[n] === score && names[n] < member)); n = i32[2 * x + 4 + 2 * i]) {
        rank[i] += i32[2 * x + 5 + 2 * i];
        x = n;
      }
      update[i] = x;
    }
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        rank[i] = 0;
        update[i] = HEAD;
        i32[2 * HEAD + 5 + 2 * i] = count - 1; // the nodes there were before this one
      }
      this.#level = level;
    }
    for (let i = 0; i < level; i++) {
      const u = update[i];
      i32[2 * node + 4 + 2 * i] = i32[2 * u + 4 + 2 * i];
      i32[2 * u + 4 + 2 * i] = node;
      i32[2 * node + 5 + 2 * i] = i32[2 * u + 5 + 2 * i] - (rank[0] - rank[i]);
      i32[2 * u + 5 + 2 * i] = rank[0] - rank[i] + 1;
    }
    for (let i = level; i < this.#level; i++) i32[2 * update[i] + 5 + 2 * i]++;
    i32[2 * node + 2] = update[0] === HEAD ? NONE : update[0];
    const next = i32[2 * node + 4];
    if (next !== NONE) i32[2 * next + 2] = node;
  }

  #unlink(member: string, score: number): void {
    const f64 = this.#f64;
    const i32 = this.#i32;
    const names = this.#names;
    const update = UPDATE;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && (f64[n] < score || (f64[n] === score && names[n] < member)); n = i32[2 * x + 4 + 2 * i]) x = n;
      update[i] = x;
    }
    const node = i32[2 * x + 4];
    for (let i = 0; i < this.#level; i++) {
      const u = update[i];
      if (i32[2 * u + 4 + 2 * i] === node) {
        i32[2 * u + 5 + 2 * i] += i32[2 * node + 5 + 2 * i] - 1;
        i32[2 * u + 4 + 2 * i] = i32[2 * node + 4 + 2 * i];
      } else i32[2 * u + 5 + 2 * i]--;
    }
    const next = i32[2 * node + 4];
    const prev = i32[2 * node + 2];
    if (next !== NONE) i32[2 * next + 2] = prev;
    while (this.#level > 1 && i32[2 * HEAD + 4 + 2 * (this.#level - 1)] === NONE) this.#level--;
    this.#release(node);
  }

  /** The node after `h` on level 0 (ascending), or before it, or NONE. */
  #step(h: number, rev: boolean): number {
    return rev ? this.#i32[2 * h + 2] : this.#i32[2 * h + 4];
  }

  /** The 0-based rank of `member` (ascending), or undefined. */
  rank(member: string): number | undefined {
    const score = this.members.get(member);
    if (score === undefined) return undefined;
    const f64 = this.#f64;
    const i32 = this.#i32;
    const names = this.#names;
    let r = 0;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      // Past every node at or before (score, member).
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && (f64[n] < score || (f64[n] === score && names[n] <= member)); n = i32[2 * x + 4 + 2 * i]) {
        r += i32[2 * x + 5 + 2 * i];
        x = n;
      }
      if (x !== HEAD && names[x] === member) return r - 1;
    }
    return undefined;
  }

  /** The node at 0-based rank `r`, or NONE. */
  #byRank(r: number): number {
    if (r < 0 || r >= this.size) return NONE;
    const i32 = this.#i32;
    let traversed = 0;
    let x = HEAD;
    const want = r + 1;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (i32[2 * x + 4 + 2 * i] !== NONE && traversed + i32[2 * x + 5 + 2 * i] <= want) {
        traversed += i32[2 * x + 5 + 2 * i];
        x = i32[2 * x + 4 + 2 * i];
      }
      if (traversed === want) return x;
    }
    return NONE;
  }

  /** Members and scores from rank `start` to `end` inclusive (ascending ranks; clamped by callers), in ascending or descending order. */
  range(start: number, end: number, rev: boolean): [string, number][] {
    const out: [string, number][] = [];
    if (start > end) return out;
    let n = rev ? this.#byRank(this.size - 1 - start) : this.#byRank(start);
    for (let k = start; k <= end && n !== NONE; k++) {
      out.push([this.#names[n], this.#f64[n]]);
      n = this.#step(n, rev);
    }
    return out;
  }

  /** The first node in score order at or after (score, member) bounds of `r`. */
  #firstInScore(r: ScoreRange): number {
    const f64 = this.#f64;
    const i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && !aboveMin(r, f64[n]); n = i32[2 * x + 4 + 2 * i]) x = n;
    }
    const n = i32[2 * x + 4];
    return n !== NONE && belowMax(r, f64[n]) ? n : NONE;
  }

  #lastInScore(r: ScoreRange): number {
    const f64 = this.#f64;
    const i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && belowMax(r, f64[n]); n = i32[2 * x + 4 + 2 * i]) x = n;
    }
    return x !== HEAD && aboveMin(r, f64[x]) ? x : NONE;
  }

  #firstInLex(r: LexRange): number {
    const i32 = this.#i32;
    const names = this.#names;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && !lexAboveMin(r, names[n]); n = i32[2 * x + 4 + 2 * i]) x = n;
    }
    const n = i32[2 * x + 4];
    return n !== NONE && lexBelowMax(r, names[n]) && lexAboveMin(r, names[n]) ? n : NONE;
  }

  #lastInLex(r: LexRange): number {
    const i32 = this.#i32;
    const names = this.#names;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = i32[2 * x + 4 + 2 * i]; n !== NONE && lexBelowMax(r, names[n]); n = i32[2 * x + 4 + 2 * i]) x = n;
    }
    return x !== HEAD && lexAboveMin(r, names[x]) && lexBelowMax(r, names[x]) ? x : NONE;
  }

  /**
   * Members in a score range, ascending (or descending with `rev`),
   * skipping `offset` and returning at most `limit` (negative: all).
   */
  rangeByScore(r: ScoreRange, rev: boolean, offset = 0, limit = -1): [string, number][] {
    const out: [string, number][] = [];
    if (r.min > r.max || (r.min === r.max && (r.minEx || r.maxEx))) return out;
    let n = rev ? this.#lastInScore(r) : this.#firstInScore(r);
    while (n !== NONE && offset > 0) {
      n = this.#step(n, rev);
      offset--;
    }
    while (n !== NONE && limit !== 0 && (rev ? aboveMin(r, this.#f64[n]) : belowMax(r, this.#f64[n]))) {
      out.push([this.#names[n], this.#f64[n]]);
      n = this.#step(n, rev);
      limit--;
    }
    return out;
  }

  /** Members in a lex range (meaningful when all scores are equal), as rangeByScore. */
  rangeByLex(r: LexRange, rev: boolean, offset = 0, limit = -1): [string, number][] {
    const out: [string, number][] = [];
    let n = rev ? this.#lastInLex(r) : this.#firstInLex(r);
    while (n !== NONE && offset > 0) {
      n = this.#step(n, rev);
      offset--;
    }
    while (n !== NONE && limit !== 0 && (rev ? lexAboveMin(r, this.#names[n]) : lexBelowMax(r, this.#names[n]))) {
      out.push([this.#names[n], this.#f64[n]]);
      n = this.#step(n, rev);
      limit--;
    }
    return out;
  }

  /** How many members have a score in `r`: two rank lookups. */
  countByScore(r: ScoreRange): number {
    const first = this.#firstInScore(r);
    if (first === NONE) return 0;
    const last = this.#lastInScore(r);
    return (this.rank(this.#names[last]) as number) - (this.rank(this.#names[first]) as number) + 1;
  }

  countByLex(r: LexRange): number {
    const first = this.#firstInLex(r);
    if (first === NONE) return 0;
    const last = this.#lastInLex(r);
    if (last === NONE) return 0;
    const n = (this.rank(this.#names[last]) as number) - (this.rank(this.#names[first]) as number) + 1;
    return n < 0 ? 0 : n;
  }

  /** Every member and score, ascending. */
  entries(): [string, number][] {
    return this.range(0, this.size - 1, false);
  }
}
