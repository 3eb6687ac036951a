// One database of the keyspace in DRAM: its keys with their types, expiry
// times and collections, and O(1) random picks.
import type { Collection } from './collections';

/** A string encoding that a value's bytes do not decide (Dict.strEncodings). */
export type StringEncoding = 'raw' | 'embstr';

/** Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT: the longest string it makes embstr. */
export const EMBSTR_MAX = 44;

/** One database's keys (latin1 strings of their bytes) with their types, and O(1) random picks. */
export class Dict {
  readonly slots = new Map<string, number>();
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

  get size(): number {
    return this.keys.length;
  }

  type(k: string): number | undefined {
    const i = this.slots.get(k);
    return i === undefined ? undefined : this.types[i];
  }

  add(k: string, type: number): void {
    const i = this.slots.get(k);
    if (i !== undefined) {
      this.types[i] = type;
      return;
    }
    this.slots.set(k, this.keys.length);
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

  clear(): void {
    this.slots.clear();
    this.keys.length = 0;
    this.types.length = 0;
    this.expires.clear();
    this.colls.clear();
    this.strEncodings.clear();
  }
}
