// The server's periodic work, as Redis's serverCron: `hz` times a second
// (10 by default; CONFIG SET hz, 1 to 500) a cycle of active expiry, and
// INFO's memory peak taken, and once a second the check for idle clients
// (CONFIG SET timeout) and for clients held past their output soft limit.
// One timer
// for the whole server, started by listen() and stopped by close(): no
// client has a timer of its own.
import type { Client } from './client';
import { usedMemory } from './memory';
import type { RespServer } from './server';

export const DEFAULT_HZ = 10;
/** Redis's CONFIG_MIN_HZ and CONFIG_MAX_HZ: a value set past them is taken as the nearer one. */
const MIN_HZ = 1;
const MAX_HZ = 500;
/** Each client is looked at once a second for being idle, as Redis's clientsCron goes through them all in a second. */
const CLIENTS_CHECK_MS = 1000;

export class ServerCron {
  #timer: NodeJS.Timeout | null = null;
  #hz = DEFAULT_HZ;
  #clientsChecked = 0;

  constructor(readonly server: RespServer) {}

  get hz(): number {
    return this.#hz;
  }

  /** Sets the frequency, taken into 1..500 as Redis's updateHZ does; a running timer is restarted at it. */
  set hz(n: number) {
    this.#hz = Math.min(MAX_HZ, Math.max(MIN_HZ, n));
    if (this.#timer !== null) {
      this.stop();
      this.start();
    }
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.tick(), 1000 / this.#hz);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One run: an active expiry cycle; the idle clients closed when a second has passed since they were last looked at. */
  tick(now = Date.now()): void {
    if (this.server.closed) return;
    // A cycle's share of the expiry work of a second: the same work a second whatever hz is,
    // as Redis's cycle takes a share of its CPU time (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC / hz).
    this.server.expiry.cycle(DEFAULT_HZ / this.#hz);
    this.server.memoryPeak.see(usedMemory().used);
    // A clock set back is a second passed too: the check must not wait for the clock to catch up.
    if (now - this.#clientsChecked >= CLIENTS_CHECK_MS || now < this.#clientsChecked) {
      this.#clientsChecked = now;
      for (const c of idleClients(this.server, now)) this.server.kill(c);
      // A client held at its soft limit that nobody writes to is closed
      // once its seconds pass, as Redis's clientsCron closes it.
      for (const c of [...this.server.clients.values()]) {
        if (c.softLimitSince === 0 || c.closed) continue;
        const over = this.server.outputLimits.check(c, c.socket.writableLength, now);
        if (over !== null) {
          this.server.log(`client ${c.id} (${c.addr}) closed: ${over}`);
          this.server.kill(c);
        }
      }
    }
  }
}

/**
 * The clients idle for more than the server's `timeout` seconds, which
 * Redis's clientsCronHandleTimeout closes: idle is the time since the
 * client's last request bytes were read or replies written (Redis's
 * lastinteraction). Never idle, as in Redis: a blocked client (its command
 * has a timeout of its own), one a CLIENT PAUSE postponed, and a pub/sub
 * subscriber. Never idle here
 * either: a client with replies not yet all written out (queued, waiting
 * for the backups' round, or in the socket's buffer): closing it would
 * lose a reply, an acknowledged write's too. pmem serve has no replica or
 * MONITOR clients (its backups are connections it makes itself).
 */
export function idleClients(s: RespServer, now: number): Client[] {
  if (s.timeout === 0) return [];
  const limit = s.timeout * 1000;
  const out: Client[] = [];
  for (const c of s.clients.values()) {
    if (c.closed || c.closing || s.blocking.isBlocked(c) || s.pause.isPostponed(c) || c.subscriptions > 0) continue;
    if (!c.out.empty || c.awaitingRound > 0 || c.socket.writableLength > 0) continue;
    if (now - c.lastActive > limit) out.push(c);
  }
  return out;
}
