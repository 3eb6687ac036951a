// The keyspace's records on the store (docs/formats.md, "pmem serve
// keyspace"): the namespace byte that starts every store key, the database
// byte after it, and a value's type byte.
import { MAX_VALUE } from '../kv/format';
import { COLLECTION_NAMES } from './collections';

/** The first byte of every store key: what kind of record it is. */
export const NS_KEY = 0x6b; // 'k': a key and its value: [type byte][payload]
export const NS_EXPIRE = 0x78; // 'x': a key's expiry time: 8 bytes, ms since the epoch (float64 LE)

/** A value's type byte; the values of TYPE. Other types add their byte and records here. */
export const TYPE_STRING = 0x73; // 's'
/** The largest string value: a KV store value holds its type byte before it. */
export const MAX_STRING = MAX_VALUE - 1;
export const TYPE_NAMES: Record<number, string> = { [TYPE_STRING]: 'string', ...COLLECTION_NAMES };

/**
 * The record that marks a store as pmem serve's keyspace, written when the
 * keyspace is first loaded from it. Its key starts with a byte no
 * namespace above uses, so no scan of the keyspace meets it.
 */
export const MARKER_KEY = '\u0000pmem serve keyspace';
export const MARKER_VALUE = '1';

/** Bytes of a store key before the user's key: namespace and database. */
export const KEY_PREFIX = 2;

/** The store key of `key` in namespace `ns` of database `db`. */
export function storeKey(ns: number, db: number, key: string): string {
  return String.fromCharCode(ns, db) + key;
}
