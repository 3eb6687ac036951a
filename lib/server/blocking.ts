// Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...), as Redis's
// blocked.c: each key has a queue of waiters in the order they blocked.
// A command that gives a key elements signals it; after every top-level
// command (an EXEC counts as one) the server calls `serveReady()`, which
// offers each signalled key to its waiters in the order they blocked. A
// served waiter's pop is a write in the same pending batch, and its reply
// is queued like any other: it goes out only after the group commit has
// made the pop durable.
import { isRefusal, ReplyError, type Client } from './client';
import { strtod } from './commands/args';
import type { RespServer } from './server';

/** A blocked client's pending command. */
export interface Waiter {
  readonly client: Client;
  readonly db: number;
  readonly keys: string[];
  /** Tries the command on `key`; writes the reply (a result or an error) and returns true when done. */
  serve(key: string): boolean;
  /** Writes the reply of a timeout. */
  timedOut(): void;
}

interface Blocked {
  waiter: Waiter;
  timer: NodeJS.Timeout | null;
}

const id = (db: number, key: string): string => `${db}:${key}`;

/** Whether `c` has disconnected: its socket ended (the peer's FIN read), was destroyed, or the server dropped it. */
function gone(c: Client): boolean {
  return c.closed || c.socket.readableEnded || c.socket.destroyed;
}

export class Blocking {
  #byKey = new Map<string, Waiter[]>();
  #byClient = new Map<Client, Blocked>();
  /** Signalled keys with waiters, in signal order. */
  #ready = new Set<string>();
  #serving = false;
  /** Called when a client is unblocked, to send its reply and run its next requests. */
  onUnblock: (c: Client) => void = () => {};

  get blockedClients(): number {
    return this.#byClient.size;
  }

  /** Keys that have waiters. */
  get blockingKeys(): number {
    return this.#byKey.size;
  }

  isBlocked(c: Client): boolean {
    return this.#byClient.has(c);
  }

  /** Blocks `w.client` on its keys; `timeoutMs` 0 waits forever. */
  block(w: Waiter, timeoutMs: number): void {
    for (const k of new Set(w.keys)) {
      const i = id(w.db, k);
      let q = this.#byKey.get(i);
      if (q === undefined) this.#byKey.set(i, (q = []));
      q.push(w);
    }
    const b: Blocked = { waiter: w, timer: null };
    if (timeoutMs > 0) {
      const deadline = Date.now() + timeoutMs;
      // setTimeout takes at most 2^31 - 1 ms; a longer wait re-arms.
      const arm = (): void => {
        b.timer = setTimeout(() => {
          if (this.#byClient.get(w.client) !== b) return;
          if (Date.now() < deadline) {
            arm();
            return;
          }
          this.#remove(w.client);
          w.timedOut();
          this.onUnblock(w.client);
        }, Math.min(Math.max(deadline - Date.now(), 1), 2 ** 31 - 1));
      };
      arm();
    }
    this.#byClient.set(w.client, b);
  }

  /** Whether a signalled key waits for serveReady. */
  get signalled(): boolean {
    return this.#ready.size > 0;
  }

  /** A key got elements (or a new value): its waiters get a chance after the current command. */
  signal(db: number, key: string): void {
    const i = id(db, key);
    if (this.#byKey.has(i)) this.#ready.add(i);
  }

  /**
   * Serves waiters of signalled keys, first blocked first, until each key
   * runs dry. Serving may signal more keys (BLMOVE's destination); they are
   * served in the same call.
   */
  serveReady(): void {
    this.#serving = true;
    try {
      this.#serveReady();
    } finally {
      this.#serving = false;
    }
  }

  /**
   * Whether blocked clients are being served: their pops and pushes are
   * writes (a BLMOVE's due destination is deleted as expired, even while
   * clients are paused, before the element is pushed there).
   */
  get serving(): boolean {
    return this.#serving;
  }

  #serveReady(): void {
    while (this.#ready.size > 0) {
      const [i] = this.#ready;
      this.#ready.delete(i);
      const q = this.#byKey.get(i);
      if (q === undefined) continue;
      const key = i.slice(i.indexOf(':') + 1);
      // Every waiter of the key, in the order they blocked; one whose command
      // does not apply (the key holds another type, or ran dry) stays blocked.
      for (const w of q.slice()) {
        if (this.#byClient.get(w.client)?.waiter !== w) continue;
        // A client whose end of the connection has been read is gone, even
        // before its socket's 'close' (which waits for this side's end to be
        // sent): an element popped for it would be lost with its reply.
        if (gone(w.client)) {
          this.#remove(w.client);
          continue;
        }
        if (!w.serve(key)) continue;
        this.#remove(w.client);
        this.onUnblock(w.client);
      }
    }
  }

  #remove(c: Client): Blocked | undefined {
    const b = this.#byClient.get(c);
    if (b === undefined) return undefined;
    this.#byClient.delete(c);
    if (b.timer !== null) clearTimeout(b.timer);
    for (const k of new Set(b.waiter.keys)) {
      const i = id(b.waiter.db, k);
      const q = this.#byKey.get(i);
      if (q === undefined) continue;
      const at = q.indexOf(b.waiter);
      if (at >= 0) q.splice(at, 1);
      if (q.length === 0) {
        this.#byKey.delete(i);
        this.#ready.delete(i);
      }
    }
    return b;
  }

  /** A client that disconnects stops waiting. */
  drop(c: Client): void {
    this.#remove(c);
  }

  /**
   * CLIENT UNBLOCK: ends `c`'s wait as a timeout would, or with `error`.
   * @returns whether it was blocked
   */
  unblock(c: Client, error: string | null): boolean {
    const b = this.#remove(c);
    if (b === undefined) return false;
    if (error === null) b.waiter.timedOut();
    else c.out.error(error);
    this.onUnblock(c);
    return true;
  }
}

/**
 * A blocking command's timeout argument in ms: float seconds (read as
 * getLongDoubleFromObject reads them: strtod's forms, hexadecimal too), 0
 * forever.
 * @returns the ms, or an error text as Redis words it
 */
export function timeoutMs(text: string): number | string {
  const d = text.length === 0 || /^[ \t\n\v\f\r]/.test(text) ? null : strtod(text);
  if (d === null || d.end !== text.length || Number.isNaN(d.value)) return 'ERR timeout is not a float or out of range';
  // Long double holds what underflows a double: such a timeout is the least wait there is, with its sign.
  const secs = d.underflow ? (text.startsWith('-') ? -Number.MIN_VALUE : Number.MIN_VALUE) : d.value;
  if (secs < 0) return 'ERR timeout is negative';
  if (!Number.isFinite(secs)) return 'ERR timeout is out of range';
  const ms = Math.ceil(secs * 1000);
  // Redis takes any wait that its long long of ms holds; past 2^53 ms
  // (285,000 years) it is as long as this process can count.
  if (ms >= 2 ** 63) return 'ERR timeout is out of range';
  return Math.min(ms, 2 ** 53);
}

/**
 * Serves now or blocks: `attempt(key)` runs the command on one key and
 * returns true when it replied; once blocked, a key is tried only when
 * `applies` (it holds the command's type). Inside EXEC a command that
 * would block answers as a timeout at once. A reply error of a served
 * attempt (BLMOVE onto a key of another type) ends the wait with it.
 */
export function blockOrServe(
  s: RespServer,
  c: Client,
  keys: string[],
  timeoutArg: Buffer,
  applies: (s: RespServer, db: number, key: string) => boolean,
  attempt: (key: string) => boolean,
  timedOut: () => void,
): void {
  const ms = timeoutMs(timeoutArg.toString('latin1'));
  if (typeof ms === 'string') throw new ReplyError(ms);
  for (const key of keys) if (attempt(key)) return;
  if (s.dispatch.inExec) {
    timedOut();
    return;
  }
  const db = c.db;
  const w: Waiter = {
    client: c,
    db,
    keys,
    serve: (key) => {
      if (!applies(s, db, key)) return false;
      const written = s.keyspace.writesMade;
      const first = c.out.empty;
      try {
        return attempt(key);
      } catch (e) {
        if (e instanceof ReplyError) c.out.error(e.message);
        else if (!isRefusal(e)) throw e;
        // Refused after its pop was written (BLMOVE's destination): as a
        // request that fails part way (Dispatcher.execute), the turn goes.
        else if (s.keyspace.writesMade !== written) s.dropTurn(c, e, first);
        else c.out.error(`ERR ${e.message}`);
        return true;
      }
    },
    timedOut,
  };
  s.blocking.block(w, ms);
}

