// Opening the PMem tier's file: a file that holds something else is
// refused before anything maps, grows or writes it.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { type Mapping, openMapping } from '../core/mapping';
import { HEADER_BYTES, H_MAGIC, MAGIC } from './pmem-format';
import { formattable } from './pmem-header';

/**
 * Maps `path`: a missing or empty file is created with `size` bytes; an
 * existing one must hold a tiered cache (or a format a crash cut short) and
 * keeps its size.
 * @throws PmemError ERR_PMEM_NOT_A_STORE, and openMapping's codes
 */
export function openCacheFile(path: string, size: number): Mapping {
  let existing = 0;
  try {
    existing = fs.statSync(path).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (existing === 0) return openMapping(path, { size, create: true });
  const head = Buffer.alloc(HEADER_BYTES);
  const fd = fs.openSync(path, 'r');
  try {
    fs.readSync(fd, head, 0, HEADER_BYTES, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (existing < HEADER_BYTES || (head.readUInt32LE(H_MAGIC) !== MAGIC && !formattable(head, true))) {
    throw new PmemError('ERR_PMEM_NOT_A_STORE', `${path} is not a tiered cache file`, { path });
  }
  return openMapping(path);
}
