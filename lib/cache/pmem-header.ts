// The PMem tier's header line: formatting a region that holds nothing,
// and checking the header of one that holds a tiered cache.
import { randomInt } from 'node:crypto';

import { binding } from '../core/binding';
import { PmemError } from '../core/errors';
import { type Region, store64 } from '../core/region';
import {
  checkSlots, HEADER_BYTES, H_CRC, H_MAGIC, H_SALT, H_SLOT_BYTES, H_SLOT_COUNT, H_VERSION, MAGIC, MAX_ENTRIES, S_COMMIT, slotsIn, VERSION,
} from './pmem-format';

/** A u64 field as a number (sequence numbers and counts stay below 2^53). */
export const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x100000000;

export interface Header {
  slotBytes: number;
  salt: number;
  slotCount: number;
}

const fieldsCrc = (b: Buffer): number => binding.crc32c(b, H_SLOT_BYTES, H_CRC - H_SLOT_BYTES, 0);

/** Zeros to compare a region with, a chunk at a time. */
const ZEROS = Buffer.alloc(64 * 1024);

/** Whether b[from, to) is all zero bytes. */
function zero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - i);
    if (ZEROS.compare(b, i, i + n, 0, n) !== 0) return false;
  }
  return true;
}

/**
 * Whether `b` holds no tiered cache yet and nothing else either, so that
 * formatting it destroys nothing: its magic and version word is zero, and
 * so is every other byte but the header fields a format writes before that
 * word. A format stores that word last, and writes nothing else but commit
 * words it finds zero, so a region whose format a crash cut short is
 * formatted again. A region is read in full: a zero first word says
 * nothing of the rest (a TxLog's retire word, say, is zero until its first
 * checkpoint), and the format that follows touches every page of it too.
 * `fresh`: a new file, formatted under a temporary name and published
 * whole (lib/core/identify.ts), which holds nothing: not read.
 */
function formattable(b: Buffer, fresh: boolean): boolean {
  // Shorter than the magic and version word: it holds nothing if it is zero.
  if (b.length < H_VERSION + 4) return fresh || zero(b, 0, b.length);
  if (b.readUInt32LE(H_MAGIC) !== 0 || b.readUInt32LE(H_VERSION) !== 0) return false;
  return fresh || (zero(b, H_VERSION + 4, H_SLOT_BYTES) && zero(b, H_CRC + 4, b.length));
}

function format(region: Region, slotBytes: number): void {
  const b = region.bytes;
  const count = slotsIn(region.length, slotBytes);
  if (count < 1) throw new RangeError(`a ${region.length}-byte region holds no ${slotBytes}-byte slot`);
  checkSlots(count, slotBytes, `a ${region.length}-byte region`);
  // Every commit word zero: the slots of whatever the region held before are free.
  for (let s = 0; s < count; s++) store64(b, HEADER_BYTES + s * slotBytes + S_COMMIT, 0);
  b.writeUInt32LE(slotBytes, H_SLOT_BYTES);
  b.writeUInt32LE(randomInt(1, 0xffffffff), H_SALT);
  b.writeUInt32LE(count % 0x100000000, H_SLOT_COUNT);
  b.writeUInt32LE(Math.floor(count / 0x100000000), H_SLOT_COUNT + 4);
  b.writeUInt32LE(fieldsCrc(b), H_CRC);
  // The header fields and the zeroed commit words are durable before the
  // magic that says they are valid; a crash before it leaves a zero
  // magic word, which formattable() accepts again.
  region.persist(0, HEADER_BYTES + count * slotBytes);
  // The publishing store: magic and version in one aligned 8-byte word,
  // durable before any entry is written, so that no entry is ever
  // acknowledged in a region a reopen would format again.
  store64(b, H_MAGIC, MAGIC + VERSION * 0x100000000);
  region.persist(H_MAGIC, 8);
}

/**
 * Formats `region` when it holds nothing (formattable; `fresh`: a new
 * file's mapping, known to), then reads and checks its header.
 * @throws RangeError (no slot fits); PmemError ERR_PMEM_NOT_A_STORE,
 *   ERR_PMEM_INVALID (another version or slot size), ERR_PMEM_CORRUPT
 */
export function openHeader(region: Region, slotBytes: number, fresh = false): Header {
  const b = region.bytes;
  // A region too short for the magic word holds no cache: formattable and
  // format say so (no slot fits), not a read past its end.
  if (b.length < H_MAGIC + 4 || b.readUInt32LE(H_MAGIC) !== MAGIC) {
    if (!formattable(b, fresh)) throw new PmemError('ERR_PMEM_NOT_A_STORE', 'the region holds something other than a tiered cache (a region is formatted only when every byte of it is zero)');
    format(region, slotBytes);
  }
  if (region.length < HEADER_BYTES) throw new PmemError('ERR_PMEM_CORRUPT', `the tiered cache header is cut short at ${region.length} bytes`);
  if (b.readUInt32LE(H_VERSION) !== VERSION) {
    throw new PmemError('ERR_PMEM_INVALID', `tiered cache format version ${b.readUInt32LE(H_VERSION)}, this package reads ${VERSION}`);
  }
  if (fieldsCrc(b) !== b.readUInt32LE(H_CRC)) throw new PmemError('ERR_PMEM_CORRUPT', 'the tiered cache header fails its checksum');
  const header = { slotBytes: b.readUInt32LE(H_SLOT_BYTES), salt: b.readUInt32LE(H_SALT), slotCount: u64(b, H_SLOT_COUNT) };
  if (header.slotBytes !== slotBytes) {
    throw new PmemError('ERR_PMEM_INVALID', `the cache was made with ${header.slotBytes}-byte slots, not ${slotBytes}`);
  }
  if (header.slotCount === 0) throw new PmemError('ERR_PMEM_CORRUPT', 'the tiered cache header counts no slot (a format makes at least one)');
  if (HEADER_BYTES + header.slotCount * header.slotBytes > region.length) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the header counts ${header.slotCount} slots, more than the region holds`);
  }
  // A format makes no more (checkSlots), but a header may count more: a
  // tier that filled them would overflow its key Map in the middle of a
  // set. Refused before recovery reads a slot.
  if (header.slotCount > MAX_ENTRIES) {
    throw new PmemError('ERR_PMEM_INVALID', `the cache counts ${header.slotCount} slots of ${header.slotBytes} bytes, and this package ` +
      `holds at most ${MAX_ENTRIES} entries (2^24 - 1: a JavaScript Map's limit)`);
  }
  return header;
}
