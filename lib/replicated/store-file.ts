// The store of a replicated pair, opened before its journal: a store this
// open made is taken back when the journal then cannot be had (locked by
// another process, not a journal, a backup that cannot listen), so that a
// refused open leaves the store's path as it found it.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { sameFile } from '../core/same-file';
import { KVStore } from '../kv/store';
import type { KVOpenOptions } from '../kv/types';

/** A store opened ahead of its journal. */
export interface StoreBeforeJournal {
  readonly store: KVStore;
  /**
   * Closes the store, after leaving its path as the open found it when the
   * open made it: a missing name is removed, an empty file emptied again.
   * Nothing but the store's format is lost, since the journal it would
   * have followed was never opened beside it.
   */
  abandon(): void;
}

/**
 * Opens the store at `path` (KVStore.open) and notes whether this open made
 * it. A `journal` that names the same file, by any name, is refused first,
 * before anything is opened or made: the two must be two files.
 * @throws PmemError ERR_PMEM_INVALID (one file for both); what KVStore.open throws
 */
export function openStoreBeforeJournal(path: string, journal: string, options: KVOpenOptions): StoreBeforeJournal {
  if (sameFile(path, journal)) {
    throw new PmemError('ERR_PMEM_INVALID',
      `the store '${path}' and its journal '${journal}' are one file: each needs a file of its own; nothing was opened`, { path: journal });
  }
  const found = options.create === true ? foundForCreate(path) : null;
  const store = KVStore.open(path, options);
  // The file it opened, under its lock: the one abandon() may take back.
  let made: fs.Stats | null = null;
  if (found !== null) {
    try {
      made = fs.statSync(path);
    } catch {
      made = null;
    }
  }
  return {
    store,
    abandon() {
      if (found !== null && made !== null) undoCreate(path, found, made);
      store.close();
    },
  };
}

/** 'missing' or 'empty' (a regular file of 0 bytes): what a create may make a store of; null for anything else. */
function foundForCreate(path: string): 'missing' | 'empty' | null {
  try {
    const st = fs.statSync(path);
    return st.isFile() && st.size === 0 ? 'empty' : null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : null;
  }
}

/**
 * Leaves `path` as a create found it (missing: removed; empty: emptied),
 * while it still names the file `made` (identified when it was opened).
 * Called before the store is closed, so under its lock; nothing touches
 * its mapping after this but the unmap. Done as well as it can be: the
 * caller's own error is the one to report.
 */
function undoCreate(path: string, found: 'missing' | 'empty', made: fs.Stats): void {
  try {
    const now = fs.statSync(path);
    if (now.ino !== made.ino || now.dev !== made.dev) return;
    if (found === 'missing') fs.unlinkSync(fs.realpathSync(path));
    else fs.truncateSync(path, 0);
  } catch {
    // left as it is
  }
}
