// How much unread output a client may hold before it is disconnected:
// Redis's client-output-buffer-limit, by class (normal, replica, pubsub),
// each a hard limit and a soft limit held for some seconds, with Redis's
// defaults (a subscriber: 32 MiB, or 8 MiB for more than 60 s). Every
// class is also held to the server's maxOutput, so no client holds more
// than that whatever CONFIG SET says. Checked after each write to a
// client, and once a second by the cron for a client that nobody writes to.
import type { Client } from './client';
import { memoryValue } from './commands/args';

export type OutputClass = 'normal' | 'slave' | 'pubsub';

export interface OutputLimit {
  /** Bytes at which the client is closed; 0 for none (maxOutput still holds). */
  hard: number;
  /** Bytes which, held for more than `seconds`, close the client; 0 for none. */
  soft: number;
  seconds: number;
  /** The three as CONFIG GET prints them (sizes past 2^53 exactly). */
  shown: string;
}

const limit = (hard: bigint, soft: bigint, seconds: number): OutputLimit => ({ hard: Number(hard), soft: Number(soft), seconds, shown: `${hard} ${soft} ${seconds}` });

const CLASSES: readonly OutputClass[] = ['normal', 'slave', 'pubsub'];
const UNAUTH_OUTPUT = 1024;

/** A class's name as CONFIG SET takes it (any case; replica is slave's new name), or undefined. */
function className(word: string): OutputClass | undefined {
  const w = word.toLowerCase();
  if (w === 'replica') return 'slave';
  return (CLASSES as readonly string[]).includes(w) ? (w as OutputClass) : undefined;
}

export class OutputLimits {
  /**
   * Redis 7.0's defaults. The slave class is remembered only: pmem serve
   * has no Redis replicas (its backups are connections it makes).
   */
  readonly limits: Record<OutputClass, OutputLimit> = {
    normal: limit(0n, 0n, 0),
    slave: limit(256n << 20n, 64n << 20n, 60),
    pubsub: limit(32n << 20n, 8n << 20n, 60),
  };

  constructor(readonly maxOutput: () => number) {}

  /** A client's class, as Redis's getClientType: a subscriber (RESP2 or 3) is pubsub. */
  static classOf(c: Client): OutputClass {
    return c.subscriptions > 0 ? 'pubsub' : 'normal';
  }

  /**
   * Whether `c`, holding `used` bytes unread at `now`, is past its class's
   * limits: the reason, for the log, or null. Starts and clears the
   * client's soft-limit clock, as Redis's checkClientOutputBufferLimits.
   */
  check(c: Client, used: number, now: number): string | null {
    // A peer without the password holds at most 1 KiB (as Redis's
    // checkClientOutputBufferLimits): its refusals pile up unread otherwise,
    // up to maxOutput for every connection it opens.
    if (used > UNAUTH_OUTPUT && c.authRequired) return `${used} bytes of replies unread before AUTH (limit ${UNAUTH_OUTPUT})`;
    const cls = OutputLimits.classOf(c);
    const l = this.limits[cls];
    const max = this.maxOutput();
    if (used > max) return `${used} bytes of replies unread (limit ${max})`;
    if (l.hard > 0 && used >= l.hard) return `${used} bytes of replies unread (client-output-buffer-limit ${cls} hard limit ${l.hard})`;
    if (l.soft > 0 && used >= l.soft) {
      if (c.softLimitSince === 0) c.softLimitSince = now;
      else if (now - c.softLimitSince > l.seconds * 1000) {
        return `${used} bytes of replies unread for ${Math.floor((now - c.softLimitSince) / 1000)} s (client-output-buffer-limit ${cls} soft limit ${l.soft} for ${l.seconds} s)`;
      }
    } else {
      c.softLimitSince = 0;
    }
    return null;
  }

  /** CONFIG GET's value, as Redis prints it: every class, in bytes. */
  toString(): string {
    return CLASSES.map((k) => `${k} ${this.limits[k].shown}`).join(' ');
  }

  /**
   * Reads CONFIG SET's value as Redis's updateClientOutputBufferLimit
   * does: triples of a class, hard and soft sizes (memtoull) and seconds;
   * all checked before any is taken. Returns what applies it.
   * @throws Error with Redis's words
   */
  parse(value: string): () => void {
    const args = value.split(' ').filter((a) => a !== '');
    if (args.length % 4 !== 0) throw new Error('Wrong number of arguments in buffer limit configuration.');
    const taken: [OutputClass, OutputLimit][] = [];
    for (let i = 0; i < args.length; i += 4) {
      const cls = className(args[i]);
      if (cls === undefined) throw new Error('Invalid client class specified in buffer limit configuration.');
      const hard = memoryValue(args[i + 1]);
      const soft = memoryValue(args[i + 2]);
      const seconds = /^[+-]?\d+$/.test(args[i + 3]) ? Number(args[i + 3]) : -1;
      if (hard === null || soft === null || seconds < 0 || seconds > 2147483647) {
        throw new Error('Error in hard, soft or soft_seconds setting in buffer limit configuration.');
      }
      taken.push([cls, limit(hard, soft, seconds)]);
    }
    return () => {
      for (const [cls, l] of taken) this.limits[cls] = l;
    };
  }
}
