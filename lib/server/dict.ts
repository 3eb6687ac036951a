// One database of the keyspace in DRAM: its keys with their types, expiry
// times and collections, and O(1) random picks.
import type { Collection } from './collections';
import { KeyTable } from './key-table';
import { type Members, reorderSlots } from './members';

/** A string encoding that a value's bytes do not decide (Dict.strEncodings). */
export type StringEncoding = 'raw' | 'embstr';

/** Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT: the longest string it makes embstr. */
export const EMBSTR_MAX = 44;

/** One database's keys (latin1 strings of their bytes) with their types, and O(1) random picks. */
export class Dict {
  readonly slots = new KeyTable();
  readonly keys: string[] = [];
  readonly types: number[] = [];
  /** Expiry times (ms since the epoch) of the keys that have one. */
  readonly expires = new Map<string, number>();
  /** The collections among the keys. */
  readonly colls = new Map<string, Collection>();
  /**
   * OBJECT ENCODING of the string keys whose value Redis would not have
   * encoded from its bytes: 'raw' for one changed in place (APPEND,
   * SETRANGE, SETBIT), as Redis's copy before such a change is raw even
   * when short; 'embstr' for INCRBYFLOAT's result, which Redis never makes
   * an integer. In DRAM only: a restart reads every value afresh, as
   * Redis's RDB load does. Keyspace.set forgets a key's; RENAME, MOVE,
   * COPY and SWAPDB carry it with the value (moves.ts).
   */
  readonly strEncodings = new Map<string, StringEncoding>();
  /**
   * INFO keyspace's avg_ttl (ms): Redis's running estimate of the time to
   * live of the keys with an expiry, from those active expiry looks at
   * (each round's mean weighted 1/50 against the estimate; the first round's
   * taken whole), 0 when none has an expiry. In DRAM only.
   */
  avgTtl = 0;

  get size(): number {
    return this.keys.length;
  }

  type(k: string): number | undefined {
    const i = this.slots.get(k);
    return i === undefined ? undefined : this.types[i];
  }

  add(k: string, type: number): void {
    const i = this.slots.getOrSet(k, this.keys.length);
    if (i !== undefined) {
      this.types[i] = type;
      return;
    }
    this.keys.push(k);
    this.types.push(type);
  }

  remove(k: string): boolean {
    const i = this.slots.get(k);
    if (i === undefined) return false;
    const last = this.keys.length - 1;
    if (i !== last) {
      this.keys[i] = this.keys[last];
      this.types[i] = this.types[last];
      this.slots.set(this.keys[i], i);
    }
    this.keys.pop();
    this.types.pop();
    this.slots.delete(k);
    this.expires.delete(k);
    this.colls.delete(k);
    this.strEncodings.delete(k);
    return true;
  }

  /**
   * Puts `k`, removed and added again (a key replaced: RENAME or COPY over
   * it, a STORE command's destination), back at index `at`, where it was:
   * the remove moved the last key into `at`, and it goes back to the end.
   * The key order is then what it was before, as Redis keeps a replaced
   * key in its bucket, so a SCAN under way still reaches it.
   */
  putBack(k: string, at: number): void {
    const j = this.slots.get(k);
    if (j === undefined || j === at || at >= this.keys.length) return;
    const other = this.keys[at];
    this.keys[at] = k;
    this.keys[j] = other;
    const t = this.types[at];
    this.types[at] = this.types[j];
    this.types[j] = t;
    this.slots.set(k, at);
    this.slots.set(other, j);
  }

  /**
   * Reorders the keys after a rebuild (a failed turn's rollback, DEBUG
   * RELOAD), as Members.followOrder does: the keys `old` holds too keep
   * its relative order, the rest come after them, so a SCAN under way
   * still reaches every key it had still to visit. Each collection found in
   * both, of the same type, keeps its elements' order too.
   */
  followOrder(old: Dict, members: (c: Collection) => Members<unknown> | undefined): void {
    reorderSlots(old.keys, old.slots, this.keys, this.types, this.slots);
    for (const [k, c] of this.colls) {
      const was = old.colls.get(k);
      if (was === undefined || was.type !== c.type) continue;
      const m = members(c);
      const mo = members(was);
      if (m !== undefined && mo !== undefined) m.followOrder(mo);
    }
  }

  clear(): void {
    this.slots.clear();
    this.keys.length = 0;
    this.types.length = 0;
    this.expires.clear();
    this.colls.clear();
    this.strEncodings.clear();
    this.avgTtl = 0;
  }

  /** Counts a round of active expiry's keys not yet due: `sum` ms to live over `n` keys. */
  sampleTtl(sum: number, n: number): void {
    if (n === 0) return;
    const avg = Math.floor(sum / n);
    if (this.avgTtl === 0) this.avgTtl = avg;
    this.avgTtl = Math.floor(this.avgTtl / 50) * 49 + Math.floor(avg / 50);
  }
}
