// Active expiry: each run of the server's periodic work (cron.ts, ten times
// a second by default) scans each database's expiry times in rounds,
// continuing where the last round stopped, and the keys whose time has
// passed are deleted in the server's next batch, durably. As in Redis's
// activeExpireCycle, a database gets another round while more than a tenth
// of the entries a round looked at were due, until the cycle's time is
// spent: keys that expire faster than one round a cycle clears are still
// deleted as fast as they expire, not left to pile up in the store. Lazy
// expiry (a key found expired when a command reads it) is the keyspace's;
// both delete durably, so an expired key never comes back.
import { performance } from 'node:perf_hooks';

import type { RespServer } from './server';

/** Expiry entries a round looks at. */
const ROUND = 200;
/** Another round while more than one in this many of a round's entries was due (Redis: 10%). */
const STALE = 10;
/** A cycle's time at the default ten cycles a second: 25% of the CPU, as Redis's slow cycle takes. */
const CYCLE_MS = 25;
/** The deletes a cycle leaves for one batch, at most: the batch is one record in the store. */
const PENDING_BYTES = 1024 * 1024;

export class ActiveExpiry {
  /** Set by DEBUG SET-ACTIVE-EXPIRE 0. */
  enabled = true;
  /** The clock of a cycle's time, in ms (a test stops it). */
  clock: () => number = () => performance.now();

  constructor(readonly server: RespServer) {}

  /**
   * One cycle. `share`: the part of a tenth of a second's work this cycle
   * takes (a server running its cycles more often than ten times a second
   * gives each one less time).
   * @returns keys deleted
   */
  cycle(share = 1): number {
    // A paused dataset stays as it is (CLIENT PAUSE): no key is deleted until the pause ends.
    if (!this.enabled || this.server.closed || this.server.pause.type !== null) return 0;
    const ks = this.server.keyspace;
    const deadline = this.clock() + CYCLE_MS * share;
    let n = 0;
    for (let db = 0; db < ks.databases; db++) {
      // A database with no expiry left has no average time to live (INFO's avg_ttl), as in Redis.
      if (ks.dbs[db].expires.size === 0) ks.dbs[db].avgTtl = 0;
      while (ks.dbs[db].expires.size > 0) {
        const r = ks.expireRound(db, ROUND);
        n += r.deleted;
        if (r.due * STALE <= r.seen || this.clock() >= deadline || ks.pendingBytes >= PENDING_BYTES) break;
      }
    }
    // The deletes go into the next batch, committed at the end of this turn.
    if (n > 0) this.server.scheduleFlush();
    return n;
  }
}
