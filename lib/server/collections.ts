// Collections of the keyspace (hashes, sets, lists, sorted sets): how their
// records look in the store, the registry of their DRAM structures, the scan
// that rebuilds them at open, and the queue of dead element records.
//
// A collection key has a META record under its NS_KEY store key:
// [type byte][u64 generation, big-endian]. Each element is a record of its
// own: 'e' + generation + element id → payload. The generation is unique
// per creation of a collection key (a global counter), so the elements of a
// key are found by generation alone: RENAME and MOVE rewrite only the META,
// and DEL writes only the META's delete. The elements of a generation with
// no live META are garbage, deleted later in bounded batches (lazy free).
// See docs/formats.md, "pmem serve keyspace".
//
// A type plugs in with registerType() when its command module loads (before
// any store opens). Its commands use the Keyspace: collection() (WRONGTYPE
// checked) or createCollection() before any write, then change the DRAM
// structure and write each changed element with putElement() or
// deleteElement() (all in the command's batch), and end with
// deleteIfEmpty(). addWriteListener() tells when a key gets elements
// (blocking commands wake on it).
import type { KeyspaceSource } from './pending';
import { ReplyError, WRONGTYPE } from './client';
import type { Members } from './members';

/** The namespace byte of element records: 'e', generation (8 bytes), element id. */
export const NS_ELEMENT = 0x65;

/** Type bytes of the collections. */
export const TYPE_HASH = 0x68; // 'h'
export const TYPE_SET = 0x53; // 'S'
export const TYPE_LIST = 0x6c; // 'l'
export const TYPE_ZSET = 0x7a; // 'z'
export const COLLECTION_TYPES: ReadonlySet<number> = new Set([TYPE_HASH, TYPE_SET, TYPE_LIST, TYPE_ZSET]);

/** Bytes of a META record: type byte and generation. */
export const META_BYTES = 9;
/** Bytes of an element's store key before its id: namespace and generation. */
export const ELEMENT_PREFIX = 9;

/** A live collection: its key, generation, and the type's DRAM structure. */
export interface Collection<T = unknown> {
  /** Where it lives now (RENAME and MOVE change these). */
  db: number;
  key: string;
  readonly type: number;
  readonly gen: number;
  readonly data: T;
}

/**
 * What the keyspace needs to know of a collection type's DRAM structure.
 * Element ids are latin1 strings of their bytes; payloads are Buffers.
 */
export interface CollectionType<T> {
  type: number;
  /** TYPE's reply. */
  name: string;
  /** An empty structure. */
  create(): T;
  /**
   * Adds one element read from the store. At open, the elements of a
   * collection arrive in id byte order, unless `ordered` is false.
   */
  load(data: T, id: string, payload: Buffer): void;
  /**
   * load() with the payload as a one-byte string of its bytes; when present,
   * the open calls it instead of load() (no Buffer is made per element).
   */
  loadLatin1?(data: T, id: string, payload: string): void;
  /** False when the elements may be loaded in any order (hashes, sets): the open then sorts nothing. Default true. */
  ordered?: boolean;
  size(data: T): number;
  /** OBJECT ENCODING's reply, as Redis would report it for this size. */
  encoding(data: T): string;
  /** Every element as its store record would hold it, in id order for an ordered type: COPY writes these and load()s its copy with them. */
  elements(data: T): Iterable<[string, Buffer]>;
  /** Every element id (lazy free walks the ids of a dead collection). */
  ids(data: T): Iterable<string>;
  /** The slots a *SCAN walks, for a type that has one (hashes, sets, zsets): a rebuild keeps their order (Dict.followOrder). */
  members?(data: T): Members<unknown>;
}

const TYPES = new Map<number, CollectionType<unknown>>();

/** Names of every type, by type byte, for TYPE and SCAN TYPE (the keyspace adds 'string'). */
export const COLLECTION_NAMES: Record<number, string> = {
  [TYPE_HASH]: 'hash',
  [TYPE_SET]: 'set',
  [TYPE_LIST]: 'list',
  [TYPE_ZSET]: 'zset',
};

/** Registers the DRAM structure of a collection type; every type found in a store must be registered before it opens. */
export function registerType<T>(t: CollectionType<T>): void {
  if (!COLLECTION_TYPES.has(t.type)) throw new RangeError(`type byte ${t.type} is not a collection type`);
  TYPES.set(t.type, t as CollectionType<unknown>);
}

/** The registered structure of `type`. @throws Error when none is registered (opening would lose its elements) */
export function typeOf(type: number): CollectionType<unknown> {
  const t = TYPES.get(type);
  if (t === undefined) throw new Error(`no structure is registered for collection type ${String.fromCharCode(type)}`);
  return t;
}

/** Throws WRONGTYPE unless `actual` (a live key's type, or undefined for none) is `want` or absent. */
export function checkType(actual: number | undefined, want: number): void {
  if (actual !== undefined && actual !== want) throw new ReplyError(WRONGTYPE);
}

const TWO32 = 2 ** 32;

/** A generation (below 2^53) as the 8 latin1 chars of its big-endian u64. */
export function genChars(gen: number): string {
  const hi = Math.floor(gen / TWO32);
  const lo = gen % TWO32;
  return u32Chars(hi) + u32Chars(lo);
}

function u32Chars(n: number): string {
  return String.fromCharCode(Math.floor(n / 0x1000000) % 256, Math.floor(n / 0x10000) % 256, Math.floor(n / 0x100) % 256, n % 256);
}

/** Reads an 8-byte big-endian u64 (below 2^53) from the one-byte string `s` at `off`. */
export function genOfChars(s: string, off: number): number {
  let n = 0;
  for (let i = 0; i < 8; i++) n = n * 256 + s.charCodeAt(off + i);
  return n;
}

/** The store key (latin1) of element `id` of generation `gen`. */
export function elementKey(gen: number, id: string): string {
  return String.fromCharCode(NS_ELEMENT) + genChars(gen) + id;
}

/** The META payload (after the type byte) of generation `gen`. */
export function metaPayload(gen: number): Buffer {
  return Buffer.from(genChars(gen), 'latin1');
}

/**
 * An element id for an integer position (within ±2^53) whose byte order is
 * the numbers' order: big-endian u64 of pos + 2^63.
 */
export function positionId(pos: number): string {
  const hi = Math.floor(pos / TWO32);
  return u32Chars(hi + 2 ** 31) + u32Chars(pos - hi * TWO32);
}

/** The position of a `positionId`. */
export function idPosition(id: string): number {
  const hi = ((id.charCodeAt(0) * 256 + id.charCodeAt(1)) * 256 + id.charCodeAt(2)) * 256 + id.charCodeAt(3) - 2 ** 31;
  const lo = ((id.charCodeAt(4) * 256 + id.charCodeAt(5)) * 256 + id.charCodeAt(6)) * 256 + id.charCodeAt(7);
  return hi * TWO32 + lo;
}

/**
 * The open's one pass over the element records, in no particular order
 * (KVStore.unordered: no sort of every key): each goes to the live
 * collection of its generation in `byGen`, or, when its generation has no
 * live META, to the orphans. Elements of an ordered type are gathered and
 * given to it sorted by id, collection by collection.
 */
export function scanElements(
  store: KeyspaceSource, byGen: ReadonlyMap<number, Collection>,
): { orphans: string[]; maxGen: number; records: number; malformed: string | undefined } {
  const orphans: string[] = [];
  let records = 0;
  let malformed: string | undefined;
  const gathered = new Map<Collection, [string, string][]>();
  let maxGen = 0;
  let gen = -1;
  let cur: Collection | undefined;
  let type: CollectionType<unknown> | undefined;
  let list: [string, string][] | undefined;
  for (const [k, v] of store.unordered(Buffer.from([NS_ELEMENT]), { encoding: 'latin1' })) {
    records++;
    // A key too short for a generation, or a generation of 2^53 or more
    // (none that the counter reaches: an 'e' key of another writer, whose
    // next bytes are text), is no element: the caller refuses the store.
    const g = k.length < ELEMENT_PREFIX ? Infinity : genOfChars(k, 1);
    if (g > Number.MAX_SAFE_INTEGER - 1) {
      malformed ??= k;
      continue;
    }
    if (g !== gen) {
      gen = g;
      cur = byGen.get(g);
      type = cur === undefined ? undefined : typeOf(cur.type);
      list = undefined;
      if (cur !== undefined && type?.ordered !== false) {
        list = gathered.get(cur);
        if (list === undefined) gathered.set(cur, (list = []));
      }
      if (g > maxGen) maxGen = g;
    }
    if (cur === undefined || type === undefined) orphans.push(k);
    else if (list !== undefined) list.push([k.slice(ELEMENT_PREFIX), v]);
    else loadOne(type, cur.data, k.slice(ELEMENT_PREFIX), v);
  }
  for (const [c, els] of gathered) {
    const t = typeOf(c.type);
    // One-byte strings compare as their bytes do.
    els.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [id, payload] of els) loadOne(t, c.data, id, payload);
  }
  return { orphans, maxGen, records, malformed };
}

function loadOne(t: CollectionType<unknown>, data: unknown, id: string, payload: string): void {
  if (t.loadLatin1 !== undefined) t.loadLatin1(data, id, payload);
  else t.load(data, id, Buffer.from(payload, 'latin1'));
}

/**
 * Element records to delete: those of dead collections (walked lazily from
 * their DRAM structure, which nothing changes any more) and those found
 * orphaned at open.
 */
export class Garbage {
  #queue: Iterator<string>[] = [];
  /** Collections (or open's orphan lists) waiting: INFO's lazyfree_pending_objects. */
  get pending(): number {
    return this.#queue.length;
  }
  /** Element records deleted so far. */
  freed = 0;

  /** Queues the elements of a collection that just died. */
  add(c: Collection): void {
    const gen = c.gen;
    const ids = typeOf(c.type).ids(c.data);
    this.#queue.push(
      (function* keys() {
        for (const id of ids) yield elementKey(gen, id);
      })(),
    );
  }

  /** Queues store keys (latin1) found orphaned. */
  addKeys(keys: string[]): void {
    if (keys.length > 0) this.#queue.push(keys[Symbol.iterator]());
  }

  /** Up to `limit` store keys to delete next. */
  take(limit: number): string[] {
    const out: string[] = [];
    while (out.length < limit && this.#queue.length > 0) {
      const r = this.#queue[0].next();
      if (r.done === true) this.#queue.shift();
      else out.push(r.value);
    }
    this.freed += out.length;
    return out;
  }

  clear(): void {
    this.#queue.length = 0;
  }
}
