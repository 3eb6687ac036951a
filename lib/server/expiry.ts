// Active expiry: each run of the server's periodic work (cron.ts, ten times
// a second by default) scans each database's expiry times (a bounded number
// per cycle, continuing where the last stopped), and the keys whose time
// has passed are deleted in the server's next batch, durably. Lazy expiry
// (a key found expired when a command reads it) is the keyspace's; both
// delete durably, so an expired key never comes back.
import type { RespServer } from './server';

/** Expiry entries looked at per database and cycle, and keys deleted at most, at the default ten cycles a second. */
const BUDGET = 2000;
const LIMIT = 500;

export class ActiveExpiry {
  /** Set by DEBUG SET-ACTIVE-EXPIRE 0. */
  enabled = true;

  constructor(readonly server: RespServer) {}

  /**
   * One cycle. `share`: the part of the budgets above this cycle takes (a
   * server running its cycles more often than ten times a second gives
   * each one less).
   * @returns keys deleted
   */
  cycle(share = 1): number {
    if (!this.enabled || this.server.closed) return 0;
    const ks = this.server.keyspace;
    const budget = Math.max(1, Math.round(BUDGET * share));
    const limit = Math.max(1, Math.round(LIMIT * share));
    let n = 0;
    for (let db = 0; db < ks.databases; db++) {
      if (ks.dbs[db].expires.size > 0) n += ks.expireCycle(db, budget, limit);
    }
    // The deletes go into the next batch, committed at the end of this turn.
    if (n > 0) this.server.scheduleFlush();
    return n;
  }
}
