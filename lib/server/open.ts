// Making a server: the checks of its options, its store, and with
// `replicas` the store's replicated journal, opened (and caught up) before
// the keyspace is loaded from the store.
import { checkIndex, checkOptions } from '../core/args';
import { KVStore } from '../kv/store';
import type { KVOpenOptions } from '../kv/types';
import { checkJournalSize, checkReplicas, checkTimeout } from '../replicate/options';
import { StoreJournal } from '../replicated/committer';
import { openStoreBeforeJournal } from '../replicated/store-file';
import { RespServer, type ServerOptions } from './server';

/**
 * Opens (creating) the store at `options.file` and returns a server over it,
 * not yet listening: call `listen(port, host)`. Every write command's reply
 * is sent only after its effects are durable.
 * @throws PmemError from KVStore.open (ERR_PMEM_LOCKED, ERR_PMEM_NOT_A_STORE, ...); TypeError, RangeError
 */
export function createServer(options: ServerOptions): RespServer {
  return new RespServer(options); // which checks the options (createServerChecks)
}

/** ServerOptions' keys: any other is a mistake (a misspelt `maxClient` would leave the default in force unseen). */
const SERVER_OPTIONS: ReadonlySet<string> = new Set([
  'file', 'port', 'host', 'requirepass', 'databases', 'size', 'maxSize', 'maxBulk', 'maxOutput', 'maxInput', 'maxClients', 'timeout',
  'enableDebugCommand', 'log', 'replicas', 'journal', 'replicaTimeoutMs', 'journalSize',
]);
/** The options that mean something only beside `replicas`. */
const REPLICA_OPTIONS = ['journal', 'replicaTimeoutMs', 'journalSize'] as const;

/** The options of a server, checked before its store is opened. @throws TypeError, RangeError */
export function createServerChecks(options: ServerOptions): void {
  checkOptions(options, SERVER_OPTIONS);
  if (options.replicas === undefined) {
    // Given without replicas they would be ignored: the server would run unreplicated.
    for (const k of REPLICA_OPTIONS) {
      if (options[k] !== undefined) throw new TypeError(`options.${k} needs options.replicas`);
    }
  }
  if (typeof options.file !== 'string') throw new TypeError('options.file must be a string');
  for (const k of ['port', 'databases', 'size', 'maxSize', 'maxBulk', 'maxOutput', 'maxInput', 'maxClients', 'timeout'] as const) wholeNumber(options[k], k);
  if (options.host !== undefined && typeof options.host !== 'string') throw new TypeError('options.host must be a string');
  // Node listens on every interface for '': the address must be said ('0.0.0.0' or '::').
  if (options.host === '') throw new TypeError("options.host is an empty string: give an address ('0.0.0.0' for every interface)");
  if (options.requirepass !== undefined && typeof options.requirepass !== 'string') throw new TypeError('options.requirepass must be a string');
  if (options.port !== undefined && options.port > 65535) throw new RangeError(`options.port must be 0 to 65535, got ${options.port}`);
  if (options.databases !== undefined && (options.databases < 1 || options.databases > 256)) throw new RangeError(`options.databases must be 1 to 256, got ${options.databases}`);
  if (options.maxClients !== undefined && options.maxClients < 1) throw new RangeError(`options.maxClients must be at least 1, got ${options.maxClients}`);
  // Redis's range for timeout (an int config).
  if (options.timeout !== undefined && options.timeout > 2147483647) throw new RangeError(`options.timeout must be 0 to 2147483647 seconds, got ${options.timeout}`);
  const debug = options.enableDebugCommand;
  if (debug !== undefined && debug !== 'no' && debug !== 'yes' && debug !== 'local') {
    throw new TypeError(`options.enableDebugCommand must be 'no', 'yes' or 'local', got ${String(debug)}`);
  }
  if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('options.log must be a function');
}

/** A number option: left out, or a non-negative safe integer. @throws TypeError for another type (null too), RangeError */
function wholeNumber(v: unknown, k: string): void {
  if (v !== undefined) checkIndex(v, `options.${k}`);
}

/**
 * As createServer, and with `replicas` a replicated server: the store and
 * its journal are opened, the journal's unacknowledged tail is committed
 * and applied (which waits for the backups), then the keyspace is loaded.
 * @throws (rejects) what createServer throws; PmemError ERR_PMEM_REPLICA_*
 *   and what ReplicatedStore.open throws
 */
export async function openServer(options: ServerOptions): Promise<RespServer> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (options.replicas === undefined) return createServer(options);
  createServerChecks(options);
  const { replicas, journal, replicaTimeoutMs, journalSize } = options;
  if (journal !== undefined && (typeof journal !== 'string' || journal.length === 0)) throw new TypeError('options.journal must be a non-empty string');
  // Checked here, before the store is opened, as the journal checks them
  // again: a bad address or timeout must leave no store file behind.
  checkReplicas(replicas, 'options.replicas');
  checkTimeout(replicaTimeoutMs, 'options.replicaTimeoutMs', 5000);
  checkJournalSize(journalSize, 'options.journalSize');
  const journalFile = journal ?? `${options.file}.journal`;
  const opened = openStoreBeforeJournal(options.file, journalFile, serverStoreOptions(options));
  try {
    const j = await StoreJournal.open(opened.store, journalFile, { replicas, create: true, size: journalSize === undefined ? 64 * 1024 * 1024 : journalSize, timeoutMs: replicaTimeoutMs });
    try {
      return new RespServer(options, { store: opened.store, journal: j });
    } catch (e) {
      // A store refused as a keyspace (another application's KVStore, say):
      // the journal made for it goes too, in this turn, before any backup
      // has been sent its HELLO.
      await j.abandon();
      throw e;
    }
  } catch (e) {
    // A journal that cannot be had (another process holds it, it is not a
    // journal, it is not the store's) leaves the store's path as it was:
    // a store made here goes again, as the journal made for it did.
    opened.abandon();
    throw e;
  }
}

/** The store a server opens: created when missing. */
export function openServerStore(options: ServerOptions): KVStore {
  return KVStore.open(options.file, serverStoreOptions(options));
}

function serverStoreOptions(options: ServerOptions): KVOpenOptions {
  // A new store is 64 MiB, or maxSize when that is less; it may grow to
  // 1 GiB, or to the size asked for when that is more. A size past a
  // maxSize given is KVStore.open's RangeError.
  const size = options.size ?? Math.min(64 * 1024 * 1024, options.maxSize ?? Infinity);
  return { create: true, size, maxSize: options.maxSize ?? Math.max(size, 1024 * 1024 * 1024) };
}
