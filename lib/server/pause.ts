// CLIENT PAUSE and CLIENT UNPAUSE, as Redis 7.0's (networking.c,
// pauseClients; server.c, processCommand): for a while, clients' commands
// are postponed, every command (ALL) or only those that write or publish
// (WRITE), and the dataset stays as it is: due keys read as absent but are
// not deleted, and the active expiry cycle waits. An operator pauses
// writes before a failover (docs/server.md, "Replicas"), so that the
// backup holds every acknowledged write when it is promoted.
//
// A postponed client keeps its request (`Client.postponed`) and the ones
// after it in its parser; at the pause's end (its time, or CLIENT UNPAUSE)
// the postponed clients run again in the order they were postponed, and
// each may be postponed again by a pause that is still on.
import { ReplyError, type Client } from './client';
import type { Command } from './commands/types';

export type PauseType = 'write' | 'all';

/**
 * The commands Redis 7.0 flags may-replicate among pmem serve's, which a
 * WRITE pause postpones with the writes: PUBLISH and SPUBLISH add to the replication
 * stream in Redis, and PFCOUNT may write the cardinality it caches.
 */
const MAY_REPLICATE: ReadonlySet<string> = new Set(['publish', 'spublish', 'function', 'pfcount']);

/** Whether a WRITE pause postpones `cmd`: a write, a may-replicate command, or an EXEC of a queue holding one. */
export function writes(cmd: Command, queued: readonly Buffer[][] | null, find: (name: Buffer) => Command | undefined): boolean {
  if (cmd.flags.includes('write') || MAY_REPLICATE.has(cmd.name)) return true;
  if (cmd.name !== 'exec' || queued === null) return false;
  return queued.some((argv) => {
    const q = find(argv[0]);
    return q !== undefined && (q.flags.includes('write') || MAY_REPLICATE.has(q.name));
  });
}

/** setTimeout's longest delay: a pause that ends later re-arms. */
const MAX_DELAY = 2 ** 31 - 1;

export class ClientPause {
  #type: PauseType | null = null;
  /** When the pause ends (ms since the epoch). */
  #end = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Postponed clients, in the order they were postponed. */
  readonly #postponed = new Set<Client>();
  /** Runs the postponed clients again once the pause is over (server.ts). */
  onEnd: (clients: Client[]) => void = () => {};

  /** The time in ms since the epoch (a test sets another clock). */
  clock: () => number = Date.now;

  /** The pause in force, or null (one whose time has passed is ended here). */
  get type(): PauseType | null {
    if (this.#type !== null && this.#end <= this.clock()) this.#finish();
    return this.#type;
  }

  get postponedClients(): number {
    return this.#postponed.size;
  }

  /**
   * CLIENT PAUSE: pauses for `ms` from now. A pause already on keeps the
   * later end and the stricter type (ALL over WRITE), as Redis's does.
   */
  pause(ms: number, type: PauseType): void {
    const end = this.clock() + ms;
    if (this.type === null) {
      this.#type = type;
      this.#end = end;
    } else {
      if (type === 'all') this.#type = 'all';
      this.#end = Math.max(this.#end, end);
    }
    // A pause of 0 ms is over before any command can be postponed.
    if (this.#end <= this.clock()) this.#finish();
    else this.#arm();
  }

  /** CLIENT UNPAUSE: ends the pause now (nothing when none is on). */
  unpause(): void {
    if (this.#type !== null) this.#finish();
  }

  /** Whether `c`'s command `cmd` waits for the end of the pause in force. QUIT never does, as in Redis. */
  holds(cmd: Command, c: Client, find: (name: Buffer) => Command | undefined): boolean {
    const t = this.type;
    if (t === null || cmd.name === 'quit') return false;
    return t === 'all' || writes(cmd, c.multi, find);
  }

  /** Postpones `c` with its request `argv`: it runs again when the pause ends. */
  postpone(c: Client, argv: Buffer[]): void {
    c.postponed = argv;
    this.#postponed.add(c);
  }

  /** Forgets a client that is gone. */
  drop(c: Client): void {
    this.#postponed.delete(c);
  }

  isPostponed(c: Client): boolean {
    return this.#postponed.has(c);
  }

  /** Stops the timer (the server closes). */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.checkEnd();
    }, Math.min(Math.max(this.#end - this.clock(), 1), MAX_DELAY));
    this.#timer.unref();
  }

  /** The timer's call: ends the pause when its time has come, else waits again (a pause past setTimeout's reach). */
  checkEnd(): void {
    if (this.type !== null) this.#arm();
  }

  #finish(): void {
    this.#type = null;
    this.#end = 0;
    this.close();
    const clients = [...this.#postponed];
    this.#postponed.clear();
    if (clients.length > 0) this.onEnd(clients);
  }
}

/** CLIENT PAUSE's arguments: a timeout in ms (Redis's getTimeoutFromObjectOrReply) and WRITE or ALL. */
export function pauseArgs(argv: Buffer[], now: number, toInt: (b: Buffer) => bigint | null): { ms: number; type: PauseType } {
  let type: PauseType = 'all';
  if (argv.length === 4) {
    const w = argv[3].toString('latin1').toLowerCase();
    if (w === 'write') type = 'write';
    else if (w !== 'all') throw new ReplyError('ERR CLIENT PAUSE mode must be WRITE or ALL');
  }
  const ms = toInt(argv[2]);
  if (ms === null) throw new ReplyError('ERR timeout is not an integer or out of range');
  if (ms < 0n) throw new ReplyError('ERR timeout is negative');
  if (ms > 2n ** 63n - 1n - BigInt(now)) throw new ReplyError('ERR timeout is out of range');
  return { ms: Number(ms), type };
}
