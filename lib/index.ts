export { PmemError } from './core/errors';
export type { PmemErrorCode, PmemErrorDetails } from './core/errors';
export type { Granularity, Region } from './core/region';
export { atomicStore64, compareExchange64, fetchAdd64, load64, sealRecord, store64 } from './core/region';
export { Mapping, openMapping } from './core/mapping';
export type { DurabilityMode, MapOptions, PrefaultStats } from './core/mapping';
export { defaultLocation, daxMounts, EMULATED_BANNER } from './core/location';
export type { DefaultLocation } from './core/location';
export { crc32c } from './core/crc32c';
export { Superblock } from './log/superblock';
export { AppendList } from './log/append-list';
export { SharedAppendList } from './log/append-list-mp';
export { Wal } from './log/wal';
export type { WalOpenOptions, WalRecord, WalRecovery } from './log/wal';
export { TxLog } from './log/txlog';
export type { TxWriter, TxRecovery } from './log/txlog';
export { ObjPool, OBJ_MIN_POOL, OBJ_MAX_ALLOC } from './obj/pool';
export { ObjTx } from './obj/tx';
export type { Ptr, ObjPoolCreateOptions, ObjPoolOpenOptions, AllocOptions, ObjPoolStats } from './obj/pool';
export type { TxAllocOptions } from './obj/tx';
export { PersistentList } from './obj/list';
export type { ListValue } from './obj/list';
export { KVStore } from './kv/store';
export type { KVBatchOp, KVData, KVOpenOptions, KVRangeOptions, KVReaderStats, KVRecovery, KVRegionOptions, KVStats } from './kv/types';
export type { TieredCacheOptions, TieredCacheStats, WriteMode } from './cache/options';
export type { CacheEncoding } from './cache/encoding';
export type { SortCheckpointInfo, SortOptions, SortProgress, SortResult } from './sort/options';
export type { SortKey } from './sort/records';
export type { ServerOptions } from './server/server';
export type { ReplicatedWalStats, ReplicaLinkStats } from './replicate/primary';
export type { ReplicaHandle, ReplicaServerStats } from './replicate/replica';
export type { AckLevel, ReplicatedWalOptions, ReplicaOptions } from './replicate/options';
export type { JournalContents } from './replicate/journal';
export type { ReplicatedStoreOptions } from './replicated/store';
export type { StoreJournalStats } from './replicated/committer';
export type { StoreReplicaHandle, StoreReplicaOptions } from './replicated/follower';

// The tiered cache, the external sort, the server and replication are
// loaded on first use: together they are half of what loading this module
// costs (about 50 ms of 105), which a program that uses only the structures
// above, or a process started for each piece of work, need not pay. Each
// name below is declared with its module's type and defined by `lazy`;
// test/19.layout checks that the three agree.
import type * as cache from './cache/cache';
import type * as sortOptions from './sort/options';
import type * as sort from './sort/sort';
import type * as server from './server/server';
import type * as serverOpen from './server/open';
import type * as primary from './replicate/primary';
import type * as replica from './replicate/replica';
import type * as journal from './replicate/journal';
import type * as replicated from './replicated/store';
import type * as follower from './replicated/follower';

export declare const TieredCache: typeof cache.TieredCache;
export type TieredCache<V = unknown> = cache.TieredCache<V>;
export declare const externalSort: typeof sort.externalSort;
export declare const parseKey: typeof sortOptions.parseKey;
export declare const RespServer: typeof server.RespServer;
export type RespServer = server.RespServer;
export declare const createServer: typeof serverOpen.createServer;
export declare const openServer: typeof serverOpen.openServer;
export declare const ReplicatedWal: typeof primary.ReplicatedWal;
export type ReplicatedWal = primary.ReplicatedWal;
export declare const startReplica: typeof replica.startReplica;
export declare const promoteReplicaFile: typeof replica.promoteReplicaFile;
export declare const readJournal: typeof journal.readJournal;
export declare const ReplicatedStore: typeof replicated.ReplicatedStore;
export type ReplicatedStore = replicated.ReplicatedStore;
export declare const startStoreReplica: typeof follower.startStoreReplica;

// Named first as plain assignments, the form by which Node finds a
// CommonJS module's names for an ES module's `import { … }` (which reads
// each, so loads them all); `lazy` then puts its getters in their place.
exports.TieredCache = exports.externalSort = exports.parseKey = exports.RespServer = exports.createServer = exports.openServer = undefined;
exports.ReplicatedWal = exports.startReplica = exports.promoteReplicaFile = exports.readJournal = undefined;
exports.ReplicatedStore = exports.startStoreReplica = undefined;

/** Defines each of `names` on the exports as a getter that loads `module` (once: Node keeps it) when first read. */
function lazy(module: string, names: readonly string[]): void {
  for (const name of names) {
    Object.defineProperty(exports, name, { enumerable: true, get: () => (require(module) as Record<string, unknown>)[name] });
  }
}
lazy('./cache/cache', ['TieredCache']);
lazy('./sort/sort', ['externalSort']);
lazy('./sort/options', ['parseKey']);
lazy('./server/server', ['RespServer']);
lazy('./server/open', ['createServer', 'openServer']);
lazy('./replicate/primary', ['ReplicatedWal']);
lazy('./replicate/replica', ['startReplica', 'promoteReplicaFile']);
lazy('./replicate/journal', ['readJournal']);
lazy('./replicated/store', ['ReplicatedStore']);
lazy('./replicated/follower', ['startStoreReplica']);
