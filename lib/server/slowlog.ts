// SLOWLOG, as Redis 7.0's slowlog.c: the commands that ran for at least
// `slowlog-log-slower-than` µs (0: every one; negative: none), newest
// first, at most `slowlog-max-len` of them. The time is the command's own
// run, as Redis's call() times it: not the wait for its batch to be
// durable, which is the group commit's and shared by the turn. EXEC is not
// logged, the commands it runs are; a blocking command is logged when it
// is served or times out, with the time of its first run. Passwords are
// logged as "(redacted)", as Redis redacts them (AUTH, HELLO's AUTH, CONFIG
// SET of a password). In DRAM only: a restart starts an empty log.
import type { Client } from './client';
import { nameWord } from './commands/args';

/** Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING. */
const MAX_ARGS = 32;
const MAX_STRING = 128;
const REDACTED = Buffer.from('(redacted)');
/** CONFIG SET parameters Redis marks SENSITIVE_CONFIG. */
const SENSITIVE = new Set(['masteruser', 'masterauth', 'requirepass']);

export interface SlowLogEntry {
  id: number;
  /** Seconds since the epoch. */
  time: number;
  /** µs. */
  duration: number;
  args: Buffer[];
  peer: string;
  name: string;
}

export class SlowLog {
  /** slowlog-log-slower-than, µs. */
  slowerThan = 10000;
  /** slowlog-max-len. */
  maxLen = 128;
  /** Newest first. */
  readonly entries: SlowLogEntry[] = [];
  #nextId = 0;
  /** Blocking commands waiting to be served: their arguments and the time of their first run. */
  readonly #blocked = new Map<Client, { argv: Buffer[]; duration: number }>();

  /** Whether commands are timed at all. */
  get enabled(): boolean {
    return this.slowerThan >= 0;
  }

  /** A command of `c` that ran `duration` µs; `blocked`: it is waiting for a key, and is logged when unblocked. */
  ran(c: Client, argv: Buffer[], duration: number, blocked: boolean): void {
    if (blocked) this.#blocked.set(c, { argv, duration });
    else this.#push(c, argv, duration);
  }

  /** `c`'s blocking command was served, timed out or unblocked; a client that disconnects passes `logged` false. */
  unblocked(c: Client, logged = true): void {
    const b = this.#blocked.get(c);
    if (b === undefined) return;
    this.#blocked.delete(c);
    if (logged) this.#push(c, b.argv, b.duration);
  }

  reset(): void {
    this.entries.length = 0;
  }

  #push(c: Client, argv: Buffer[], duration: number): void {
    if (this.slowerThan < 0) return;
    if (duration >= this.slowerThan) {
      this.entries.unshift({ id: this.#nextId++, time: Math.floor(Date.now() / 1000), duration, args: logged(argv), peer: c.addr, name: c.name });
    }
    while (this.entries.length > this.maxLen) this.entries.pop();
  }
}

/** The arguments as the log keeps them: passwords redacted, at most 32 (the last counting the rest), each cut at 128 bytes. */
function logged(argv: Buffer[]): Buffer[] {
  const args = redact(argv);
  const n = Math.min(args.length, MAX_ARGS);
  const out: Buffer[] = [];
  for (let j = 0; j < n; j++) {
    if (n !== args.length && j === n - 1) out.push(Buffer.from(`... (${args.length - n + 1} more arguments)`));
    else if (args[j].length > MAX_STRING) out.push(Buffer.concat([args[j].subarray(0, MAX_STRING), Buffer.from(`... (${args[j].length - MAX_STRING} more bytes)`)]));
    else out.push(Buffer.from(args[j])); // a copy: a view would keep the request's whole input chunk for as long as the entry is logged
  }
  return out;
}

/** Redis's redactClientCommandArgument calls: AUTH's password (and user), HELLO's AUTH pair, a CONFIG SET password. */
function redact(argv: Buffer[]): Buffer[] {
  const name = nameWord(argv[0]);
  let hide: number[] = [];
  if (name === 'auth' && argv.length <= 3) hide = argv.length === 3 ? [1, 2] : [1];
  else if (name === 'hello') {
    for (let j = 2; j < argv.length; j++) {
      if (nameWord(argv[j]) === 'auth' && argv.length - 1 - j >= 2) {
        hide.push(j + 1, j + 2);
        j += 2;
      } else if (nameWord(argv[j]) === 'setname' && argv.length - 1 - j >= 1) j += 1;
    }
  } else if (name === 'config' && argv.length >= 4 && nameWord(argv[1]) === 'set') {
    for (let j = 2; j + 1 < argv.length; j += 2) if (SENSITIVE.has(nameWord(argv[j]))) hide.push(j + 1);
  }
  if (hide.length === 0) return argv;
  const out = argv.slice();
  for (const j of hide) if (j < out.length) out[j] = REDACTED;
  return out;
}
