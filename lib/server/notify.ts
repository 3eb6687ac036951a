// Keyspace notifications (CONFIG SET notify-keyspace-events), as Redis 7.0's
// notify.c: an event of a class the flags enable is published on
// `__keyspace@<db>__:<key>` (message: the event) and/or
// `__keyevent@<db>__:<event>` (message: the key).
//
// Durability: an event is not published when it is raised. It waits in the
// queue until the batch holding its write is committed, and goes out with
// that batch's replies (RespServer's flush), in the order the commands raised
// them. A batch that fails to commit drops its events (`drop()`), so no
// subscriber ever hears of a write a crash could take away.
//
// A PUBLISH while events wait joins the queue behind them (`enqueueMessage`),
// so that a subscriber receives messages in the order the commands ran.
//
// With the flags 0 (the default) `raise` is one integer test: nothing is
// built or queued.
import type { Client } from './client';
import type { PubSub } from './pubsub';

// The classes, with Redis's values (server.h NOTIFY_*).
export const NOTIFY_KEYSPACE = 1 << 0; // K
export const NOTIFY_KEYEVENT = 1 << 1; // E
export const NOTIFY_GENERIC = 1 << 2; // g
export const NOTIFY_STRING = 1 << 3; // $
export const NOTIFY_LIST = 1 << 4; // l
export const NOTIFY_SET = 1 << 5; // s
export const NOTIFY_HASH = 1 << 6; // h
export const NOTIFY_ZSET = 1 << 7; // z
export const NOTIFY_EXPIRED = 1 << 8; // x
export const NOTIFY_EVICTED = 1 << 9; // e
export const NOTIFY_STREAM = 1 << 10; // t
export const NOTIFY_KEY_MISS = 1 << 11; // m (not part of A, as in Redis)
export const NOTIFY_MODULE = 1 << 13; // d
export const NOTIFY_NEW = 1 << 14; // n
export const NOTIFY_ALL =
  NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH | NOTIFY_ZSET | NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE;

const CLASSES: Record<string, number> = {
  A: NOTIFY_ALL, g: NOTIFY_GENERIC, $: NOTIFY_STRING, l: NOTIFY_LIST, s: NOTIFY_SET, h: NOTIFY_HASH, z: NOTIFY_ZSET,
  x: NOTIFY_EXPIRED, e: NOTIFY_EVICTED, K: NOTIFY_KEYSPACE, E: NOTIFY_KEYEVENT, t: NOTIFY_STREAM, m: NOTIFY_KEY_MISS,
  d: NOTIFY_MODULE, n: NOTIFY_NEW,
};

/** The flags of a class string (keyspaceEventsStringToFlags). @returns -1 for a character that is no class */
export function parseNotifyFlags(classes: string): number {
  let flags = 0;
  for (const ch of classes) {
    const f = CLASSES[ch];
    if (f === undefined) return -1;
    flags |= f;
  }
  return flags;
}

/** The class string of flags (keyspaceEventsFlagsToString): 'A' for all of A's classes, then K, E, m. */
export function formatNotifyFlags(flags: number): string {
  let s = '';
  if ((flags & NOTIFY_ALL) === NOTIFY_ALL) s += 'A';
  else {
    for (const [ch, f] of [['g', NOTIFY_GENERIC], ['$', NOTIFY_STRING], ['l', NOTIFY_LIST], ['s', NOTIFY_SET], ['h', NOTIFY_HASH],
      ['z', NOTIFY_ZSET], ['x', NOTIFY_EXPIRED], ['e', NOTIFY_EVICTED], ['t', NOTIFY_STREAM], ['d', NOTIFY_MODULE], ['n', NOTIFY_NEW]] as const) {
      if ((flags & f) !== 0) s += ch;
    }
  }
  if ((flags & NOTIFY_KEYSPACE) !== 0) s += 'K';
  if ((flags & NOTIFY_KEYEVENT) !== 0) s += 'E';
  if ((flags & NOTIFY_KEY_MISS) !== 0) s += 'm';
  return s;
}

/** CONFIG SET's message for a bad class string (Redis's). */
export const NOTIFY_FLAGS_ERROR = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/** A queue entry that is a PUBLISH, not an event (no flags are negative). */
const MESSAGE = -1;

export class Notifier {
  /** The enabled classes and channels; 0: notifications off. */
  flags = 0;
  /**
   * Raised events, in order, as (flags at raise time, event, db, key) runs
   * of four; a queued PUBLISH is (MESSAGE, channel, message, 0).
   */
  #queue: Array<number | string | Buffer> = [];
  /** How many entries of #queue belong to committed batches (or to no write at all). */
  #durable = 0;

  /** Raises `event` of class `type` on `key` (a latin1 key string) of `db`. */
  raise(type: number, event: string, db: number, key: string): void {
    if ((this.flags & type) === 0) return;
    this.#queue.push(this.flags, event, db, key);
  }

  /** Whether `type` events are raised now (a caller about to do work only an event needs). */
  wants(type: number): boolean {
    return (this.flags & type) !== 0;
  }

  /** Runs `fn` with no events raised. */
  muted<T>(fn: () => T): T {
    const flags = this.flags;
    this.flags = 0;
    try {
      return fn();
    } finally {
      this.flags = flags;
    }
  }

  /** Entries waiting: events, and messages queued behind them. */
  get queued(): number {
    return this.#queue.length / 4;
  }

  /**
   * Queues a PUBLISH behind the waiting events (call it only when `queued`
   * > 0). It depends on no write, so a failed commit keeps it.
   */
  enqueueMessage(channel: Buffer, message: Buffer, sharded = false): void {
    this.#queue.push(MESSAGE, channel, message, sharded ? 1 : 0);
  }

  /** The batch that holds every write so far is durable: its events may go out. */
  committed(): void {
    this.#durable = this.#queue.length;
  }

  /** The pending batch was dropped: so are its events (queued messages stay, and may go out). */
  drop(): void {
    const q = this.#queue;
    let w = this.#durable;
    for (let i = this.#durable; i < q.length; i += 4) {
      if (q[i] !== MESSAGE) continue;
      for (let j = 0; j < 4; j++) q[w + j] = q[i + j];
      w += 4;
    }
    q.length = w;
    this.#durable = w;
  }

  /**
   * Publishes the events of committed batches, in order, into the
   * subscribers' output; `deliver` is told who got some. The caller sends
   * that output with the batch's replies.
   */
  publish(pubsub: PubSub, deliver: (c: Client) => void): void {
    const n = this.#durable;
    if (n === 0) return;
    const q = this.#queue;
    for (let i = 0; i < n; i += 4) {
      const flags = q[i] as number;
      if (flags === MESSAGE) {
        pubsub.publish(q[i + 1] as Buffer, q[i + 2] as Buffer, deliver, q[i + 3] === 1);
        continue;
      }
      const event = q[i + 1] as string;
      const db = q[i + 2] as number;
      const key = q[i + 3] as string;
      if (pubsub.channels.size === 0 && pubsub.patterns.size === 0) continue;
      if ((flags & NOTIFY_KEYSPACE) !== 0) {
        pubsub.publish(Buffer.from(`__keyspace@${db}__:${key}`, 'latin1'), Buffer.from(event, 'latin1'), deliver);
      }
      if ((flags & NOTIFY_KEYEVENT) !== 0) {
        pubsub.publish(Buffer.from(`__keyevent@${db}__:${event}`, 'latin1'), Buffer.from(key, 'latin1'), deliver);
      }
    }
    q.splice(0, n);
    this.#durable = 0;
  }
}
