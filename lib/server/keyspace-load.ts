// The keyspace's DRAM state rebuilt from the store at open: every key with
// its type, the collections by generation (their elements found by one
// scan), the expiry times, and what must go: keys whose time has passed,
// expiry records without a key, collection METAs without elements, and
// element records of no live collection.
import { PmemError } from '../core/errors';
import type { KVBatchOp } from '../kv/types';
import { COLLECTION_TYPES, type Collection, genOfChars, META_BYTES, NS_ELEMENT, scanElements, typeOf } from './collections';
import { Dict } from './dict';
import { KEY_PREFIX, MARKER_KEY, NS_EXPIRE, NS_KEY, storeKey, TYPE_STRING } from './records';
import type { KeyspaceSource } from './pending';

export interface LoadedKeyspace {
  dbs: Dict[];
  /** One more than any collection generation in the store. */
  nextGen: number;
  /** Element records of no live collection: garbage for the lazy free. */
  orphans: string[];
  /** Deletes that must be made durable before any client connects. */
  stale: KVBatchOp[];
  /** Keys found expired. */
  expired: number;
  /** Whether the store lacks the marker (MARKER_KEY): the caller writes it with the first batch it writes straight to the store. */
  unmarked: boolean;
}

/** A generation no counter reaches: the 8 bytes after an element's namespace byte, or a META's, were not written by this keyspace. */
const MAX_GEN = Number.MAX_SAFE_INTEGER;

/**
 * Reads the keyspace of `store` as of `now`; writes nothing (the deletes
 * it finds due are returned in `stale`, and `unmarked` says whether the
 * caller is to write the marker).
 *
 * A store is refused, unchanged, when it holds what this keyspace would
 * misread and then delete: the cleanups below (expired keys, expiry records
 * without a key, element records of no live collection) are right only
 * for records pmem serve wrote. Another application's KVStore has keys
 * that fall into these namespaces by their first byte ('xylophone' is an
 * expiry record of database 'y', 'event:1' an element), so a store is taken
 * only when it carries the marker (MARKER_KEY) or, without it, when every
 * record is one this keyspace writes. The marker is then written with the
 * first batch a server writes straight to its store; a replicated server's
 * writes go through its journal, and its store is checked so at each open.
 * Keys of a database past `databases` are refused too, as Redis refuses
 * such a data file: their expiry records and elements would be taken for
 * orphans and deleted.
 * @throws PmemError ERR_PMEM_NOT_A_STORE (records pmem serve did not
 *   write), ERR_PMEM_INVALID (keys of a database past `databases`)
 */
export function loadKeyspace(store: KeyspaceSource, databases: number, now: number): LoadedKeyspace {
  const marked = store.has(MARKER_KEY);
  const foreign = (k: string, why: string): PmemError => new PmemError('ERR_PMEM_NOT_A_STORE',
    `the store holds a record that pmem serve did not write (key ${JSON.stringify(k)}: ${why}): it is another application's KVStore, `
    + 'whose keys pmem serve would misread and delete; give pmem serve a file of its own');
  let highestDb = -1;
  const dbs: Dict[] = [];
  for (let i = 0; i < databases; i++) dbs.push(new Dict());
  const byGen = new Map<number, Collection>();
  let maxGen = 0;
  let seen = 0;
  for (const [k, v] of store.unordered(Buffer.from([NS_KEY]), { encoding: 'latin1' })) {
    seen++;
    if (k.length < KEY_PREFIX || v.length < 1) throw foreign(k, 'a key record without a database byte or a type byte');
    const type = v.charCodeAt(0);
    const collection = COLLECTION_TYPES.has(type);
    if (type !== TYPE_STRING && !collection) throw foreign(k, `a value of type byte ${type}`);
    if (collection && (v.length !== META_BYTES || genOfChars(v, 1) >= MAX_GEN)) throw foreign(k, 'a collection record of another shape');
    const db = k.charCodeAt(1);
    if (db >= databases) {
      highestDb = Math.max(highestDb, db);
      continue;
    }
    const key = k.slice(KEY_PREFIX);
    dbs[db].add(key, type);
    if (!collection) continue;
    const gen = genOfChars(v, 1);
    const c: Collection = { db, key, type, gen, data: typeOf(type).create() };
    dbs[db].colls.set(key, c);
    byGen.set(gen, c);
    if (gen > maxGen) maxGen = gen;
  }
  const stale: KVBatchOp[] = [];
  let expired = 0;
  for (const [k, v] of store.unordered(Buffer.from([NS_EXPIRE]))) {
    seen++;
    if (k.length < KEY_PREFIX || v.length !== 8) throw foreign(k.toString('latin1'), 'an expiry record of another shape');
    const db = k[1];
    if (db >= databases) {
      highestDb = Math.max(highestDb, db);
      continue;
    }
    const key = k.toString('latin1', KEY_PREFIX);
    const d = dbs[db];
    if (d.type(key) === undefined) {
      // Never left by this keyspace, which deletes a key and its expiry in
      // one batch: without the marker, the record is another writer's.
      if (!marked) throw foreign(k.toString('latin1'), 'an expiry record without its key');
      stale.push({ type: 'del', key: k });
      continue;
    }
    const at = v.readDoubleLE(0);
    if (at <= now) {
      stale.push({ type: 'del', key: k }, { type: 'del', key: storeKey(NS_KEY, db, key) });
      const c = d.colls.get(key);
      if (c !== undefined) byGen.delete(c.gen); // its elements are garbage now
      d.remove(key);
      expired++;
    } else d.expires.set(key, at);
  }
  if (highestDb >= 0) {
    throw new PmemError('ERR_PMEM_INVALID', `the store holds keys of database ${highestDb}, and the server has ${databases} databases: `
      + `start it with ${highestDb + 1} or more (--databases); with fewer, their expiry times and elements would be deleted`);
  }
  // Element records (scanElements builds the collections; nothing is written before the checks below).
  const scan = scanElements(store, byGen);
  if (scan.malformed !== undefined) throw foreign(scan.malformed, 'an element record of another shape');
  seen += scan.records;
  // Keys that start with a zero byte are the library's own (the marker, a
  // replicated store's applied LSN: lib/replicated/applied.ts); any other
  // key outside the namespaces is another writer's.
  let own = 0;
  for (const _ of store.unordered(Buffer.from([0]))) own++;
  if (!marked && seen + own !== store.count) {
    const other = firstOutside(store);
    throw foreign(other ?? '', 'a key outside the namespaces of pmem serve');
  }
  // A META without elements (none is ever committed so) would be an empty collection, which Redis never shows: it goes.
  for (const c of byGen.values()) {
    if (typeOf(c.type).size(c.data) > 0) continue;
    stale.push({ type: 'del', key: storeKey(NS_KEY, c.db, c.key) });
    if (dbs[c.db].expires.has(c.key)) stale.push({ type: 'del', key: storeKey(NS_EXPIRE, c.db, c.key) });
    dbs[c.db].remove(c.key);
  }
  return { dbs, nextGen: Math.max(maxGen, scan.maxGen) + 1, orphans: scan.orphans, stale, expired, unmarked: !marked };
}

/** The first key (in no order) outside the keyspace's namespaces, for a message. */
function firstOutside(store: KeyspaceSource): string | undefined {
  for (const [k] of store.unordered(undefined, { encoding: 'latin1' })) {
    const ns = k.charCodeAt(0);
    if (ns !== NS_KEY && ns !== NS_EXPIRE && ns !== NS_ELEMENT && ns !== 0) return k;
  }
  return undefined;
}
