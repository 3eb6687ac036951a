import { apartFrom, checkIndex, snapshotBytes } from '../core/args';
import { crc32c } from '../core/crc32c';
import { checkOpen, PmemError } from '../core/errors';
import { checkRegion, type Region, store64 } from '../core/region';

/** Where replica 0's header holds the capacity the superblock was formatted with. */
const CAPACITY_AT = 32;
/** The highest version a replica may carry: every version is a write, and a double counts them exactly to here. */
const MAX_VERSION = Number.MAX_SAFE_INTEGER - 1;

/**
 * A payload capacity: 1 to MAX_CAPACITY (64 KiB) bytes.
 * @throws TypeError, RangeError
 */
function checkCapacity(value: unknown): number {
  const capacity = checkIndex(value, 'capacity');
  if (capacity === 0 || capacity > 64 * 1024) throw new RangeError(`capacity must be 1..${64 * 1024}, got ${capacity}`);
  return capacity;
}

/**
 * A dual-copy versioned superblock: a payload of up to a few KiB, updated
 * atomically across a crash although it spans several cache lines.
 *
 * Layout (little-endian), at `offset` in the region, two replicas back to
 * back, each starting on a 64-byte line:
 *
 * | bytes   | field                                                    |
 * |---------|----------------------------------------------------------|
 * | 0..3    | magic `0x31425350` ("PSB1")                              |
 * | 4..7    | payload length                                           |
 * | 8..15   | version (u64, 1 for the first write, +1 per write)       |
 * | 16..19  | crc32c of bytes 0..15 and of the payload                 |
 * | 20..23  | zero                                                     |
 * | 24..31  | commit flag (u64: 1 committed, 0 not)                    |
 * | 32..35  | replica 0: the capacity (0 if formatted before it was    |
 * |         | recorded); replica 1: zero                               |
 * | 36..63  | zero                                                     |
 * | 64..    | payload, `capacity` bytes reserved                       |
 *
 * An update writes the inactive replica and persists all of it, then sets
 * and persists its commit flag, then clears and persists the old replica's
 * flag. Recovery takes the committed replica whose checksum holds and whose
 * version is highest. See docs/formats.md.
 */
export class Superblock {
  static readonly MAGIC = 0x31425350;
  static readonly HEADER = 64;
  /** Largest payload capacity. */
  static readonly MAX_CAPACITY = 64 * 1024;

  readonly region: Region;
  readonly offset: number;
  readonly capacity: number;

  #active = -1; // replica index holding the current payload, -1 if none
  #version = 0;

  /**
   * Bytes a superblock with this payload capacity occupies.
   * @throws TypeError, RangeError for a capacity format and open refuse
   */
  static size(capacity: number): number {
    return 2 * Superblock.replicaSize(checkCapacity(capacity));
  }

  private static replicaSize(capacity: number): number {
    return Superblock.HEADER + Math.ceil(capacity / 64) * 64;
  }

  /**
   * Writes an empty superblock (both replicas uncommitted) and persists it.
   * Durable when it returns.
   */
  static format(region: Region, options: { offset?: number; capacity: number }): Superblock {
    const sb = new this(region, options);
    region.bytes.fill(0, sb.offset, sb.offset + Superblock.size(sb.capacity));
    // The capacity places replica 1: open checks the one it is given
    // against it. No write touches these bytes.
    region.bytes.writeUInt32LE(sb.capacity, sb.offset + CAPACITY_AT);
    // Both flags durably 0 before the first write: no stale replica left in
    // these bytes can be taken for a committed one.
    region.persist(sb.offset, Superblock.size(sb.capacity));
    sb.#active = -1;
    sb.#version = 0;
    return sb;
  }

  /** Opens a superblock and runs `recover()`. */
  static open(region: Region, options: { offset?: number; capacity: number }): Superblock {
    const sb = new this(region, options);
    sb.recover();
    return sb;
  }

  protected constructor(region: Region, options: { offset?: number; capacity: number }) {
    checkRegion(region);
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const at = options.offset; // read once; null is a wrong type, not the default
    const offset = at === undefined ? 0 : checkIndex(at, 'offset');
    const capacity = checkCapacity(options.capacity);
    if (offset % 64 !== 0) throw new RangeError(`offset must be a multiple of 64, got ${offset}`);
    if (offset + Superblock.size(capacity) > region.length) {
      throw new RangeError(`a superblock of capacity ${capacity} at ${offset} does not fit a ${region.length}-byte region`);
    }
    this.region = region;
    this.offset = offset;
    this.capacity = capacity;
  }

  /** Version of the current payload; 0 when nothing was ever written. */
  get version(): number {
    checkOpen(this.region, 'superblock');
    return this.#version;
  }

  /** A copy of the current payload, or undefined when nothing was ever written. */
  read(): Buffer | undefined {
    checkOpen(this.region, 'superblock');
    if (this.#active < 0) return undefined;
    const base = this.#base(this.#active);
    const len = this.region.bytes.readUInt32LE(base + 4);
    return Buffer.from(this.region.bytes.subarray(base + Superblock.HEADER, base + Superblock.HEADER + len));
  }

  /**
   * Replaces the payload. Durable when it returns; after a crash at any
   * point, recovery finds either the old payload or the new one.
   * @throws RangeError if the payload is larger than the capacity
   */
  write(payload: Uint8Array): void {
    checkOpen(this.region, 'superblock');
    payload = snapshotBytes(payload, 'payload'); // read once: the length checked is the length written
    payload = apartFrom(payload, this.region.bytes); // a payload inside the region may be in the replica written below
    if (payload.length > this.capacity) {
      throw new RangeError(`payload of ${payload.length} bytes exceeds the capacity of ${this.capacity}`);
    }
    const b = this.region.bytes;
    const target = this.#active === 0 ? 1 : 0;
    const base = this.#base(target);
    if (this.#version >= MAX_VERSION) throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: version ${this.#version} has no write left after it`);
    const version = this.#version + 1;

    // 1. Fill the inactive replica. Its commit flag is normally 0 here (the
    //    last write cleared it). After a crash between steps 2 and 3 it may
    //    still be 1 with an older version: then, until step 2, a crash image
    //    may hold a torn mix of old and new bytes under a set flag, and the
    //    checksum is what rejects it.
    b.writeUInt32LE(Superblock.MAGIC, base);
    b.writeUInt32LE(payload.length, base + 4);
    b.writeBigUInt64LE(BigInt(version), base + 8);
    b.set(payload, base + Superblock.HEADER);
    b.writeUInt32LE(this.checksum(b, base, payload.length), base + 16);
    b.writeUInt32LE(0, base + 20);
    // Persist header and payload before the flag that vouches for them, so
    // no crash image can hold the new flag over stale payload lines.
    this.region.persist(base, Superblock.HEADER + payload.length);

    // 2. Publish: an aligned 8-byte store, atomic under ADR. From the moment
    //    it persists, recovery prefers this replica (higher version).
    store64(b, base + 24, 1);
    this.region.persist(base + 24, 8);

    // 3. Retire the old replica. Not needed for correctness (the version
    //    already orders them); it keeps the next write from overwriting a
    //    committed replica in the common case.
    if (this.#active >= 0) {
      const old = this.#base(this.#active);
      store64(b, old + 24, 0);
      this.region.persist(old + 24, 8);
    }
    this.#active = target;
    this.#version = version;
  }

  /**
   * Finds the newest committed replica whose checksum holds. Runs on open.
   * Completes nothing: an interrupted write leaves either the old replica
   * (the new one uncommitted or failing its checksum) or both committed, and
   * the version picks the newer.
   * @throws PmemError ERR_PMEM_CORRUPT when a replica is committed but no
   *   committed replica is valid (the media was damaged), when none is
   *   committed but a valid one of version 2 or more shows that a write was
   *   (a flag was damaged), or the superblock was formatted with another
   *   capacity.
   */
  recover(): { version: number; replica: number } {
    checkOpen(this.region, 'superblock');
    // Another capacity places replica 1 elsewhere: recovery would miss the
    // payload there, and the next write would land past the superblock.
    const formatted = this.region.bytes.readUInt32LE(this.offset + CAPACITY_AT);
    if (formatted !== 0 && formatted !== this.capacity) {
      // The capacity word is one only in a superblock: replica 0 with its
      // magic, or formatted and never written (zero but for that word).
      // Other bytes (random ones, another structure's) are not one at all.
      const b = this.region.bytes;
      const o = this.offset;
      if (b.readUInt32LE(o) !== Superblock.MAGIC && !(allZero(b, o, o + CAPACITY_AT) && allZero(b, o + CAPACITY_AT + 4, o + Superblock.HEADER))) {
        throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: not a superblock (no superblock magic, and not a formatted empty one)`);
      }
      throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: it has a capacity of ${formatted}, not ${this.capacity}`);
    }
    let best = -1;
    let bestVersion = 0;
    let committed = 0;
    let uncommitted = 0; // the highest version of a valid replica whose flag is 0
    for (let r = 0; r < 2; r++) {
      const base = this.#base(r);
      const b = this.region.bytes;
      const flag = b.readBigUInt64LE(base + 24);
      if (flag !== 0n) committed++;
      if ((flag !== 0n && flag !== 1n) || b.readUInt32LE(base) !== Superblock.MAGIC) continue;
      const len = b.readUInt32LE(base + 4);
      if (len > this.capacity) continue;
      if (b.readUInt32LE(base + 16) !== this.checksum(b, base, len)) continue;
      // A version a double cannot hold exactly, or one with no write left
      // after it, is not one any write made (2^53 writes): damage.
      const version = Number(b.readBigUInt64LE(base + 8));
      if (version > MAX_VERSION) continue;
      if (flag === 0n) uncommitted = Math.max(uncommitted, version);
      else if (version > bestVersion) {
        best = r;
        bestVersion = version;
      }
    }
    if (best < 0 && committed > 0) {
      throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: no committed replica is valid`);
    }
    // Once write 1 has set its flag, a replica stays committed: write v
    // clears the old flag only after its own is durable (steps 2 and 3).
    // A valid replica of version 2 or more was written after write 1 was
    // done, so with no flag set, a flag was damaged (zeroed, say), and the
    // superblock is not one that was never written. Version 1 alone is
    // still a first write a crash cut short before its flag: nothing.
    if (committed === 0 && uncommitted >= 2) {
      throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: no replica is committed, yet version ${uncommitted} was written`);
    }
    // Nothing committed: the next write goes over replica 0, so these bytes
    // must be a superblock that holds nothing, not something else that holds
    // no committed replica by chance (a list, a log: their first write would
    // be lost to ours). format() records the capacity; bytes it never
    // formatted hold nothing only when they are all zero. (A superblock
    // formatted before the capacity was recorded, never written, is zero
    // too; one whose first write a crash cut short is then refused.)
    if (committed === 0 && formatted !== this.capacity && !allZero(this.region.bytes, this.offset, this.offset + Superblock.size(this.capacity))) {
      throw new PmemError('ERR_PMEM_CORRUPT', `superblock at ${this.offset}: not a superblock (no replica committed, no capacity recorded by a format, and not all zero bytes)`);
    }
    this.#active = best;
    this.#version = bestVersion;
    return { version: bestVersion, replica: best };
  }

  /** crc32c over the header's first 16 bytes and the payload. */
  protected checksum(b: Buffer, base: number, length: number): number {
    return crc32c(b, base + Superblock.HEADER, length, crc32c(b, base, 16));
  }

  #base(replica: number): number {
    return this.offset + replica * Superblock.replicaSize(this.capacity);
  }
}

/** Whether b[from, to) holds only zero bytes. */
function allZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}
