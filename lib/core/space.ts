// File space given back: a hole punched in a file's range frees its blocks
// (on tmpfs, its pages) for any file while the file keeps its size.
import { checkIndex, checkPath } from './args';
import { binding } from './binding';
// The addon throws its failures as this class, once errors.ts has handed it over.
import './errors';

/**
 * Gives back the storage of [offset, offset + length) of the file at
 * `path`: the range reads as zeros from then on and the file keeps its
 * size. Whole pages are freed; the bytes of a page the range covers only in
 * part are zeroed, so pass page-aligned ranges to free everything and
 * change nothing else. Returns false when the filesystem cannot punch
 * holes (nothing changed).
 * @throws TypeError, RangeError for bad arguments; PmemError
 *   ERR_PMEM_NOT_FOUND, ERR_PMEM_ACCESS, ERR_PMEM_INVALID (a directory, a
 *   device), ERR_PMEM_IO
 */
export function punchHole(path: string, offset: number, length: number): boolean {
  checkPath(path);
  checkIndex(offset, 'offset');
  checkIndex(length, 'length');
  return binding.punchHole(path, offset, length);
}

/**
 * Whether a file has holes, from its stat: `blocks` counts 512-byte units
 * of storage, and fewer than its size needs leave part of it unbacked.
 * Exact on tmpfs, where a read fault of a hole allocates a page. On disk
 * filesystems the count includes metadata blocks, so a small hole may go
 * unseen; a read of a hole there allocates nothing.
 */
export function hasHoles(st: { size: number; blocks: number }): boolean {
  return st.blocks * 512 < st.size;
}
