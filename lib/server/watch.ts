// WATCH: which clients watch which keys, and the marks that make their EXEC
// fail when a watched key changes or expires.
import type { Client } from './client';
import type { Keyspace } from './keyspace';

export class Watches {
  /** WATCHed keys (`${db}:${key}`) and who watches them. */
  readonly watchers = new Map<string, Set<Client>>();

  constructor(readonly keyspace: Keyspace) {}

  /** A key changed: every client watching it gets its EXEC failed. */
  touch(db: number, key: string): void {
    if (this.watchers.size === 0) return; // nobody WATCHes: every write skips building the key's id
    const id = `${db}:${key}`;
    const set = this.watchers.get(id);
    if (set === undefined) return;
    const gone = this.keyspace.dbs[db].type(key) === undefined;
    for (const c of set) {
      // A key already expired when watched, now deleted: logically no change (as Redis 7.0).
      // It is watched as an absent key from now on.
      if (c.watched.get(id) === true && gone) c.watched.set(id, false);
      else c.dirty = true;
    }
  }

  watch(c: Client, db: number, key: string): void {
    const id = `${db}:${key}`;
    if (c.watched.has(id)) return;
    // Whether the key was already past its time (a stale key): such a key expiring later does not fail EXEC.
    const at = this.keyspace.dbs[db].expires.get(key);
    c.watched.set(id, at !== undefined && at <= this.keyspace.now());
    let set = this.watchers.get(id);
    if (set === undefined) this.watchers.set(id, (set = new Set()));
    set.add(c);
  }

  /** Whether a key `c` watched while it was live has expired since (EXEC then fails). */
  expired(c: Client, id: string): boolean {
    if (c.watched.get(id) !== false) return false;
    const colon = id.indexOf(':');
    const at = this.keyspace.dbs[Number(id.slice(0, colon))].expires.get(id.slice(colon + 1));
    return at !== undefined && at <= this.keyspace.now();
  }

  unwatchAll(c: Client): void {
    for (const id of c.watched.keys()) {
      const set = this.watchers.get(id);
      set?.delete(c);
      if (set?.size === 0) this.watchers.delete(id);
    }
    c.watched.clear();
    c.dirty = false;
  }
}
