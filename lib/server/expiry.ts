// Active expiry: ten times a second, each database's expiry times are
// scanned (a bounded number per cycle, continuing where the last stopped),
// and the keys whose time has passed are deleted in the server's next
// batch, durably. Lazy expiry (a key found expired when a command reads it)
// is the keyspace's; both delete durably, so an expired key never comes back.
import type { RespServer } from './server';

/** Expiry entries looked at per database and cycle, and keys deleted at most. */
const BUDGET = 2000;
const LIMIT = 500;
const PERIOD_MS = 100;

export class ActiveExpiry {
  #timer: NodeJS.Timeout | null = null;
  /** Set by DEBUG SET-ACTIVE-EXPIRE 0. */
  enabled = true;

  constructor(readonly server: RespServer) {}

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.cycle(), PERIOD_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One cycle. @returns keys deleted */
  cycle(): number {
    if (!this.enabled || this.server.closed) return 0;
    const ks = this.server.keyspace;
    let n = 0;
    for (let db = 0; db < ks.databases; db++) {
      if (ks.dbs[db].expires.size > 0) n += ks.expireCycle(db, BUDGET, LIMIT);
    }
    // The deletes go into the next batch, committed at the end of this turn.
    if (n > 0) this.server.scheduleFlush();
    return n;
  }
}
