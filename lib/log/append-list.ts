import { apartFrom, checkIndex, snapshotBytes, utf8 } from '../core/args';
import { checkOpen, PmemError } from '../core/errors';
import { checkRegion, type Region, store64 } from '../core/region';

const LIST_MAGIC = 0x4c505041; // "APPL"
/** The list's header, a line of its own: magic u32 at 0, head pointer u64 at 8. */
const LIST_HEADER = 64;
/** A node's header: next pointer u64 at 0, value length u32 at 8, zero u32. */
const LIST_NODE_HEADER = 16;
/** A cache line: the list's offset and every node start on one. */
const LINE = 64;

/**
 * An append-only singly linked list on a Region, kept crash-consistent by
 * one rule: a node is durable before the pointer that publishes it, and that
 * pointer is persisted in turn. No log, no checksum.
 *
 * Layout (little-endian) from `offset`: a 64-byte header (magic, then the
 * head pointer at +8), then nodes, each on a 64-byte line: the next pointer
 * (u64, 0 at the tail), the value length (u32), then the value. Pointers are
 * offsets into the region. Nodes are placed one after another; the space
 * after the tail is free, so a node written by an append that crashed before
 * publishing is simply overwritten by the next append.
 */
export class AppendList {
  readonly region: Region;
  readonly offset: number;
  #tail = 0; // offset of the last node, 0 when empty
  #free = 0; // first free byte
  #length = 0;

  /** Writes an empty list and persists it. Durable when it returns. */
  static format(region: Region, offset = 0): AppendList {
    const list = new AppendList(region, offset);
    const b = region.bytes;
    b.fill(0, list.offset, list.offset + LIST_HEADER);
    b.writeUInt32LE(LIST_MAGIC, list.offset);
    // The empty list (magic, null head) is durable before format returns:
    // an open after a crash then finds a list, never stale bytes.
    region.persist(list.offset, LIST_HEADER);
    list.recover();
    return list;
  }

  /** Opens a list and runs `recover()`. */
  static open(region: Region, offset = 0): AppendList {
    const list = new AppendList(region, offset);
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
  }

  get length(): number {
    checkOpen(this.region, 'list');
    return this.#length;
  }

  /**
   * Appends a value. Durable when it returns: after a crash the list holds
   * every value appended before, and this one if the publishing pointer
   * reached the media.
   * @throws PmemError ERR_PMEM_NO_SPACE when the region is full
   */
  append(value: Uint8Array | string): void {
    checkOpen(this.region, 'list');
    // Read once: the length checked is the length written.
    // A value inside the list's own region is copied first: the node's header may be written over it.
    const data = typeof value === 'string' ? utf8(value, 'value') : apartFrom(snapshotBytes(value, 'value'), this.region.bytes);
    const size = LIST_NODE_HEADER + data.length;
    const node = this.#free;
    if (size > this.region.length - node) {
      throw new PmemError('ERR_PMEM_NO_SPACE', `no room for a ${data.length}-byte value`);
    }
    const b = this.region.bytes;
    // The new node's next pointer is 0, made durable with the node below
    // before anything publishes it: free space may hold a stale pointer
    // from an append that crashed unpublished, and recovery follows the
    // next pointer of the tail node.
    b.writeBigUInt64LE(0n, node);
    b.writeUInt32LE(data.length, node + 8);
    b.writeUInt32LE(0, node + 12);
    b.set(data, node + LIST_NODE_HEADER);
    // The node must be durable before anything points at it: otherwise a
    // crash could persist the pointer but not the node, and recovery would
    // follow it into stale bytes.
    this.region.persist(node, size);

    // Publish with one aligned 8-byte store (atomic under ADR), then persist
    // it: only now is the append durable.
    const link = this.#tail === 0 ? this.offset + 8 : this.#tail;
    store64(b, link, node);
    this.region.persist(link, 8);

    this.#tail = node;
    this.#free = node + Math.ceil(size / LINE) * LINE;
    this.#length++;
  }

  /** Values from head to tail, as copies. */
  *[Symbol.iterator](): IterableIterator<Buffer> {
    checkOpen(this.region, 'list');
    const b = this.region.bytes;
    // Every pointer checked as recover() checks it: the bytes may have
    // been damaged since the open, and a pointer back would loop forever.
    let free = this.offset + LIST_HEADER;
    let p = this.#head();
    while (p !== 0) {
      const len = this.#nodeLength(b, p, free);
      free = p + Math.ceil((LIST_NODE_HEADER + len) / LINE) * LINE;
      yield Buffer.from(b.subarray(p + LIST_NODE_HEADER, p + LIST_NODE_HEADER + len));
      // The region may have been closed while the iterator waited at the
      // yield: ERR_PMEM_CLOSED, before the next pointer is read from the
      // detached bytes.
      checkOpen(this.region, 'list');
      p = Number(b.readBigUInt64LE(p));
    }
  }

  toArray(): Buffer[] {
    return [...this];
  }

  /**
   * Walks the list from the head, validating every pointer, to find the tail
   * and the first free byte. Runs on open. There is nothing to complete: an
   * append either published its node or left it unreachable.
   * @throws PmemError ERR_PMEM_CORRUPT for a bad magic, a pointer outside the
   *   region or behind its predecessor, or a length past the region's end.
   */
  recover(): { length: number } {
    checkOpen(this.region, 'list');
    const b = this.region.bytes;
    if (b.readUInt32LE(this.offset) !== LIST_MAGIC) {
      throw new PmemError('ERR_PMEM_CORRUPT', `no list at offset ${this.offset}: bad magic`);
    }
    let free = this.offset + LIST_HEADER;
    let tail = 0;
    let length = 0;
    for (let p = this.#head(); p !== 0; ) {
      const len = this.#nodeLength(b, p, free);
      tail = p;
      length++;
      free = p + Math.ceil((LIST_NODE_HEADER + len) / LINE) * LINE;
      p = Number(b.readBigUInt64LE(p));
    }
    this.#tail = tail;
    this.#free = free;
    this.#length = length;
    return { length };
  }

  /**
   * The value length of the node at `p`, checked: the node lies at or after
   * `free` (the end of its predecessor), on a line, inside the region.
   * @throws PmemError ERR_PMEM_CORRUPT
   */
  #nodeLength(b: Buffer, p: number, free: number): number {
    // Nodes are appended at increasing offsets, so a pointer must point
    // forward: this also rules out cycles.
    if (p < free || p % LINE !== 0 || p + LIST_NODE_HEADER > this.region.length) {
      throw new PmemError('ERR_PMEM_CORRUPT', `list node pointer ${p} is invalid`);
    }
    const len = b.readUInt32LE(p + 8);
    if (len > this.region.length - p - LIST_NODE_HEADER) {
      throw new PmemError('ERR_PMEM_CORRUPT', `list node at ${p} has length ${len} past the region's end`);
    }
    return len;
  }

  #head(): number {
    return Number(this.region.bytes.readBigUInt64LE(this.offset + 8));
  }
}
