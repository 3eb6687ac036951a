// One database of the keyspace in DRAM: its keys with their types, expiry
// times and collections, and O(1) random picks.
import type { Collection } from './collections';

/** One database's keys (latin1 strings of their bytes) with their types, and O(1) random picks. */
export class Dict {
  readonly slots = new Map<string, number>();
  readonly keys: string[] = [];
  readonly types: number[] = [];
  /** Expiry times (ms since the epoch) of the keys that have one. */
  readonly expires = new Map<string, number>();
  /** The collections among the keys. */
  readonly colls = new Map<string, Collection>();

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
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.keys.length = 0;
    this.types.length = 0;
    this.expires.clear();
    this.colls.clear();
  }
}
