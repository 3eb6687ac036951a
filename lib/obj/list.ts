// A doubly linked list of Buffers or strings in an ObjPool.
//
// Layout (little-endian; shared with C, see test/fixtures/obj/interop.h):
//   head, 24 bytes, 8-aligned, inside any allocated object (or the root):
//     u64 first    Ptr of the first node, 0 when empty
//     u64 last     Ptr of the last node, 0 when empty
//     u64 length   number of nodes
//   node, one libpmemobj object per value:
//     u64 next     0 at the tail
//     u64 prev     0 at the head
//     u32 size     bytes of data
//     u32 kind     0 = bytes, 1 = UTF-8 string
//     u8  data[size]
//
// Durability: every mutation is one libpmemobj transaction (nested into the
// caller's, if one is open). The new node is allocated (pmemobj_tx_alloc)
// and written inside the transaction; every pointer and the length it
// changes is snapshotted first (pmemobj_tx_add_range, via tx.write). The
// commit (pmemobj_tx_commit) flushes the node's bytes and the changed
// pointers, publishes the allocation, and only then discards the undo log:
// a crash at any point leaves the list as it was before the mutation or as
// it is after it, never a node linked but unwritten. A removed node is
// freed with pmemobj_tx_free in the same transaction that unlinks it, so a
// crash can neither leak it nor leave it linked but freed. Each pointer is
// an aligned 8-byte store, though the undo log does not rely on that.
import { types } from 'node:util';

import { checkIndex, snapshotBytes, utf8, viewLength, viewPlace } from '../core/args';
import { PmemError } from '../core/errors';
import type { ObjPool, Ptr } from './pool';
import type { ObjTx } from './tx';

export type ListValue = Buffer | Uint8Array | string;

const HEAD_SIZE = 24;
const NODE_HEADER = 24;
const KIND_BYTES = 0;
const KIND_STRING = 1;
const TWO32 = 2 ** 32;
const { isUint8Array } = types;

// Mutations made through any PersistentList on this thread. A walk that
// sees it change while it was suspended at a `yield` knows the list it is
// walking may have changed under it.
let mutations = 0;

function readU64(b: Buffer, at: number): number {
  const hi = b.readUInt32LE(at + 4);
  if (hi >= 0x200000) throw new PmemError('ERR_PMEM_CORRUPT', 'list pointer is beyond 2^53');
  return hi * TWO32 + b.readUInt32LE(at);
}

/** A pointer field of an object that may not be a node: -1 when it cannot be a pointer (2^53 or more). */
function ptrAt(b: Buffer, at: number): number {
  const hi = b.readUInt32LE(at + 4);
  return hi >= 0x200000 ? -1 : hi * TWO32 + b.readUInt32LE(at);
}

function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % TWO32, at);
  b.writeUInt32LE(Math.floor(v / TWO32), at + 4);
}

function u64(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeU64(b, 0, v);
  return b;
}

function u64x2(a: number, c: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeU64(b, 0, a);
  writeU64(b, 8, c);
  return b;
}

/**
 * A persistent doubly linked list whose 24-byte head lives at a Ptr inside
 * an allocated object of `pool` (a zeroed head is an empty list). Each
 * mutation is atomic across a crash and durable when it returns (or, inside
 * an open `pool.transaction`, when that commits).
 */
export class PersistentList {
  /** Bytes a head takes. */
  static readonly HEAD_SIZE = HEAD_SIZE;
  /** Bytes of each node before its data. */
  static readonly NODE_HEADER = NODE_HEADER;

  readonly pool: ObjPool;
  readonly head: Ptr;
  // The node #checkNode last found on this list, and `mutations` then.
  #known: Ptr = 0;
  #knownAt = -1;

  /**
   * A list whose head is at `head`: 24 bytes, 8-aligned, inside a live object.
   * @throws TypeError, RangeError
   */
  constructor(pool: ObjPool, head: Ptr) {
    checkIndex(head, 'head');
    if (head % 8 !== 0) throw new RangeError(`head must be 8-byte aligned, got ${head}`);
    pool.view(head, HEAD_SIZE); // throws unless the head lies inside an object
    this.pool = pool;
    this.head = head;
  }

  /**
   * The list whose head is at `offset` in the pool's root, growing the root
   * to hold it (a new root is zeroed: an empty list). Growing the root later
   * may move it, after which this list's head is stale (a RangeError on
   * use): size the root once, before making lists in it.
   */
  static inRoot(pool: ObjPool, offset = 0): PersistentList {
    checkIndex(offset, 'offset');
    // Checked before the root grows (which may move it): a refused list changes nothing.
    if (offset % 8 !== 0) throw new RangeError(`offset must be 8-byte aligned, got ${offset}`);
    const root = pool.root(offset + HEAD_SIZE);
    return new PersistentList(pool, root + offset);
  }

  get length(): number {
    return readU64(this.#head(), 16);
  }

  /** Ptr of the first node, or 0. */
  get first(): Ptr {
    return readU64(this.#head(), 0);
  }

  /** Ptr of the last node, or 0. */
  get last(): Ptr {
    return readU64(this.#head(), 8);
  }

  /**
   * The node after `node`, or 0.
   * @throws RangeError if `node` is not a node of this list (as `value`)
   */
  next(node: Ptr): Ptr {
    return this.#checkNode(node, false).next;
  }

  /**
   * The node before `node`, or 0.
   * @throws RangeError if `node` is not a node of this list (as `value`)
   */
  prev(node: Ptr): Ptr {
    return this.#checkNode(node, false).prev;
  }

  /**
   * A copy of the value stored in `node`.
   * @throws RangeError if `node` is not a node of this list (any other
   *   object of the pool, whatever its bytes hold, is refused: its bytes
   *   would be read as a node's size, kind and data)
   */
  value(node: Ptr): Buffer | string {
    this.#checkNode(node, false);
    return this.#value(this.pool.view(node, NODE_HEADER), node, false);
  }

  // The value of the node whose header is `h`; `stored` as in #remove.
  #value(h: Buffer, node: Ptr, stored: boolean): Buffer | string {
    const size = h.readUInt32LE(16);
    const kind = h.readUInt32LE(20);
    const data = stored
      ? this.#stored(node, `node ${node}`, NODE_HEADER + size)
      : this.pool.view(node, NODE_HEADER + size);
    const bytes = data.subarray(NODE_HEADER);
    return kind === KIND_STRING ? bytes.toString('utf8') : Buffer.from(bytes);
  }

  /**
   * Appends a value; returns its node. Durable and atomic.
   * @throws TypeError; PmemError ERR_PMEM_CORRUPT (a damaged head or last
   *   node, see #end; nothing is written), ERR_PMEM_NO_SPACE
   */
  push(value: ListValue): Ptr {
    const data = encode(value);
    mutations++;
    return this.pool.transaction((tx) => {
      const last = this.#end(8);
      const h = this.#head();
      const node = this.#newNode(tx, data, 0, last);
      // Link it: the old tail's next (or the head's first), then last and
      // length. Each tx.write snapshots the 8 or 16 bytes before the store.
      if (last === 0) tx.write(this.head, u64(node));
      else tx.write(last, u64(node));
      tx.write(this.head + 8, u64x2(node, readU64(h, 16) + 1));
      return node;
    });
  }

  /**
   * Prepends a value; returns its node. Durable and atomic.
   * @throws TypeError; PmemError ERR_PMEM_CORRUPT (a damaged head or first
   *   node, see #end; nothing is written), ERR_PMEM_NO_SPACE
   */
  unshift(value: ListValue): Ptr {
    const data = encode(value);
    mutations++;
    return this.pool.transaction((tx) => {
      const first = this.#end(0);
      const h = this.#head();
      const node = this.#newNode(tx, data, first, 0);
      // Snapshotted 8-byte link stores (pmemobj_tx_add_range + store); the
      // commit flushes them with the node, then drops the undo log.
      if (first === 0) tx.write(this.head + 8, u64(node));
      else tx.write(first + 8, u64(node));
      tx.write(this.head, u64(node));
      tx.write(this.head + 16, u64(readU64(h, 16) + 1));
      return node;
    });
  }

  /**
   * Inserts a value after `node` (a node of this list); returns the new node.
   * @throws RangeError if `node` is not in this list
   */
  insertAfter(node: Ptr, value: ListValue): Ptr {
    const data = encode(value);
    mutations++;
    return this.pool.transaction((tx) => {
      const next = this.#checkNode(node, false).next;
      const h = this.#head();
      const n = this.#newNode(tx, data, next, node);
      // node.next, then next.prev (or the head's last), then the length:
      // each snapshotted first, all made durable together by the commit.
      tx.write(node, u64(n));
      if (next === 0) tx.write(this.head + 8, u64(n));
      else tx.write(next + 8, u64(n));
      tx.write(this.head + 16, u64(readU64(h, 16) + 1));
      return n;
    });
  }

  /**
   * Unlinks `node` and frees it, in one transaction. Durable and atomic.
   * @throws RangeError if `node` is not in this list
   */
  remove(node: Ptr): void {
    this.#remove(node, false);
  }

  // `stored`: `node` was read from the list, not given by the caller, so a
  // node that is not linked as it should be is damage, not a bad argument.
  #remove(node: Ptr, stored: boolean): void {
    mutations++;
    this.pool.transaction((tx) => {
      const { next, prev } = this.#checkNode(node, stored);
      const h = this.#head();
      // Unlink with snapshotted 8-byte stores: prev.next (or first), then
      // next.prev (or last), then the length. Until the commit's final step
      // a crash rolls all of them back, so the node stays linked and allocated.
      if (prev === 0) tx.write(this.head, u64(next));
      else tx.write(prev, u64(next));
      if (next === 0) tx.write(this.head + 8, u64(prev));
      else tx.write(next + 8, u64(prev));
      const length = readU64(h, 16);
      if (length === 0) throw this.#corrupt(`node ${node} is linked, but its length is 0`);
      tx.write(this.head + 16, u64(length - 1));
      // Freed by the same commit that unlinks it: no leak, no dangling link.
      tx.free(node);
      this.#known = 0; // no longer on the chain, and its place may be reused
    });
  }

  /** Removes the first value and returns it, or undefined when empty. @throws PmemError ERR_PMEM_CORRUPT */
  shift(): Buffer | string | undefined {
    return this.#take(this.first);
  }

  /** Removes the last value and returns it, or undefined when empty. @throws PmemError ERR_PMEM_CORRUPT */
  pop(): Buffer | string | undefined {
    return this.#take(this.last);
  }

  /**
   * Node Ptrs from first to last. The node just yielded may be removed, and
   * values pushed meanwhile are visited.
   * @throws PmemError ERR_PMEM_CORRUPT (a damaged list), ERR_PMEM_INVALID
   *   (the next node was removed during the walk)
   */
  *nodes(): IterableIterator<Ptr> {
    yield* this.#walk(0);
  }

  /** Node Ptrs from last to first. */
  *nodesReversed(): IterableIterator<Ptr> {
    yield* this.#walk(8);
  }

  /** Values from first to last. */
  *[Symbol.iterator](): IterableIterator<Buffer | string> {
    for (const n of this.#walk(0)) yield this.#value(this.#stored(n, `node ${n}`), n, true);
  }

  /** Values from last to first. */
  *reversed(): IterableIterator<Buffer | string> {
    for (const n of this.#walk(8)) yield this.#value(this.#stored(n, `node ${n}`), n, true);
  }

  toArray(): (Buffer | string)[] {
    return [...this];
  }

  #take(node: Ptr): Buffer | string | undefined {
    if (node === 0) return undefined;
    return this.pool.transaction(() => {
      const v = this.#value(this.#stored(node, `node ${node}`), node, true);
      this.#remove(node, true);
      return v;
    });
  }

  // Follows next (at 0) or prev (at 8) pointers from the head. Every step
  // is checked, so that a damaged list is ERR_PMEM_CORRUPT and never an
  // endless walk: each node must be an allocated object whose back link
  // names the node before it, and the walk must end after as many nodes
  // as the stored length says. The length itself is bounded by the nodes
  // the pool can hold, so that a cycle under a damaged length of 2^53 ends
  // too.
  //
  // The link to the next node is read before a node is yielded, so the
  // caller may remove that node. When the caller changes any list while
  // the walk is suspended, the count starts again from the new length (the
  // nodes ahead are at most that many), and the next node must still be a
  // node of this list: if the caller removed it, the walk cannot go on and
  // says so (ERR_PMEM_INVALID).
  *#walk(link: 0 | 8): IterableIterator<Ptr> {
    const back = link === 0 ? 8 : 0;
    const maxNodes = Math.floor(this.pool.size / NODE_HEADER);
    const bounded = (): number => {
      const length = this.length;
      if (length > maxNodes) throw this.#corrupt(`its length ${length} is more than the pool can hold`);
      return length;
    };
    let length = bounded();
    const start = mutations;
    let seen = start;
    let changed = false;
    let n = readU64(this.#head(), link === 0 ? 0 : 8);
    let before = 0;
    let steps = 0;
    while (n !== 0) {
      if (++steps > length) throw this.#corrupt(`it has more nodes than its length ${length}`);
      const h = this.#stored(n, before === 0 ? 'its head' : `node ${before}`);
      if (!changed && readU64(h, back) !== before) {
        throw this.#corrupt(`node ${n} does not link back to ${before === 0 ? 'the head' : `node ${before}`}`);
      }
      const next = readU64(h, link);
      yield n;
      if (mutations !== seen) {
        seen = mutations;
        changed = true;
        length = bounded();
        steps = 0;
        if (next !== 0) {
          try {
            this.#checkNode(next, false);
          } catch (e) {
            if (!(e instanceof RangeError)) throw e;
            throw new PmemError(
              'ERR_PMEM_INVALID',
              `the list at ${this.head} changed during a walk: node ${next}, the next to visit, was removed`,
              { path: this.pool.path },
            );
          }
        }
      } else {
        changed = false;
      }
      before = n;
      n = next;
    }
    if (mutations === start && steps !== length) {
      throw this.#corrupt(`it has ${steps} nodes, its length says ${length}`);
    }
  }

  #head(): Buffer {
    return this.pool.view(this.head, HEAD_SIZE);
  }

  /**
   * The first node (at 0) or the last (at 8), or 0 when the list is empty:
   * the end that unshift or push links a new node to. Checked before
   * anything is written, so that a new node is never linked into a damaged
   * end (ERR_PMEM_CORRUPT):
   * - the head's first, last and length are all 0 or all nonzero, else the
   *   new node would be linked as the only one and the old nodes lost;
   * - the end lies inside an allocated object and links on to no further
   *   node (a last node whose next is not 0, a cycle, would be cut);
   * - its neighbour (the node before the last, after the first, or for a
   *   single node the head's other end) links back to it, so that the end
   *   the head names is the end the walk reaches.
   * These are O(1) checks of the end only, three views, so that push and
   * unshift stay O(1): damage deeper in the list (a cycle between two
   * middle nodes) is found by a walk, which is O(n).
   */
  #end(at: 0 | 8): Ptr {
    const h = this.#head();
    const first = readU64(h, 0);
    const last = readU64(h, 8);
    const length = readU64(h, 16);
    if ((first === 0) !== (last === 0) || (first === 0) !== (length === 0)) {
      throw this.#corrupt(`its head says first ${first}, last ${last}, length ${length}`);
    }
    const end = at === 0 ? first : last;
    if (end === 0) return 0;
    const name = at === 0 ? 'first' : 'last';
    const e = this.#stored(end, `its ${name} node`);
    // Outward is the link away from the rest of the list (the first's prev,
    // the last's next), inward the other; the neighbour's link back to the
    // end is at the outward offset too.
    const outward = 8 - at;
    const beyond = readU64(e, outward);
    if (beyond !== 0) throw this.#corrupt(`its ${name} node ${end} links on to ${beyond}`);
    const inward = readU64(e, at);
    const back = readU64(inward === 0 ? h : this.#stored(inward, `node ${end}`), outward);
    if (back !== end) {
      throw this.#corrupt(`${inward === 0 ? 'the head' : `node ${inward}`} does not link back to its ${name} node ${end}`);
    }
    return end;
  }

  /**
   * A view of `length` bytes at `ptr`, a pointer read from the list (`from`
   * names where): ERR_PMEM_CORRUPT when they do not lie inside one
   * allocated object, as they would in a healthy list.
   */
  #stored(ptr: Ptr, from: string, length = NODE_HEADER): Buffer {
    try {
      return this.pool.view(ptr, length);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw this.#corrupt(`${from} links to ${ptr}, which is not a node of ${length} bytes inside an allocated object`);
    }
  }

  #corrupt(what: string): PmemError {
    return new PmemError('ERR_PMEM_CORRUPT', `the list at ${this.head} in '${this.pool.path}' is damaged: ${what}`, {
      path: this.pool.path,
    });
  }

  // The new node's bytes are written whole inside the transaction; the
  // commit flushes them before it publishes the pointers that reach them.
  #newNode(tx: ObjTx, data: { bytes: Buffer; kind: number }, next: Ptr, prev: Ptr): Ptr {
    const node = tx.alloc(NODE_HEADER + data.bytes.length);
    const b = Buffer.allocUnsafe(NODE_HEADER + data.bytes.length);
    writeU64(b, 0, next);
    writeU64(b, 8, prev);
    b.writeUInt32LE(data.bytes.length, 16);
    b.writeUInt32LE(data.kind, 20);
    data.bytes.copy(b, NODE_HEADER);
    tx.write(node, b);
    return node;
  }

  // A node of this list: a live object whose neighbours point back at it,
  // on the chain that runs from this list's first node to its last.
  // `stored` as in #remove: a node read from the list that is not one is
  // ERR_PMEM_CORRUPT rather than a RangeError.
  #checkNode(node: Ptr, stored: boolean): { next: Ptr; prev: Ptr } {
    checkIndex(node, 'node');
    const notMine = (): Error =>
      stored
        ? this.#corrupt(`node ${node} is not linked both ways`)
        : new RangeError(`${node} is not a node of the list at ${this.head}`);
    if (node === 0 || this.pool.usableSize(node) < NODE_HEADER) throw notMine();
    // `node` may be any live object: its fields are read as what they would
    // be, and anything that is not a pointer back to it is "not mine".
    const nh = this.pool.view(node, NODE_HEADER);
    const next = ptrAt(nh, 0);
    const prev = ptrAt(nh, 8);
    if (next < 0 || prev < 0) throw notMine();
    const h = this.#head();
    const before = prev === 0 ? readU64(h, 0) : this.#link(prev, 0);
    const after = next === 0 ? readU64(h, 8) : this.#link(next, 8);
    if (before !== node || after !== node) throw notMine();
    if (!this.#onChain(node, next, prev, h)) throw notMine();
    this.#known = node;
    this.#knownAt = mutations;
    return { next, prev };
  }

  // The next (at 0) or prev (at 8) field of `p`, or -1 when `p` is not an
  // object that can hold a node's header or the field cannot be a pointer.
  #link(p: Ptr, at: 0 | 8): number {
    return this.pool.usableSize(p) >= NODE_HEADER ? ptrAt(this.pool.view(p, NODE_HEADER), at) : -1;
  }

  /**
   * Whether `node` (whose neighbours `next` and `prev` link back to it) lies
   * between this list's first and last node, rather than in the middle of
   * another list of the pool: the linked nodes are all the same shape, and
   * nothing in a node names its list.
   *
   * The chain through `node` is followed both ways at once, one node each
   * way per step, until one way ends (a next or prev of 0). The node it ends
   * at must be this list's last (going forward) or first (going back): a
   * healthy chain has one end each way, and no two lists share one. That
   * takes min(i, n - 1 - i) steps for the node at index i of n, two node
   * views each: O(1) at either end, at most n / 2 steps in the middle. A
   * chain that has not ended within this list's length is not this list's
   * (nor a cycle, which would never end).
   *
   * The node last found on the chain is remembered until the next mutation
   * of any list (`mutations`): `node` itself, or a neighbour that links back
   * to it, is on the chain without a walk, so that a walk with next() or
   * prev() and value() costs O(1) a step.
   */
  #onChain(node: Ptr, next: Ptr, prev: Ptr, h: Buffer): boolean {
    if (this.#knownAt === mutations && (node === this.#known || next === this.#known || prev === this.#known)) {
      return true;
    }
    const first = readU64(h, 0);
    const last = readU64(h, 8);
    const length = readU64(h, 16);
    let ahead = node;
    let behind = node;
    let a = next;
    let b = prev;
    for (let steps = 0; steps < length; steps++) {
      if (a === 0) return ahead === last;
      if (b === 0) return behind === first;
      ahead = a;
      behind = b;
      a = this.#link(a, 0);
      b = this.#link(b, 8);
      if (a < 0 || b < 0) return false;
    }
    return false;
  }
}

function encode(value: ListValue): { bytes: Buffer; kind: number } {
  if (typeof value === 'string') return { bytes: utf8(value, 'a list value'), kind: KIND_STRING };
  if (!isUint8Array(value)) throw new TypeError('a list value must be a Buffer, Uint8Array or string');
  // Read once, through the internal slots: a `length` getter of the value
  // would otherwise size the node, its size field and the copy differently.
  const bytes = snapshotBytes(value, 'a list value');
  const { buffer, byteOffset } = viewPlace(bytes);
  return { bytes: Buffer.from(buffer, byteOffset, viewLength(bytes, 'a list value')), kind: KIND_BYTES };
}
