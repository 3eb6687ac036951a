// The keyspace's DRAM state rebuilt from the store at open: every key with
// its type, the collections by generation (their elements found by one
// scan), the expiry times, and what must go: keys whose time has passed,
// expiry records without a key, collection METAs without elements, and
// element records of no live collection.
import type { KVStore } from '../kv/store';
import type { KVBatchOp } from '../kv/types';
import { COLLECTION_TYPES, type Collection, genOfChars, META_BYTES, scanElements, typeOf } from './collections';
import { Dict } from './dict';
import { KEY_PREFIX, NS_EXPIRE, NS_KEY, storeKey } from './records';

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
}

/** Reads the keyspace of `store` as of `now`; writes nothing. */
export function loadKeyspace(store: KVStore, databases: number, now: number): LoadedKeyspace {
  const dbs: Dict[] = [];
  for (let i = 0; i < databases; i++) dbs.push(new Dict());
  const byGen = new Map<number, Collection>();
  let maxGen = 0;
  for (const [k, v] of store.unordered(Buffer.from([NS_KEY]), { encoding: 'latin1' })) {
    const db = k.charCodeAt(1);
    if (db >= databases || v.length < 1) continue;
    const key = k.slice(KEY_PREFIX);
    const type = v.charCodeAt(0);
    dbs[db].add(key, type);
    if (!COLLECTION_TYPES.has(type) || v.length !== META_BYTES) continue;
    const gen = genOfChars(v, 1);
    const c: Collection = { db, key, type, gen, data: typeOf(type).create() };
    dbs[db].colls.set(key, c);
    byGen.set(gen, c);
    if (gen > maxGen) maxGen = gen;
  }
  const stale: KVBatchOp[] = [];
  let expired = 0;
  for (const [k, v] of store.unordered(Buffer.from([NS_EXPIRE]))) {
    const db = k[1];
    const key = k.toString('latin1', KEY_PREFIX);
    const d = dbs[db];
    if (d === undefined || d.type(key) === undefined || v.length !== 8) {
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
  const scan = scanElements(store, byGen);
  // A META without elements (none is ever committed so) would be an empty collection, which Redis never shows: it goes.
  for (const c of byGen.values()) {
    if (typeOf(c.type).size(c.data) > 0) continue;
    stale.push({ type: 'del', key: storeKey(NS_KEY, c.db, c.key) });
    if (dbs[c.db].expires.has(c.key)) stale.push({ type: 'del', key: storeKey(NS_EXPIRE, c.db, c.key) });
    dbs[c.db].remove(c.key);
  }
  return { dbs, nextGen: Math.max(maxGen, scan.maxGen) + 1, orphans: scan.orphans, stale, expired };
}
