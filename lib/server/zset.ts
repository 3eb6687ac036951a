// A sorted set's DRAM image: a skiplist ordered by (score, member) whose
// links carry spans, so rank lookups are O(log n) (Redis's zskiplist), and
// the members with their scores in a slot array (members.ts: O(1) lookups,
// random picks, and the SCAN cursor of hashes and sets). Members are latin1
// strings of their bytes,
// so `<` on them is Redis's byte order (memcmp). The element records are
// written by the commands; this structure only orders.

import { Members } from './members';

const MAX_LEVEL = 32;
const P = 0.25;

class Node {
  readonly next: (Node | null)[];
  readonly span: number[];
  prev: Node | null = null;
  constructor(readonly member: string, public score: number, level: number) {
    this.next = new Array<Node | null>(level).fill(null);
    this.span = new Array<number>(level).fill(0);
  }
}

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

/** Whether (s1, m1) sorts before (s2, m2). */
function before(s1: number, m1: string, s2: number, m2: string): boolean {
  return s1 < s2 || (s1 === s2 && m1 < m2);
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
  #head = new Node('', 0, MAX_LEVEL);
  #tail: Node | null = null;
  #level = 1;

  get size(): number {
    return this.members.size;
  }

  #randomLevel(): number {
    let l = 1;
    while (l < MAX_LEVEL && Math.random() < P) l++;
    return l;
  }

  /** Adds or moves `member` to `score`. @returns whether it was new */
  set(member: string, score: number): boolean {
    const old = this.members.get(member);
    if (old !== undefined) {
      if (old === score) return false;
      this.#unlink(member, old);
    }
    this.members.set(member, score);
    this.#insert(member, score);
    return old === undefined;
  }

  /** Removes `member`. @returns whether it was there */
  delete(member: string): boolean {
    const s = this.members.get(member);
    if (s === undefined) return false;
    this.members.delete(member);
    this.#unlink(member, s);
    return true;
  }

  #insert(member: string, score: number): void {
    const update = new Array<Node>(MAX_LEVEL);
    const rank = new Array<number>(MAX_LEVEL).fill(0);
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      rank[i] = i === this.#level - 1 ? 0 : rank[i + 1];
      for (let n = x.next[i]; n !== null && before(n.score, n.member, score, member); n = x.next[i]) {
        rank[i] += x.span[i];
        x = n;
      }
      update[i] = x;
    }
    const level = this.#randomLevel();
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.#head;
        update[i].span[i] = this.size - 1; // the new size less the node being inserted
      }
      this.#level = level;
    }
    const node = new Node(member, score, level);
    for (let i = 0; i < level; i++) {
      node.next[i] = update[i].next[i];
      update[i].next[i] = node;
      node.span[i] = update[i].span[i] - (rank[0] - rank[i]);
      update[i].span[i] = rank[0] - rank[i] + 1;
    }
    for (let i = level; i < this.#level; i++) update[i].span[i]++;
    node.prev = update[0] === this.#head ? null : update[0];
    if (node.next[0] !== null) node.next[0].prev = node;
    else this.#tail = node;
  }

  #unlink(member: string, score: number): void {
    const update = new Array<Node>(MAX_LEVEL);
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && before(n.score, n.member, score, member); n = x.next[i]) x = n;
      update[i] = x;
    }
    const node = x.next[0] as Node;
    for (let i = 0; i < this.#level; i++) {
      if (update[i].next[i] === node) {
        update[i].span[i] += node.span[i] - 1;
        update[i].next[i] = node.next[i];
      } else update[i].span[i]--;
    }
    if (node.next[0] !== null) node.next[0].prev = node.prev;
    else this.#tail = node.prev;
    while (this.#level > 1 && this.#head.next[this.#level - 1] === null) this.#level--;
  }

  /** The 0-based rank of `member` (ascending), or undefined. */
  rank(member: string): number | undefined {
    const score = this.members.get(member);
    if (score === undefined) return undefined;
    let r = 0;
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && !before(score, member, n.score, n.member); n = x.next[i]) {
        r += x.span[i];
        x = n;
      }
      if (x.member === member && x !== this.#head) return r - 1;
    }
    return undefined;
  }

  /** The node at 0-based rank `r`, or null. */
  #byRank(r: number): Node | null {
    if (r < 0 || r >= this.size) return null;
    let traversed = 0;
    let x = this.#head;
    const want = r + 1;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && traversed + x.span[i] <= want) {
        traversed += x.span[i];
        x = x.next[i] as Node;
      }
      if (traversed === want) return x;
    }
    return null;
  }

  /** Members and scores from rank `start` to `end` inclusive (ascending ranks; clamped by callers), in ascending or descending order. */
  range(start: number, end: number, rev: boolean): [string, number][] {
    const out: [string, number][] = [];
    if (start > end) return out;
    let n = rev ? this.#byRank(this.size - 1 - start) : this.#byRank(start);
    for (let k = start; k <= end && n !== null; k++) {
      out.push([n.member, n.score]);
      n = rev ? n.prev : n.next[0];
    }
    return out;
  }

  /** The first node in score order at or after (score, member) bounds of `r`. */
  #firstInScore(r: ScoreRange): Node | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && !aboveMin(r, n.score); n = x.next[i]) x = n;
    }
    const n = x.next[0];
    return n !== null && belowMax(r, n.score) ? n : null;
  }

  #lastInScore(r: ScoreRange): Node | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && belowMax(r, n.score); n = x.next[i]) x = n;
    }
    return x !== this.#head && aboveMin(r, x.score) ? x : null;
  }

  #firstInLex(r: LexRange): Node | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && !lexAboveMin(r, n.member); n = x.next[i]) x = n;
    }
    const n = x.next[0];
    return n !== null && lexBelowMax(r, n.member) && lexAboveMin(r, n.member) ? n : null;
  }

  #lastInLex(r: LexRange): Node | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n !== null && lexBelowMax(r, n.member); n = x.next[i]) x = n;
    }
    return x !== this.#head && lexAboveMin(r, x.member) && lexBelowMax(r, x.member) ? x : null;
  }

  /**
   * Members in a score range, ascending (or descending with `rev`),
   * skipping `offset` and returning at most `limit` (negative: all).
   */
  rangeByScore(r: ScoreRange, rev: boolean, offset = 0, limit = -1): [string, number][] {
    const out: [string, number][] = [];
    if (r.min > r.max || (r.min === r.max && (r.minEx || r.maxEx))) return out;
    let n = rev ? this.#lastInScore(r) : this.#firstInScore(r);
    while (n !== null && offset > 0) {
      n = rev ? n.prev : n.next[0];
      offset--;
    }
    while (n !== null && limit !== 0 && (rev ? aboveMin(r, n.score) : belowMax(r, n.score))) {
      out.push([n.member, n.score]);
      n = rev ? n.prev : n.next[0];
      limit--;
    }
    return out;
  }

  /** Members in a lex range (meaningful when all scores are equal), as rangeByScore. */
  rangeByLex(r: LexRange, rev: boolean, offset = 0, limit = -1): [string, number][] {
    const out: [string, number][] = [];
    let n = rev ? this.#lastInLex(r) : this.#firstInLex(r);
    while (n !== null && offset > 0) {
      n = rev ? n.prev : n.next[0];
      offset--;
    }
    while (n !== null && limit !== 0 && (rev ? lexAboveMin(r, n.member) : lexBelowMax(r, n.member))) {
      out.push([n.member, n.score]);
      n = rev ? n.prev : n.next[0];
      limit--;
    }
    return out;
  }

  /** How many members have a score in `r`: two rank lookups. */
  countByScore(r: ScoreRange): number {
    const first = this.#firstInScore(r);
    if (first === null) return 0;
    const last = this.#lastInScore(r) as Node;
    return (this.rank(last.member) as number) - (this.rank(first.member) as number) + 1;
  }

  countByLex(r: LexRange): number {
    const first = this.#firstInLex(r);
    if (first === null) return 0;
    const last = this.#lastInLex(r);
    if (last === null) return 0;
    const n = (this.rank(last.member) as number) - (this.rank(first.member) as number) + 1;
    return n < 0 ? 0 : n;
  }

  /** Every member and score, ascending. */
  entries(): [string, number][] {
    return this.range(0, this.size - 1, false);
  }
}
