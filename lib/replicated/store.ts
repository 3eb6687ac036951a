// ReplicatedStore: a KVStore whose writes are acknowledged only once every
// backup has persisted them. The store file holds the state; a replicated
// journal beside it (by default `<path>.journal`) carries each write to
// the backups first (committer.ts). Backups run startStoreReplica
// (follower.ts), which applies the journal to a store of their own.
import { checkIndex, checkOptions, checkPath } from '../core/args';
import { closedError } from '../core/errors';
import { keyOf } from '../kv/args';
import type { KVStore } from '../kv/store';
import { checkPrimaryOptions, MAX_JOURNAL_SIZE, MIN_JOURNAL_SIZE } from '../replicate/options';
import type { KVBatchOp, KVData, KVRangeOptions } from '../kv/types';
import { APPLIED_KEY, isAppliedKey } from './applied';
import { type StoreJournalStats, StoreJournal } from './committer';
import { copyOps } from './ops';
import { openStoreBeforeJournal } from './store-file';

export interface ReplicatedStoreOptions {
  /** The backups, as 'host:port' (each runs startStoreReplica, or `pmem replica --store`). Every one must persist a write. */
  replicas: string[];
  /** The journal file (default: the store's path and '.journal'). */
  journal?: string;
  /** Create the store and the journal if they are missing. */
  create?: boolean;
  /** With `create`: bytes of a new store file (default 64 MiB). */
  size?: number;
  /** The store grows online up to this many bytes (default: its size). */
  maxSize?: number;
  /** With `create`: bytes per store segment (KVStore's segmentSize). */
  segmentSize?: number;
  /** With `create`: bytes of a new journal file (default 64 MiB). */
  journalSize?: number;
  /** How long a round trip may wait for every backup (default 5000 ms). */
  timeoutMs?: number;
}

const OPTIONS = ['replicas', 'journal', 'create', 'size', 'maxSize', 'segmentSize', 'journalSize', 'timeoutMs'];
const DEFAULT_JOURNAL = 64 * 1024 * 1024;

/**
 * A KVStore replicated to backups. Writes are asynchronous: each resolves
 * once every backup has persisted its journal record and this store has
 * applied it; reads are synchronous and see what has been applied.
 */
export class ReplicatedStore {
  readonly #store: KVStore;
  readonly #journal: StoreJournal;
  #closing: Promise<void> | null = null;

  /**
   * Opens (with `create`, makes) the store and its journal, connects to the
   * backups, and applies whatever the journal holds that the store does
   * not (committing the journal's unacknowledged tail first, so this waits
   * for the backups when there is one).
   * @throws (rejects) TypeError, RangeError (options); PmemError
   *   ERR_PMEM_REPLICA_* (a backup refused or timed out), ERR_PMEM_CORRUPT
   *   (store and journal do not belong together), and what KVStore.open and
   *   ReplicatedWal.open throw
   */
  static async open(path: string, options: ReplicatedStoreOptions): Promise<ReplicatedStore> {
    checkPath(path);
    const o = checkOptions(options, OPTIONS) as Partial<ReplicatedStoreOptions>;
    if (o.journal !== undefined && (typeof o.journal !== 'string' || o.journal.length === 0)) throw new TypeError('journal must be a non-empty string');
    const journal = o.journal ?? `${path}.journal`;
    const journalSize = o.journalSize === undefined ? DEFAULT_JOURNAL : checkIndex(o.journalSize, 'journalSize');
    if (journalSize < MIN_JOURNAL_SIZE || journalSize > MAX_JOURNAL_SIZE) {
      throw new RangeError(`journalSize must be ${MIN_JOURNAL_SIZE}..${MAX_JOURNAL_SIZE} bytes, got ${journalSize}`);
    }
    // The journal's options are checked before the store is opened: a bad one leaves both files untouched.
    checkPrimaryOptions(journal, { replicas: o.replicas, create: o.create, size: journalSize, timeoutMs: o.timeoutMs });
    const opened = openStoreBeforeJournal(path, journal, { create: o.create, size: o.size, maxSize: o.maxSize, segmentSize: o.segmentSize });
    try {
      const j = await StoreJournal.open(opened.store, journal, { replicas: o.replicas as string[], create: o.create, size: journalSize, timeoutMs: o.timeoutMs });
      return new ReplicatedStore(opened.store, j);
    } catch (e) {
      // A journal that cannot be had (another process holds it, it is not
      // a journal, a backup refused) leaves the store's path as it was.
      opened.abandon();
      throw e;
    }
  }

  private constructor(store: KVStore, journal: StoreJournal) {
    this.#store = store;
    this.#journal = journal;
  }

  /**
   * Sets `key` to `value`. Resolves to the write's journal LSN once every
   * backup persisted it and this store applied it (durable here and there).
   * @throws (rejects) TypeError, RangeError (nothing is written);
   *   PmemError ERR_PMEM_REPLICA_TIMEOUT and the other ERR_PMEM_REPLICA_*
   *   codes (the write is not acknowledged, and its outcome is unknown: it
   *   stays in the journal and is applied once the journal reaches the
   *   backups again), ERR_PMEM_NO_SPACE, ERR_PMEM_CLOSED
   */
  put(key: KVData, value: KVData): Promise<number> {
    return this.batch([{ type: 'put', key, value }]);
  }

  /** Deletes `key` (nothing when it is absent). Resolves and rejects as put. */
  delete(key: KVData): Promise<number> {
    return this.batch([{ type: 'del', key }]);
  }

  /**
   * Applies puts and deletes, in order, as one journal record and one
   * store batch: all or nothing, here and on every backup. Resolves as put.
   */
  batch(ops: readonly KVBatchOp[]): Promise<number> {
    try {
      this.#live();
      return this.#journal.commit(copyOps(ops, isAppliedKey));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  get(key: KVData): Buffer | undefined {
    this.#live();
    return this.#hidden(key) ? undefined : this.#store.get(key);
  }

  getString(key: KVData): string | undefined {
    this.#live();
    return this.#hidden(key) ? undefined : this.#store.getString(key);
  }

  has(key: KVData): boolean {
    this.#live();
    return !this.#hidden(key) && this.#store.has(key);
  }

  /** Keys, not counting the store's applied LSN. */
  get count(): number {
    this.#live();
    return this.#store.count - (this.#store.has(APPLIED_KEY_BYTES) ? 1 : 0);
  }

  /** Entries in key order, as KVStore.range, without the store's applied LSN. */
  *range(options: KVRangeOptions = {}): IterableIterator<[Buffer, Buffer] | [string, string]> {
    this.#live();
    for (const e of this.#store.range(options)) {
      const k = e[0];
      if (typeof k === 'string' ? k === APPLIED_KEY : isAppliedKey(k.toString('latin1'))) continue;
      yield e;
    }
  }

  /** The last journal record this store holds. */
  get appliedLsn(): number {
    this.#live();
    return this.#journal.appliedLsn;
  }

  /** The journal's epoch. */
  get epoch(): number {
    this.#live();
    return this.#journal.epoch;
  }

  get stats(): StoreJournalStats {
    this.#live();
    return { ...this.#journal.stats };
  }

  /** Waits for the writes made so far, then closes the journal and the store. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closing = (async () => {
        try {
          await this.#journal.close();
        } finally {
          this.#store.close();
        }
      })();
    }
    return this.#closing;
  }

  #hidden(key: KVData): boolean {
    return isAppliedKey(keyOf(key));
  }

  #live(): void {
    if (this.#closing !== null) throw closedError('replicated store', this.#journal.path);
  }
}

const APPLIED_KEY_BYTES = Buffer.from(APPLIED_KEY, 'latin1');
