// What Wal.open takes, checked once, and the opening of a log file: the
// lock, the signature check and the mapping, before wal.ts recovers the log
// in it. Kept apart from the API class so that each file stays one concept.
import { checkBoolean, checkIndex, checkOptions, checkPath } from '../core/args';
import type { NativeLock } from '../core/binding';
import { openStoreFile } from '../core/identify';
import type { Mapping } from '../core/mapping';

/** Largest log file: one Buffer must see the whole mapping. */
const MAX_FILE = 2 ** 32;

export interface WalOpenOptions {
  /** With a path: size of a file to create. */
  size?: number;
  /** With a path: create and format the file if missing. */
  create?: boolean;
  /** Offset of the log inside the region (a multiple of 64). */
  offset?: number;
  /** Cut the log at a corrupt record instead of failing (point-in-time recovery). */
  truncateOnCorruption?: boolean;
  /** Recover without writing (for inspection); the log must not be appended to. */
  readOnly?: boolean;
}

export interface WalFlags {
  create: boolean;
  readOnly: boolean;
  truncateOnCorruption: boolean;
}

const OPEN_OPTIONS = new Set(['size', 'create', 'offset', 'truncateOnCorruption', 'readOnly']);

/** What Wal.format takes. */
export const FORMAT_OPTIONS: ReadonlySet<string> = new Set(['offset']);
const RECOVER_OPTIONS: ReadonlySet<string> = new Set(['truncateOnCorruption', 'readOnly']);

const flag = (v: unknown, name: string): boolean => (v === undefined ? false : checkBoolean(v, name));

/** The boolean options of Wal.open, checked: unknown options and non-booleans are TypeErrors. */
export function checkWalOptions(options: unknown): WalFlags {
  checkOptions(options, OPEN_OPTIONS);
  const o = options as WalOpenOptions;
  return { create: flag(o.create, 'create'), readOnly: flag(o.readOnly, 'readOnly'), truncateOnCorruption: flag(o.truncateOnCorruption, 'truncateOnCorruption') };
}

/** The options of Wal.recover, checked as Wal.open's flags are. */
export function checkRecoverOptions(options: unknown): { truncateOnCorruption: boolean; readOnly: boolean } {
  checkOptions(options, RECOVER_OPTIONS);
  const o = options as { truncateOnCorruption?: unknown; readOnly?: unknown };
  return { truncateOnCorruption: flag(o.truncateOnCorruption, 'truncateOnCorruption'), readOnly: flag(o.readOnly, 'readOnly') };
}

/**
 * The offset option, read once by the caller: left out it is 0; null is a
 * wrong type, as any other. A multiple of 64, as the log's superblock
 * needs: checked here, before a file is identified at it (an existing log
 * asked for at 100 was "not a write-ahead log: it holds a write-ahead log").
 */
export function walOffset(value: unknown): number {
  const offset = value === undefined ? 0 : checkIndex(value, 'offset');
  if (offset % 64 !== 0) throw new RangeError(`offset must be a multiple of 64, got ${offset}`);
  return offset;
}

/**
 * Locks and maps the log file at `path` (`create` makes a missing one of
 * `size` bytes and formats it with `format`), for Wal.open to recover.
 * @throws TypeError, RangeError for a `size` that is not a whole number of
 *   bytes up to 4 GiB (with `create` or without), or `offset`;
 *   PmemError ERR_PMEM_LOCKED, and what openStoreFile throws for a file
 *   that is not a log
 */
export function openWalFile(
  path: string, options: WalOpenOptions, o: WalFlags, format: (m: Mapping, offset: number) => void,
): { lock: NativeLock; mapping: Mapping; offset: number } {
  checkPath(path);
  if (o.create && o.readOnly) throw new TypeError('create and readOnly cannot be combined');
  // Checked whenever given, as KVStore.open checks it (an existing log
  // keeps its size, so without create it is only checked), and read once.
  const given = options.size;
  const size = given === undefined ? 0 : checkIndex(given, 'size');
  if (size > MAX_FILE) throw new RangeError(`size must be at most ${MAX_FILE}, got ${size}`);
  if (o.create && size === 0) throw new RangeError('create needs a size greater than 0');
  const offset = walOffset(options.offset);
  // One writer at a time (ERR_PMEM_LOCKED), across processes and
  // threads; the signature is checked through the lock before anything
  // maps, grows or writes the file.
  const { lock, mapping } = openStoreFile(path, {
    kind: 'wal', name: 'a write-ahead log', create: o.create, readOnly: o.readOnly, size, offset, maxFile: MAX_FILE,
    format: (m) => { format(m, offset); },
  });
  return { lock, mapping, offset };
}
