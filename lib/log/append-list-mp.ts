import { apartFrom, checkIndex, snapshotBytes, utf8 } from '../core/args';
import { checkOpen, PmemError } from '../core/errors';
import { checkRegion, compareExchange64, load64, type Region } from '../core/region';

const LIST_MAGIC = 0x4d505041; // "APPM"
/** The list's header, a line of its own: magic u32 at 0, head link u64 at 8, free u64 at 16. */
const LIST_HEADER = 64;
const HEAD = 8;
const FREE = 16;
/** A node's header: next link u64 at 0, value length u32 at 8, zero u32. */
const NODE_HEADER = 16;
/** A cache line: the list's offset and every node start on one. */
const LINE = 64;
/**
 * The low bit of a link: set by the producer that stored the link, cleared
 * once the link is durable. Nodes start on a line, so a link's low bits are
 * otherwise zero.
 */
const DIRTY = 1n;

/** Where an append stands when `appendSteps` yields: another producer may run there. @internal */
export type AppendStep = 'reserved' | 'written' | 'passed' | 'linked';

/**
 * An append-only singly linked list on a Region that several producers
 * append to at once: threads, worker_threads, or processes that map the
 * same file (a `Mapping` of a MAP_SHARED file; each opens its own). Links
 * are published with compare-and-swap, and no value that a crash could take
 * away is ever acted on:
 *
 * - persist-then-publish: a node is durable before the CAS that links it;
 * - link-and-persist: the CAS stores the link with its low bit set (dirty);
 *   its producer persists the link and then clears the bit. Anyone who
 *   follows a dirty link (another producer linking after it, a reader, the
 *   recovery) persists it first. So nothing is linked after, read from or
 *   acknowledged behind a link that is not durable.
 *
 * Space is reserved with a CAS on a shared bump pointer (`free`), which is
 * never persisted: `recover()` raises it past every reachable node. A
 * producer that dies between its reservation and its link leaves the space
 * unreachable. Nodes are linked in the order their CASes succeed, which is
 * not the order of their offsets.
 *
 * Layout (little-endian) from `offset`: a 64-byte header (magic u32, head
 * link u64 at +8, free u64 at +16), then nodes, each on a 64-byte line: the
 * next link (u64, 0 at the tail, low bit the dirty bit), the value length
 * (u32), a zero u32, then the value. Links and free are offsets into the
 * region.
 *
 * On a read-only mapping (a Region whose `readOnly` is true) the list is
 * read and never written: `open`, `recover()`, the walks and `length` work,
 * and `format` and `append` throw ERR_PMEM_READONLY before any store.
 */
export class SharedAppendList {
  readonly region: Region;
  readonly offset: number;
  /** A link word known to be reachable: the head, or the next link of a node in the list. Appends start looking here. */
  #tail: number;
  /** The region is a read-only mapping: nothing is stored, persisted or CASed through it. */
  readonly #readOnly: boolean;

  /**
   * Writes an empty list and persists it. Durable when it returns. Not while others use the region.
   * @throws PmemError ERR_PMEM_READONLY on a read-only mapping, before anything is written
   */
  static format(region: Region, offset = 0): SharedAppendList {
    const list = new SharedAppendList(region, offset);
    list.#checkWritable();
    const b = region.bytes;
    b.fill(0, list.offset, list.offset + LIST_HEADER);
    b.writeUInt32LE(LIST_MAGIC, list.offset);
    b.writeBigUInt64LE(BigInt(list.offset + LIST_HEADER), list.offset + FREE);
    // The empty list (magic, null head) is durable before format returns:
    // an open after a crash then finds a list, never stale bytes.
    region.persist(list.offset, LIST_HEADER);
    list.recover();
    return list;
  }

  /** Opens a list (others may be appending to it) and runs `recover()`; on a read-only mapping, writing nothing. */
  static open(region: Region, offset = 0): SharedAppendList {
    const list = new SharedAppendList(region, offset);
    list.recover();
    return list;
  }

  private constructor(region: Region, offset: number) {
    checkRegion(region);
    checkIndex(offset, 'offset');
    if (offset % LINE !== 0) throw new RangeError(`offset must be a multiple of ${LINE}`);
    if (offset + LIST_HEADER > region.length) throw new RangeError('the region is too small for a list');
    this.region = region;
    this.offset = offset;
    this.#tail = offset + HEAD;
    this.#readOnly = (region as { readonly readOnly?: unknown }).readOnly === true;
  }

  /** How many values the list holds now: a walk from the head. */
  get length(): number {
    let n = 0;
    this.#walk(() => n++);
    return n;
  }

  /**
   * Appends a value; other producers may append at the same time. Durable
   * when it returns: after a crash the list holds every value whose append
   * returned, in the order their links were made, and perhaps values whose
   * append had not returned.
   * @throws PmemError ERR_PMEM_NO_SPACE when the region is full, ERR_PMEM_CORRUPT
   *   for a link outside the region, ERR_PMEM_READONLY on a read-only mapping
   *   (nothing is reserved or written)
   */
  append(value: Uint8Array | string): void {
    const steps = this.appendSteps(value);
    while (!steps.next().done);
  }

  /**
   * `append` in steps: it yields where another producer may run, so that a
   * test can interleave several producers on one thread. `append` runs it
   * to the end. @internal
   */
  *appendSteps(value: Uint8Array | string): Generator<AppendStep, void> {
    checkOpen(this.region, 'list');
    this.#checkWritable();
    // Read once: the length checked is the length written.
    // A value inside the list's own region is copied first: the node's header may be written over it.
    const data = typeof value === 'string' ? utf8(value, 'value') : apartFrom(snapshotBytes(value, 'value'), this.region.bytes);
    const region = this.region;
    const size = NODE_HEADER + data.length;
    const span = Math.ceil(size / LINE) * LINE;
    let node: number;
    for (;;) {
      // Reserve [node, node + span) by moving the shared bump pointer. It is
      // not persisted: after a crash recover() puts it past every reachable
      // node, and space reserved but never linked is simply reused.
      const free = load64(region, this.offset + FREE);
      node = Number(free);
      if (node < this.offset + LIST_HEADER || node > this.#lineEnd() || node % LINE !== 0) {
        // Damaged since recover(), which puts it on a line no further than
        // the line the region ends in.
        throw new PmemError('ERR_PMEM_CORRUPT', `the list's free pointer ${node} is outside the region or off a line`);
      }
      if (span > region.length - node) throw new PmemError('ERR_PMEM_NO_SPACE', `no room for a ${data.length}-byte value`);
      if (compareExchange64(region, this.offset + FREE, free, free + BigInt(span)) === free) break;
    }
    yield 'reserved';
    // The node is this producer's alone until it is linked: plain stores.
    // Its next link is 0, made durable with it: the space may hold a stale
    // link from an append that crashed unlinked.
    const b = region.bytes;
    b.writeBigUInt64LE(0n, node);
    b.writeUInt32LE(data.length, node + 8);
    b.writeUInt32LE(0, node + 12);
    b.set(data, node + NODE_HEADER);
    // Persist-then-publish: the node is durable before any link points at
    // it. Otherwise a crash could keep the link and not the node, and
    // recovery would follow it into stale bytes.
    region.persist(node, size);
    yield 'written';

    // Link it: CAS the null link at the end of the list into a pointer to
    // the node, marked dirty. A CAS that fails found another producer's
    // node there: step over it and try at its next link.
    let link = this.#tail;
    const dirty = BigInt(node) + DIRTY;
    for (let passed = 0; ; passed++) {
      const seen = compareExchange64(region, link, 0n, dirty);
      if (seen === 0n) break;
      if (passed > this.#maxNodes()) throw new PmemError('ERR_PMEM_CORRUPT', 'the list has a cycle');
      link = this.#follow(link, seen);
      yield 'passed';
    }
    yield 'linked';
    // Link-and-persist: the link is visible now and becomes durable here;
    // only then does the append return (is acknowledged).
    region.persist(link, 8);
    // Clearing the bit needs no persist: durable with or without it, the
    // link means the same, and recovery ignores the bit. It only spares
    // later readers a flush.
    compareExchange64(region, link, dirty, BigInt(node));
    this.#tail = node;
  }

  /** Values from head to tail, as copies. */
  *[Symbol.iterator](): IterableIterator<Buffer> {
    const values: Buffer[] = [];
    this.#walk((p, len) => values.push(Buffer.from(this.region.bytes.subarray(p + NODE_HEADER, p + NODE_HEADER + len))));
    for (const v of values) {
      // The values are copies taken by the walk, but a list whose region
      // was closed since answers nothing more: ERR_PMEM_CLOSED, as every
      // other method.
      checkOpen(this.region, 'list');
      yield v;
    }
  }

  toArray(): Buffer[] {
    return [...this];
  }

  /**
   * Walks the list from the head, validating every link and persisting
   * every dirty one it follows, and puts the shared free pointer past every
   * node it reached. Runs on open; safe while other producers append (the
   * free pointer only ever moves up). After a crash it completes the links
   * that were visible but may not have been persisted; a node reserved or
   * written but never linked stays unreachable, and its space is reused.
   * On a read-only mapping it only walks and counts: it persists no link
   * (see `#follow`) and leaves the free pointer as it is, which matters to
   * appends only, and this list makes none.
   * @throws PmemError ERR_PMEM_CORRUPT for a bad magic, a link outside the
   *   region or off a line, a cycle, or a length past the region's end.
   */
  recover(): { length: number } {
    checkOpen(this.region, 'list');
    if (this.region.bytes.readUInt32LE(this.offset) !== LIST_MAGIC) {
      throw new PmemError('ERR_PMEM_CORRUPT', `no list at offset ${this.offset}: bad magic`);
    }
    let end = this.offset + LIST_HEADER;
    let length = 0;
    let tail = this.offset + HEAD;
    this.#walk((p, len) => {
      end = Math.max(end, p + Math.ceil((NODE_HEADER + len) / LINE) * LINE);
      tail = p;
      length++;
    });
    // free must lie past every reachable node before anything is appended:
    // after a crash the free pointer on the media may be any value it had,
    // since it is never persisted. Raised with CAS, never lowered, so a
    // producer that reserved meanwhile keeps its space.
    // A value no reservation makes is damage, and is replaced the same way:
    // reservations start at the first line after the header and take whole
    // lines (offset is on a line too), and none passes the region's end. A
    // free pointer off a line would place the next node there, where no
    // walk follows a link to it; one far past the end (a bit flip) would
    // refuse every append as corrupt. So neither can be one a producer
    // reserved with meanwhile. The end of the line the region ends in is
    // allowed: the last node's lines may reach it in a region opened
    // shorter than it was written (its value still inside), and `end`,
    // which never passes it, is then that.
    this.#tail = tail;
    if (this.#readOnly) return { length };
    const at = this.offset + FREE;
    const valid = (free: bigint): boolean => free % BigInt(LINE) === 0n && free <= BigInt(this.#lineEnd());
    for (let free = load64(this.region, at); free < BigInt(end) || !valid(free); ) {
      const seen = compareExchange64(this.region, at, free, BigInt(end));
      if (seen === free) break;
      free = seen;
    }
    return { length };
  }

  /**
   * The node a non-null link points at. A dirty link was stored by a
   * producer that may not have persisted it yet: persist it before acting on
   * it, so that nothing durable ever depends on it being durable.
   */
  #follow(link: number, value: bigint): number {
    let p = value;
    if ((value & DIRTY) !== 0n && this.#readOnly) {
      // A read-only mapping can persist nothing, and a reader on one needs
      // nothing persisted: it links no node after this one, acknowledges
      // nothing and moves no free pointer, so nothing durable can come to
      // rest on this link. It follows the link as recovery does, ignoring
      // the bit. Stopping here instead would be wrong: a producer persists
      // its link with the bit set and clears the bit without persisting the
      // clearing, so after a crash the media may hold every acknowledged
      // link still marked, and a read-only open of that file would lose
      // values whose appends returned. What it costs: beside a live
      // producer, this reader may show a value whose append has not
      // returned yet, which a crash before that producer's persist would
      // take away (a writable reader would persist the link and show it).
      p = value - DIRTY;
    } else if ((value & DIRTY) !== 0n) {
      this.region.persist(link, 8);
      // The bit need not be cleared for correctness, nor its clearing persisted.
      compareExchange64(this.region, link, value, value - DIRTY);
      p = value - DIRTY;
    }
    const node = Number(p);
    if (node % LINE !== 0 || node < this.offset + LIST_HEADER || node > this.region.length - NODE_HEADER) {
      throw new PmemError('ERR_PMEM_CORRUPT', `list link ${node} at ${link} is invalid`);
    }
    return node;
  }

  /** @throws PmemError ERR_PMEM_READONLY on a read-only mapping */
  #checkWritable(): void {
    if (this.#readOnly) throw new PmemError('ERR_PMEM_READONLY', `the list at offset ${this.offset} is on a read-only mapping: it can be read, not written`);
  }

  /** The end of the line the region ends in: no node's lines reach past it. */
  #lineEnd(): number {
    return Math.ceil(this.region.length / LINE) * LINE;
  }

  /** Nodes are disjoint lines after the header: a walk of more steps than this is in a cycle. */
  #maxNodes(): number {
    return Math.floor((this.region.length - this.offset - LIST_HEADER) / LINE);
  }

  /**
   * Calls `visit(node, valueLength)` for each node from the head,
   * validating each, and then that no two of them share a line: a caller
   * acts on what it was shown only once this returns.
   */
  #walk(visit: (node: number, length: number) => void): void {
    checkOpen(this.region, 'list');
    const region = this.region;
    const b = region.bytes;
    const maxNodes = this.#maxNodes();
    let n = 0;
    let lines = 0;
    // Each node's first line and its line count, in list order.
    const starts: number[] = [];
    const spans: number[] = [];
    for (let link = this.offset + HEAD; ; ) {
      const v = load64(region, link);
      if (v === 0n) {
        disjoint(starts, spans);
        return;
      }
      const p = this.#follow(link, v);
      if (++n > maxNodes) throw new PmemError('ERR_PMEM_CORRUPT', 'the list has a cycle');
      const len = b.readUInt32LE(p + 8);
      if (len > region.length - p - NODE_HEADER) {
        throw new PmemError('ERR_PMEM_CORRUPT', `list node at ${p} has length ${len} past the region's end`);
      }
      // Reachable nodes are disjoint reservations, so their lines together
      // fit the lines after the header. Nodes that overlap (a damaged
      // length) can pass every check above, one by one; this bounds what a
      // walk yields to the region's size, where the count of nodes alone
      // let each of them copy up to the whole region.
      const span = Math.ceil((NODE_HEADER + len) / LINE);
      lines += span;
      if (lines > maxNodes) throw new PmemError('ERR_PMEM_CORRUPT', `list nodes up to ${p} take more lines than the list has: they overlap`);
      starts.push(p);
      spans.push(span);
      visit(p, len);
      link = p;
    }
  }
}

/**
 * Refuses nodes that share a line: reservations are disjoint, so a node
 * whose lines reach into another's has a damaged length (or link), however
 * little it overlaps; its value would hold the other node's bytes.
 * @throws PmemError ERR_PMEM_CORRUPT
 */
function disjoint(starts: number[], spans: number[]): void {
  const order = starts.map((_, i) => i).sort((x, y) => starts[x] - starts[y]);
  for (let k = 1; k < order.length; k++) {
    const before = order[k - 1];
    const after = order[k];
    if (starts[before] + spans[before] * LINE > starts[after]) {
      throw new PmemError('ERR_PMEM_CORRUPT', `list nodes at ${starts[before]} and ${starts[after]} overlap: the first one's length reaches into the second`);
    }
  }
}
