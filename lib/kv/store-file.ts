// The file under a KVStore opened by path (KVStore.open, lib/kv/store.ts):
// its lock, signature and mapping taken in that order, its size made durable
// before the store records a length up to it, its mapping grown, and a
// create undone by abandon().
import * as fs from 'node:fs';

import { fromSystemError, PmemError } from '../core/errors';
import { openStoreFile } from '../core/identify';
import { type Mapping, openMappingOf } from '../core/mapping';
import type { NativeLock } from '../core/binding';
import { DATA_START, MAX_FILE } from './format';

/** What openStoreFile made the file from: set only when this very open created it. */
export type Created = 'missing' | 'empty' | undefined;

/**
 * Takes the lock of the store file at `path`, then checks its signature,
 * then maps it: a file that is not a store is refused before anything maps,
 * grows or writes it. A file made by this open (`create`) is `size` bytes,
 * formatted by `format` as a store of `segmentSize`-byte segments.
 * @throws PmemError (openStoreFile's codes); RangeError when `size` is too
 *   small for two segments, or neither it nor `maxSize` (0: the file's
 *   size) holds three: a put keeps two segments free, so such a store would
 *   take none (only when a file is made: an existing store keeps its size)
 */
export function openKvFile(
  path: string, o: { create: boolean; readOnly: boolean; size: number; segmentSize: number; maxSize: number }, format: (m: Mapping) => void,
): { lock: NativeLock; mapping: Mapping; created?: Created } {
  const { create, readOnly, size, segmentSize, maxSize } = o;
  return openStoreFile(path, {
    kind: 'kv', name: 'a KV store', create, readOnly, size, maxFile: MAX_FILE, besideWriter: true,
    format: (m) => {
      if (m.length < DATA_START + 2 * segmentSize) {
        throw new RangeError(`a store of ${segmentSize}-byte segments needs a size of at least ${DATA_START + 2 * segmentSize}, got ${size}`);
      }
      const least = DATA_START + 3 * segmentSize;
      if (Math.max(m.length, maxSize) < least) {
        throw new RangeError(`a new store of ${m.length} bytes${maxSize > m.length ? `, growing to ${maxSize},` : ''} would take no put: ` +
          `a put keeps two of its ${segmentSize}-byte segments free, so give a size or maxSize of at least ${least}`);
      }
      format(m);
    },
  });
}

/**
 * Makes the size of the file open as `fd` durable (fdatasync: the size is
 * metadata the file's data needs), before the store records a length up to
 * it. A device's length is its own: nothing to sync.
 * @throws PmemError ERR_PMEM_IO
 */
export function syncSize(fd: number): void {
  try {
    if (fs.fstatSync(fd).isFile()) fs.fdatasyncSync(fd);
  } catch (e) {
    throw fromSystemError(e);
  }
}

/**
 * Maps the store's file, open as `fd` (its lock's descriptor), again, grown
 * to `bytes`: the file the store was opened on, whatever `path` names by now
 * (openMappingOf); `mapping`, its present mapping, is closed after the new
 * one is in place. A failure
 * (ERR_PMEM_NO_SPACE) leaves the file and the old mapping as they were, so
 * the store goes on at its present size.
 * @returns the new mapping
 * @throws PmemError ERR_PMEM_CORRUPT when something outside the store
 *   truncated the file: growing it back would replace records with zeros.
 */
export function remapFile(mapping: Mapping, path: string, fd: number, bytes: number): Mapping {
  const now = mapping.fileSize();
  if (now < mapping.length) {
    throw new PmemError('ERR_PMEM_CORRUPT',
      `'${path}' was truncated to ${now} bytes under a live ${mapping.length}-byte mapping`, { path });
  }
  const m = openMappingOf(fd, path, { size: bytes, create: true });
  mapping.close();
  return m;
}

/**
 * Undoes a create (KVStore.abandon): a file made at a missing `path` is
 * removed, one formatted over an empty file is emptied again, as long as the
 * path still names the file open as `fd`. Called under the exclusive lock
 * taken before the new file had a name, after the store's unmap: no other
 * writer has opened it since it was made, so nothing another process wrote
 * and had acknowledged goes with it, and no mapping of this process spans a
 * cut file.
 * @returns whether the file was removed or emptied
 */
export function undoCreate(path: string, fd: number, created: Created): boolean {
  try {
    const held = fs.fstatSync(fd);
    const same = (st: fs.Stats): boolean => st.ino === held.ino && st.dev === held.dev;
    if (created === 'missing') {
      // The new file was linked at the path itself (a link to nothing is
      // never created through): the name goes only while it is that file.
      if (!same(fs.lstatSync(path))) return false;
      fs.unlinkSync(path);
      return true;
    }
    if (created === 'empty') {
      // Renamed over the empty file, at a link's target when the path is
      // a link: emptied through the lock's descriptor, not by name.
      if (!same(fs.statSync(path))) return false;
      fs.ftruncateSync(fd, 0);
      return true;
    }
    return false;
  } catch {
    return false; // renamed or removed meanwhile: left as it is
  }
}
