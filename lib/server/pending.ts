// The keyspace's writes that the store has not seen yet: the current
// batch (the turn's writes, by store key), and with a replicated store the
// rounds sent to the journal and not yet applied. Reads look through both,
// newest first, before they read the store.
import type { KVStore } from '../kv/store';
import { OPS_HEADER, opBytes } from '../replicated/ops';

/**
 * What the keyspace is loaded from (keyspace-load.ts): the store, or the
 * store as the rounds in flight leave it (PendingWrites.over).
 */
export interface KeyspaceSource {
  has(key: string): boolean;
  readonly count: number;
  unordered(prefix: Buffer | undefined, options?: { encoding?: 'buffer' }): IterableIterator<[Buffer, Buffer]>;
  unordered(prefix: Buffer | undefined, options: { encoding: 'latin1' }): IterableIterator<[string, string]>;
}

/** A write of the batch: the value, or null for a delete. */
type Writes = Map<string, Buffer | null>;

export class PendingWrites {
  /** Writes not yet in the store, by store key (latin1). */
  #batch: Writes = new Map();
  #bytes = 0;
  /** Rounds sent to a replicated journal and not yet in the store, oldest first. */
  #inflight: Array<{ id: number; writes: Writes }> = [];
  #rounds = 0;
  #written = 0;

  /** Writes made so far, ever (it only grows): a command that changed it has written. */
  get written(): number {
    return this.#written;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#batch.size;
  }

  write(sk: string, v: Buffer | null): void {
    this.#written++;
    this.#batch.set(sk, v);
    this.#bytes += sk.length + (v === null ? 0 : v.length);
  }

  /** The pending value of `sk`: a Buffer, null when deleted, undefined when the store's is current. */
  read(sk: string): Buffer | null | undefined {
    const p = this.#batch.get(sk);
    if (p !== undefined) return p;
    for (let i = this.#inflight.length - 1; i >= 0; i--) {
      const f = this.#inflight[i].writes.get(sk);
      if (f !== undefined) return f;
    }
    return undefined;
  }

  /** The batch, by store key (KVStore.writeDistinct's form); clear() empties it. */
  get writes(): ReadonlyMap<string, Buffer | null> {
    return this.#batch;
  }

  /** The batch as one round of a replicated store; it stays readable until `appliedThrough(id)`. */
  takeRound(): { id: number; ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> } {
    const ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> = [];
    for (const [k, v] of this.#batch) {
      const key = Buffer.from(k, 'latin1');
      ops.push(v === null ? { type: 'del', key } : { type: 'put', key, value: v });
    }
    const id = ++this.#rounds;
    this.#inflight.push({ id, writes: this.#batch });
    this.#batch = new Map();
    this.#bytes = 0;
    return { id, ops };
  }

  /** The store has applied every round up to `id`: reads of them go to the store again. */
  appliedThrough(id: number): void {
    while (this.#inflight.length > 0 && this.#inflight[0].id <= id) this.#inflight.shift();
  }

  /** The bytes of the batch as one journal record of a replicated store (encodeOps of takeRound's ops). */
  get recordBytes(): number {
    let n = OPS_HEADER;
    for (const [k, v] of this.#batch) n += opBytes(k.length, v === null ? null : v.length);
    return n;
  }

  /**
   * `store` with the rounds in flight applied over it, oldest first: what
   * DRAM is rebuilt from when the batch is dropped (a rollback), since the
   * store applies those rounds only once the backups have them. The store
   * itself when none is in flight. Read at once: the rounds may be applied
   * at the next turn.
   */
  over(store: KVStore): KeyspaceSource {
    if (this.#inflight.length === 0) return store;
    const writes = new Map<string, Buffer | null>();
    for (const r of this.#inflight) for (const [k, v] of r.writes) writes.set(k, v);
    function unordered(prefix: Buffer | undefined, options?: { encoding?: 'buffer' }): IterableIterator<[Buffer, Buffer]>;
    function unordered(prefix: Buffer | undefined, options: { encoding: 'latin1' }): IterableIterator<[string, string]>;
    function* unordered(prefix: Buffer | undefined, options: { encoding?: 'buffer' | 'latin1' } = {}): IterableIterator<[Buffer, Buffer] | [string, string]> {
      const latin1 = options.encoding === 'latin1';
      const p = prefix === undefined ? '' : prefix.toString('latin1');
      for (const [k, v] of store.unordered(prefix, { encoding: 'latin1' })) {
        if (writes.has(k)) continue; // a round in flight wrote it: below
        yield latin1 ? [k, v] : [Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1')];
      }
      for (const [k, v] of writes) {
        if (v === null || !k.startsWith(p)) continue;
        yield latin1 ? [k, v.toString('latin1')] : [Buffer.from(k, 'latin1'), v];
      }
    }
    return {
      has: (key) => {
        const v = writes.get(key);
        return v === undefined ? store.has(storeArg(key)) : v !== null;
      },
      get count() {
        let n = store.count;
        for (const [k, v] of writes) {
          const there = store.has(storeArg(k));
          if (v === null && there) n--;
          else if (v !== null && !there) n++;
        }
        return n;
      },
      unordered,
    };
  }

  /** Drops the batch (not the rounds in flight). */
  clear(): void {
    // A new map, not Map.clear(): V8 links a cleared table to the one that
    // replaces it. Once a table is in the old generation (a young collection
    // came while its batch was pending), that link, dead or not, keeps every
    // later table and the values they hold alive through young collections
    // until a full one: under load every SET's value was promoted.
    this.#batch = new Map();
    this.#bytes = 0;
  }
}

/**
 * A store key (latin1) as KVStore takes it: an ASCII string is its own
 * bytes and goes as it is; any other is passed as its bytes (KVStore
 * would read a string as UTF-8).
 */
export function storeArg(sk: string): string | Buffer {
  return isAscii(sk) ? sk : Buffer.from(sk, 'latin1');
}

/** Whether every char of `s` is below 0x80; short strings by a loop (no call into C++ per key). */
function isAscii(s: string): boolean {
  const n = s.length;
  if (n > 64) return Buffer.byteLength(s, 'utf8') === n;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
