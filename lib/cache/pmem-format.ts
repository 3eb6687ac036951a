// The PMem tier's on-media layout (docs/formats.md, "Tiered cache").
import { CACHE_MAGIC } from '../core/identify';

/** 'PCT1', little-endian: the magic by which lib/core/identify.ts knows a cache file. */
export const MAGIC = CACHE_MAGIC;
export const VERSION = 1;

/**
 * The header line: magic and version (one 8-byte word, stored last at
 * format time), slot size, salt, slot count, checksum.
 */
export const HEADER_BYTES = 64;
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_SLOT_BYTES = 8;
export const H_SALT = 12;
export const H_SLOT_COUNT = 16; // u64
/** crc32c of bytes [H_SLOT_BYTES, H_CRC). */
export const H_CRC = 24;

/** Slot fields, from the slot's start (a multiple of 64 bytes). */
export const S_COMMIT = 0; // u64: the record's sequence number once published, 0 when free
export const S_HOT = 8; // f64: decayed access count when last written back (a hint, not checksummed)
export const S_CRC = 16; // u32: crc32c of [S_KEY_LEN, end of value), seeded with the salt
export const S_KEY_LEN = 20; // u32
export const S_VALUE_LEN = 24; // u32
export const S_TAG = 28; // u32: the encoding tag
export const S_SEQ = 32; // u64 as two u32: equals the commit word of a published record
export const S_EXPIRY = 40; // f64: ms since the epoch, 0 for none
export const S_KEY = 48;

export const MIN_SLOT_BYTES = 128;
export const MAX_SLOT_BYTES = 2 ** 24;

/**
 * The most entries either tier holds: each keeps its keys in a JavaScript
 * Map, which holds at most 2^24, and recovery may meet one key more than
 * the live ones (an eviction whose zero was not yet durable).
 */
export const MAX_ENTRIES = 2 ** 24 - 1;

/** Slots a format makes in `length` bytes of `slotBytes` each. */
export function slotsIn(length: number, slotBytes: number): number {
  return Math.floor((length - HEADER_BYTES) / slotBytes);
}

/** @throws RangeError when `slots` is more than a tier holds */
export function checkSlots(slots: number, slotBytes: number, what: string): void {
  if (slots > MAX_ENTRIES) {
    throw new RangeError(`${what} holds ${slots} slots of ${slotBytes} bytes, and a cache holds at most ${MAX_ENTRIES} entries ` +
      `(2^24 - 1: a JavaScript Map's limit); use a larger slotBytes or fewer bytes`);
  }
}
