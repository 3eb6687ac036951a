// The DRAM structure of hashes and sets: ids (latin1 strings) with values,
// in an array for O(1) random picks (HRANDFIELD, SRANDMEMBER, SPOP) and a
// reverse-walking scan cursor, and a map from id to slot.
import type { SlotMap } from './key-table';

/** The most entries a JavaScript Map holds (V8's limit): members of one collection, keys of one database with an expiry. */
export const MAP_MAX = 2 ** 24;

/**
 * Throws unless map `m`, which lacks the key about to be added, has room for
 * one more. A RangeError: a command refused after it wrote part of its
 * changes drops the turn's batch (Dispatcher), so none of them is kept.
 */
export function roomForOne(m: ReadonlyMap<string, unknown>, what: string): void {
  if (m.size >= MAP_MAX) throw new RangeError(`${what} holds ${MAP_MAX} entries, the most it can`);
}

export class Members<V> {
  readonly slots = new Map<string, number>();
  readonly ids: string[] = [];
  readonly vals: V[] = [];
  /** Set once an element grew past the small encoding's limits (as Redis, never reset while the key lives). */
  big = false;

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.slots.has(id);
  }

  get(id: string): V | undefined {
    const i = this.slots.get(id);
    return i === undefined ? undefined : this.vals[i];
  }

  /** @returns whether `id` is new */
  set(id: string, v: V): boolean {
    const i = this.slots.get(id);
    if (i !== undefined) {
      this.vals[i] = v;
      return false;
    }
    roomForOne(this.slots, 'the collection');
    this.slots.set(id, this.ids.length);
    this.ids.push(id);
    this.vals.push(v);
    return true;
  }

  /** Adds an `id` known to be absent (the open: element records are unique), with one map operation. */
  append(id: string, v: V): void {
    roomForOne(this.slots, 'the collection');
    this.slots.set(id, this.ids.length);
    this.ids.push(id);
    this.vals.push(v);
  }

  /** Removes `id`; the last element takes its slot. @returns whether it was there */
  delete(id: string): boolean {
    const i = this.slots.get(id);
    if (i === undefined) return false;
    this.deleteAt(i, id);
    return true;
  }

  /** Removes `id`, known to be at slot `i` (slots.get's): the last id takes its slot. */
  deleteAt(i: number, id: string): void {
    const last = this.ids.length - 1;
    if (i !== last) {
      this.ids[i] = this.ids[last];
      this.vals[i] = this.vals[last];
      this.slots.set(this.ids[i], i);
    }
    this.ids.pop();
    this.vals.pop();
    this.slots.delete(id);
  }

  /**
   * Reorders the slots after a rebuild (a failed turn's rollback, DEBUG
   * RELOAD): the ids `old` holds too keep its relative order, at the same
   * or a lower slot, and the rest come after them. An HSCAN, SSCAN or ZSCAN
   * under way walks the slots from the end down, so every id it had still
   * to visit is still ahead of its cursor.
   */
  followOrder(old: Members<unknown>): void {
    reorderSlots(old.ids, old.slots, this.ids, this.vals, this.slots);
  }

  /** A random slot (the structure is not empty). */
  randomSlot(): number {
    return Math.floor(Math.random() * this.ids.length);
  }
}

/**
 * Reorders `ids` (with `vals`, and `slots` their index) to follow `oldIds`
 * for the ids both hold, the rest after them in their present order: what
 * Members.followOrder and Dict.followOrder do after a rebuild.
 */
export function reorderSlots<V>(oldIds: readonly string[], oldSlots: Pick<SlotMap, 'has'>, ids: string[], vals: V[], slots: SlotMap): void {
  const nIds: string[] = [];
  const nVals: V[] = [];
  const take = (i: number): void => {
    nIds.push(ids[i]);
    nVals.push(vals[i]);
  };
  for (const id of oldIds) {
    const i = slots.get(id);
    if (i !== undefined) take(i);
  }
  if (nIds.length < ids.length) {
    for (let i = 0; i < ids.length; i++) if (!oldSlots.has(ids[i])) take(i);
  }
  for (let i = 0; i < nIds.length; i++) {
    ids[i] = nIds[i];
    vals[i] = nVals[i];
    slots.set(nIds[i], i);
  }
}
