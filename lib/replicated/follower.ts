// A replicated store's backup: startReplica on the journal, and a store of
// its own that follows it. Every `pollMs` the records the backup has
// persisted since the last look are applied to the store, with their LSN
// (applied.ts), so that the store is at most a poll behind the journal and
// a promotion finds it complete once the last records are applied. A store
// without room for a record (ERR_PMEM_NO_SPACE) is behind, not broken: it
// tries that record again, backing off, and follows again once it fits.
import { checkOptions, checkPath } from '../core/args';
import { isPmemError, PmemError } from '../core/errors';
import type { KVStore } from '../kv/store';
import { checkJournalSize, checkReplicaOptions, checkTimeout } from '../replicate/options';
import { type ReplicaHandle, startReplica } from '../replicate/replica';
import { applyRecords, readApplied, readRecords } from './applied';
import { openStoreBeforeJournal } from './store-file';

export interface StoreReplicaOptions {
  /** The backup's store file. */
  store: string;
  /** The backup's journal file (default: the store's path and '.journal'). */
  journal?: string;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Create the store and the journal if they are missing. */
  create?: boolean;
  /** With `create`: bytes of a new store file (default 64 MiB). */
  size?: number;
  /** Bytes the store may grow to (default 1 GiB, as pmem serve's store, or `size` when more). */
  maxSize?: number;
  /** With `create`: bytes per store segment (KVStore's segmentSize). */
  segmentSize?: number;
  /** With `create`: bytes of a new journal file (default 64 MiB). */
  journalSize?: number;
  /** Milliseconds between two looks at the journal (default 5). */
  pollMs?: number;
  /** The journal's startReplica option: how long a connection may take to complete its HELLO (default 5000 ms). */
  helloTimeoutMs?: number;
  /**
   * The journal's startReplica option, which also gets a line when the
   * store stops following the journal, and when one that had no room
   * follows it again (default: nothing).
   */
  log?: (line: string) => void;
}

export interface StoreReplicaHandle {
  readonly port: number;
  /** The journal's: the last record this backup holds durably. */
  readonly lastDurableLsn: number;
  /**
   * The last record its store holds: it applies a record once it knows it
   * is committed (the primary announces its commit point in the next frame,
   * and when it closes), never an old epoch's tail a new primary may cut.
   */
  readonly appliedLsn: number;
  readonly epoch: number;
  /** The store, for reads (its writes come from the journal only). */
  readonly store: KVStore;
  /**
   * Set while the store does not follow the journal; promote() throws it.
   * ERR_PMEM_NO_SPACE (the store at its maxSize, or its filesystem full)
   * lasts while the record after appliedLsn finds no room: the store tries
   * it again, every poll backing off to once a second, and this is null
   * again once the store has caught up. Any other error
   * (ERR_PMEM_REPLICA_DIVERGED, ERR_PMEM_CORRUPT) stays: reseed this backup.
   */
  readonly error: PmemError | null;
  /**
   * Promotes the journal (its epoch raised durably), then applies every
   * record it holds, all of which are the new epoch's history: close the
   * handle, then open the store with ReplicatedStore.open and new backups.
   * @returns the new epoch
   * @throws PmemError ERR_PMEM_CORRUPT or ERR_PMEM_REPLICA_DIVERGED when the store could not follow
   *   (nothing promoted); what applying the records throws (ERR_PMEM_NO_SPACE), with the
   *   LSNs the store lacks, when the journal is promoted and the store could not take them all
   */
  promote(): number;
  /** Applies what the journal holds and is known committed, stops, closes the journal and the store. */
  close(): Promise<void>;
}

const OPTIONS = ['store', 'journal', 'port', 'host', 'create', 'size', 'maxSize', 'segmentSize', 'journalSize', 'pollMs', 'helloTimeoutMs', 'log'];
const DEFAULT_JOURNAL = 64 * 1024 * 1024;
/** What a backup's store may grow to by default: pmem serve's store's. */
const DEFAULT_STORE_MAX = 1024 * 1024 * 1024;
/** The longest wait between two tries of a store that had no room for a record. */
const MAX_RETRY_MS = 1000;

/**
 * The error of a promotion whose journal is promoted and whose store could
 * not take all of its records (no room for them, say): its code and
 * details, with what holds them now. Those records were acknowledged by the
 * old primary, which can no longer commit: they are in the journal alone
 * until the store takes them, as ReplicatedStore.open of the store with
 * this journal does (a store opened alone never sees them).
 */
function behindPromoted(e: PmemError, journal: string, store: string, epoch: number, applied: number, last: number): PmemError {
  const details = { ...(e.errno === undefined ? {} : { errno: e.errno }), ...(e.syscall === undefined ? {} : { syscall: e.syscall }), path: e.path ?? store };
  return new PmemError(e.code, `the journal '${journal}' is promoted (epoch ${epoch}), but the store '${store}' holds its records `
    + `only up to LSN ${applied} of ${last}: ${e.message}; the rest stay in the journal: once the store has room, open it with this journal `
    + `(ReplicatedStore.open, or pmem serve --file STORE --journal JOURNAL --replica ...), which applies them, never without it`, details);
}

/**
 * Starts a replicated store's backup.
 * @throws (rejects) TypeError, RangeError; what KVStore.open and
 *   startReplica throw (ERR_PMEM_IO when it cannot listen: after removing
 *   the journal and the store if this call created them, or emptying them
 *   again if it formatted empty files); PmemError ERR_PMEM_CORRUPT (store
 *   and journal do not belong together)
 */
export async function startStoreReplica(options: StoreReplicaOptions): Promise<StoreReplicaHandle> {
  const o = checkOptions(options, OPTIONS) as Partial<StoreReplicaOptions>;
  checkPath(o.store, 'store');
  if (o.journal !== undefined && (typeof o.journal !== 'string' || o.journal.length === 0)) throw new TypeError('journal must be a non-empty string');
  const journal = o.journal ?? `${o.store}.journal`;
  // At most 2^31 - 1, as every timeout: setInterval would take more as 1 ms.
  const pollMs = checkTimeout(o.pollMs, 'pollMs', 5);
  checkJournalSize(o.journalSize, 'journalSize');
  const { log } = checkReplicaOptions({ file: journal, port: o.port, host: o.host, create: o.create, size: o.journalSize, helloTimeoutMs: o.helloTimeoutMs, log: o.log });
  // The backup's store holds whatever its primary sends: it may grow to
  // 1 GiB, pmem serve's own default, unless told otherwise (or to its size,
  // when that is more). Bounded by its own size, as a KVStore is by
  // default, it stopped following at 64 MiB while the primary's grew on.
  const maxSize = o.maxSize === undefined ? Math.max(typeof o.size === 'number' ? o.size : 0, DEFAULT_STORE_MAX) : o.maxSize;
  const opened = openStoreBeforeJournal(o.store as string, journal, { create: o.create, size: o.size, maxSize, segmentSize: o.segmentSize });
  const store = opened.store;
  let replica: ReplicaHandle;
  // Before the journal frees records, the store takes them (follow is set
  // below, once the replica is there): a record freed before the store
  // applied it would be lost to the store, which then stops following.
  let beforeFree = (upto: number): number => upto;
  try {
    replica = await startReplica({
      file: journal, port: o.port as number, host: o.host, create: o.create, size: o.journalSize ?? DEFAULT_JOURNAL, helloTimeoutMs: o.helloTimeoutMs, log,
    }, { beforeFree: (upto) => beforeFree(upto) });
  } catch (e) {
    // startReplica removed a journal it created; a store this call created
    // holds nothing but its format, and goes the same way (a replica that
    // cannot listen leaves the path as it found it).
    opened.abandon();
    throw e;
  }
  let applied = readApplied(store);
  let error: PmemError | null = null;
  // A store without room for the next record: when it tries again (the
  // wait doubles from pollMs to MAX_RETRY_MS while tries find no room), and
  // how many tries failed. Its error is not final: the filesystem may be
  // given room again, with no restart (a store at its maxSize, which
  // applyRecords has already filled record by record, needs a larger one).
  let retryMs = 0;
  let retryAt = 0;
  let tries = 0;
  const stop = (e: unknown, progressed: boolean): void => {
    const behind = error !== null;
    const err = isPmemError(e) ? e : new PmemError('ERR_PMEM_CORRUPT', String(e));
    error = err;
    const line = `the store stopped following the journal at LSN ${applied}: ${err.code}: ${err.message}`;
    if (err.code !== 'ERR_PMEM_NO_SPACE') {
      log(line);
      return;
    }
    tries++;
    retryMs = progressed || retryMs === 0 ? pollMs : Math.min(retryMs * 2, MAX_RETRY_MS);
    retryAt = Date.now() + retryMs;
    // Once, not at every try that finds no room again.
    if (!behind) log(`${line}; the journal keeps the records after it, and the store tries LSN ${applied + 1} again until it has room`);
  };
  /** Applies the journal's records after `applied` up to `to`, counting each batch as it is durable. */
  const apply = (to: number): void => {
    applyRecords(store, readRecords(replica.read(applied + 1), applied, to, journal), (lsn) => { applied = lsn; });
  };
  /**
   * Applies the journal's records to the store up to `upTo`: by default the
   * last one the backup knows is committed. A record past it may be an old
   * epoch's uncommitted tail, which a new primary's handshake cuts from the
   * journal, and a store cannot take a write back: applied, it would stay
   * there and hide the new epoch's record of the same LSN. A store that had
   * no room tries again once its wait is over, or at once with `now`;
   * after any other error it follows no more.
   */
  const follow = (upTo = replica.committedLsn, now = false): void => {
    if (error !== null && (!isPmemError(error, 'ERR_PMEM_NO_SPACE') || (!now && Date.now() < retryAt))) return;
    const durable = replica.lastDurableLsn;
    if (durable < applied) {
      stop(new PmemError('ERR_PMEM_REPLICA_DIVERGED', `the journal '${journal}' was cut to LSN ${durable}, below the LSN ${applied} the store has applied; reseed this backup`), false);
      return;
    }
    const last = Math.min(upTo, durable);
    if (last <= applied) return;
    const from = applied;
    try {
      // Behind for room: first the one record that found none, so that a
      // try that finds none again decodes no more than it.
      if (error !== null) apply(applied + 1);
      apply(last);
    } catch (e) {
      stop(e, applied > from);
      return;
    }
    if (error !== null) {
      log(`the store follows the journal again: it holds records up to LSN ${applied}, after ${tries} ${tries === 1 ? 'try' : 'tries'} without room`);
      error = null;
      tries = 0;
      retryMs = 0;
    }
  };
  beforeFree = (upto) => {
    follow(upto);
    return applied;
  };
  if (replica.lastDurableLsn < applied) {
    await replica.close();
    store.close();
    throw new PmemError('ERR_PMEM_CORRUPT', `the store '${o.store}' has applied journal records up to LSN ${applied}, past the journal's last (${replica.lastDurableLsn})`);
  }
  follow();
  const timer = setInterval(follow, pollMs);
  let closing: Promise<void> | null = null;
  return {
    port: replica.port,
    get lastDurableLsn() { return replica.lastDurableLsn; },
    get appliedLsn() { return applied; },
    get epoch() { return replica.epoch; },
    store,
    get error() { return error; },
    promote() {
      follow(replica.committedLsn, true);
      if (error !== null) throw error;
      const epoch = replica.promote();
      // Every record the journal holds is the new epoch's history from here
      // on (it is committed by the next primary's open): the store takes them all.
      const last = replica.lastDurableLsn;
      follow(last, true);
      if (error !== null) throw behindPromoted(error, journal, o.store as string, epoch, applied, last);
      return epoch;
    },
    close() {
      if (closing === null) {
        closing = (async () => {
          clearInterval(timer);
          follow(replica.committedLsn, true);
          await replica.close();
          store.close();
        })();
      }
      return closing;
    },
  };
}
