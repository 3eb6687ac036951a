// Opening the PMem tier's file the way every path-opening structure does
// (lib/core/identify.ts): locked, identified through the lock, and created
// whole.
import type { NativeLock } from '../core/binding';
import { openStoreFile } from '../core/identify';
import type { Mapping } from '../core/mapping';
import { MAX_VIEW } from '../core/windows';
import { openHeader } from './pmem-header';

/** Largest cache file: the tier reads and writes it through one Buffer. */
export const MAX_CACHE_FILE = MAX_VIEW;

/**
 * Locks and maps `path`. A missing or empty file is replaced by a new one of
 * `size` bytes, formatted with `slotBytes`-byte slots under a temporary name
 * and published whole; an existing one must hold a tiered cache and keeps
 * its size. The lock and the mapping are the caller's to release.
 * @throws RangeError (no slot fits in `size`); PmemError ERR_PMEM_LOCKED,
 *   ERR_PMEM_NOT_A_STORE (the file holds something else: the message says
 *   what; nothing was written to it), and openStoreFile's codes
 */
export function openCacheFile(path: string, size: number, slotBytes: number): { lock: NativeLock; mapping: Mapping } {
  return openStoreFile(path, {
    kind: 'cache',
    name: 'a tiered cache',
    create: true,
    readOnly: false,
    size,
    maxFile: MAX_CACHE_FILE,
    // Writes the header and zero commit words, durable before the file is
    // published (openHeader formats a mapping whose magic word is zero, as a
    // new file's is, without reading the rest: it is new).
    format: (m) => void openHeader(m, slotBytes, true),
  });
}
