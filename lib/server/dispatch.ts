// A request's way to its command: the name matched against the table as
// bytes (no string is made of it), the checks every command gets (AUTH,
// arity, a RESP2 subscriber, MULTI's queue), and the error replies.
import { performance } from 'node:perf_hooks';

import { type Client, isRefusal, ReplyError } from './client';
import { cString } from './commands/args';
import { COMMANDS, type Command } from './commands/table';
import { NOTIFY_KEY_MISS } from './notify';
import { writes } from './pause';
import type { RespServer } from './server';

/** The commands Redis 7.0 names with their subcommand in errors ('client|reply'). */
const CONTAINERS: ReadonlySet<string> = new Set(['client', 'config', 'command', 'object', 'pubsub', 'function', 'memory', 'debug', 'slowlog']);

/** A command as the dispatcher finds it: its lower-case name's bytes and its flags, looked up once. */
interface Entry {
  cmd: Command;
  name: Buffer;
  noauth: boolean;
  pubsub: boolean;
  nomulti: boolean;
  nomultiqueue: boolean;
  /** DEBUG: run only as the server's enableDebugCommand allows. */
  protected: boolean;
  /** A read-only command with keys: each key it finds absent raises 'keymiss' (Redis's lookupKeyRead). */
  readsKeys: boolean;
  /** A command that reads or writes the data ('readonly' or 'write'): refused by a fenced primary. */
  data: boolean;
}

/** Redis 7's refusal of DEBUG, word for word (pmem serve's option is --enable-debug-command). */
const DEBUG_NOT_ALLOWED = 'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, '
  + 'otherwise you need to set this option in the configuration file, and then restart the server.';

/** Whether the client is connected from a loopback address (127.0.0.0/8, ::1). */
function isLocal(c: Client): boolean {
  const a = c.socket.remoteAddress;
  return a !== undefined && (a === '::1' || /^(::ffff:)?127\./.test(a));
}

/** ASCII upper case to lower case; every other byte as it is. */
const LOWER = new Uint8Array(256).map((_, i) => (i >= 0x41 && i <= 0x5a ? i + 0x20 : i));

/** The names by length, first and last byte (lower case): a request's name is compared with one or two candidates. */
function slot(n: number, first: number, last: number): number {
  return n * 65536 + first * 256 + last;
}

export class CommandIndex {
  readonly #slots = new Map<number, Entry[]>();

  constructor(commands: ReadonlyMap<string, Command>) {
    for (const [name, cmd] of commands) {
      const b = Buffer.from(name, 'latin1');
      const e: Entry = {
        cmd, name: b, noauth: cmd.flags.includes('noauth'), pubsub: cmd.flags.includes('pubsub'),
        nomulti: cmd.flags.includes('nomulti'), nomultiqueue: cmd.flags.includes('nomultiqueue'), protected: name === 'debug',
        // OBJECT and MEMORY look their key up without the event, as in Redis.
        readsKeys: cmd.flags.includes('readonly') && cmd.firstKey > 0 && name !== 'object' && name !== 'memory',
        data: cmd.flags.includes('readonly') || cmd.flags.includes('write'),
      };
      const k = slot(b.length, b[0], b[b.length - 1]);
      const list = this.#slots.get(k);
      if (list === undefined) this.#slots.set(k, [e]);
      else list.push(e);
    }
  }

  /** The command named by `b`, in any case, or undefined. */
  find(b: Buffer): Entry | undefined {
    const n = b.length;
    if (n === 0) return undefined;
    const list = this.#slots.get(slot(n, LOWER[b[0]], LOWER[b[n - 1]]));
    if (list === undefined) return undefined;
    for (const e of list) {
      const name = e.name;
      let i = 1;
      while (i < n - 1 && LOWER[b[i]] === name[i]) i++;
      if (i >= n - 1) return e;
    }
    return undefined;
  }
}

const INDEX = new CommandIndex(COMMANDS);
const findCommand = (name: Buffer): Command | undefined => INDEX.find(name)?.cmd;

/** Whether `name` is `POST` or `Host:`, in any case: Redis's sign of an HTTP request (securityWarningCommand). */
function crossProtocol(name: Buffer): boolean {
  const n = name.length;
  if (n === 4) return LOWER[name[0]] === 0x70 && LOWER[name[1]] === 0x6f && LOWER[name[2]] === 0x73 && LOWER[name[3]] === 0x74;
  if (n === 5) return LOWER[name[0]] === 0x68 && LOWER[name[1]] === 0x6f && LOWER[name[2]] === 0x73 && LOWER[name[3]] === 0x74 && name[4] === 0x3a;
  return false;
}

/** A command that failed after it wrote, on its way out of the EXEC that ran it. */
class PartlyRun extends Error {
  constructor(readonly failure: Error) {
    super(failure.message);
  }
}

export class Dispatcher {
  /** Commands running: 1 for a client's request, 2 inside its EXEC. */
  #depth = 0;
  /** The client's request running (depth 1), and MULTI's queue when it is an EXEC: runningWrite's question. */
  #top: Command | null = null;
  #topQueue: Buffer[][] | null = null;

  constructor(readonly server: RespServer) {}

  /** Whether the running command is inside EXEC (a blocking command then answers as a timeout at once). */
  get inExec(): boolean {
    return this.#depth > 1;
  }

  /**
   * Whether the request running writes (pause.ts's writes): a write may
   * delete a due key even while clients are paused, as it must to write it.
   */
  runningWrite(): boolean {
    return this.#top !== null && writes(this.#top, this.#topQueue, findCommand);
  }

  /** Runs one request, queues it inside MULTI, or postpones it while clients are paused (CLIENT PAUSE). */
  execute(c: Client, argv: Buffer[]): void {
    if (argv.length === 0) return;
    if (crossProtocol(argv[0])) {
      // An HTTP request (a browser sent to this port by a web page): its
      // lines would run as inline commands, its body among them. As Redis
      // does, the connection closes here, before any line after this one
      // runs, and nothing more is sent to it.
      this.server.log(`client ${c.id} (${c.addr}) closed: it sent '${argv[0].toString('latin1')}', as an HTTP request does; ` +
        'a web page may be trying to reach this server through a browser (cross-protocol scripting)');
      c.out.muted = true;
      c.closing = true;
      return;
    }
    const e = INDEX.find(argv[0]);
    const before = c.replyMode;
    c.out.muted = before !== 'on';
    const written = this.server.keyspace.writesMade;
    // A request with nothing before it in the client's output: an error in
    // place of its reply pairs with it (dropTurn).
    const first = this.#depth === 0 && c.out.empty;
    this.#depth++;
    try {
      if (e === undefined) this.#unknown(c, argv);
      else this.#run(c, e, argv);
    } catch (err) {
      // A command that failed after it wrote (an allocation refused at its
      // third member, say) is partly in the batch, and so may be the EXEC
      // around it. Nothing of it may be committed: the turn is dropped, from
      // the outermost request (an EXEC stops there). A ReplyError is a
      // refusal, made before the command writes, except for an expired key
      // deleted on the way, which the turn may commit.
      const refused = isRefusal(err);
      if (err instanceof PartlyRun || (refused && this.server.keyspace.writesMade !== written)) {
        const cause = err instanceof PartlyRun ? err.failure : (err as Error);
        if (this.#depth > 1) throw err instanceof PartlyRun ? err : new PartlyRun(cause);
        this.server.dropTurn(c, cause, first);
      } else if (err instanceof ReplyError) this.#error(c, err.message);
      else if (refused) this.#error(c, `ERR ${err.message}`);
      else throw err;
    } finally {
      this.#depth--;
      if (this.#depth === 0) this.#top = this.#topQueue = null;
      c.out.muted = false;
    }
    // Postponed: it has not run, and runs again when the pause ends.
    if (c.postponed !== null) return;
    // CLIENT REPLY SKIP drops the reply of the one command after it.
    if (before === 'skip' && c.replyMode === 'skip' && c.lastCommand !== 'client|reply') c.replyMode = 'on';
  }

  #error(c: Client, msg: string): void {
    const code = msg.split(' ', 1)[0];
    const errors = this.server.stats.errors;
    errors.set(code, (errors.get(code) ?? 0) + 1);
    c.out.error(msg);
  }

  #unknown(c: Client, argv: Buffer[]): never {
    this.server.stats.rejected++;
    if (c.multi !== null) c.multiError = true;
    // Redis's text: the name cut at 128 chars, then each argument quoted
    // and followed by a blank while the list is under 128 chars, the last
    // one cut to fit; each printed with %s, so up to its first NUL.
    let args = '';
    for (let i = 1; i < argv.length && args.length < 128; i++) args += `'${cString(argv[i]).slice(0, 128 - args.length)}' `;
    throw new ReplyError(`ERR unknown command '${cString(argv[0]).slice(0, 128)}', with args beginning with: ${args}`);
  }

  #run(c: Client, e: Entry, argv: Buffer[]): void {
    const s = this.server;
    const cmd = e.cmd;
    // In Redis 7.0's order (processCommand): the arity, then a protected
    // command's permission, then authentication.
    if ((cmd.arity > 0 && argv.length !== cmd.arity) || argv.length < -cmd.arity) {
      s.stats.rejected++;
      if (c.multi !== null) c.multiError = true;
      throw new ReplyError(`ERR wrong number of arguments for '${cmd.fullName ?? cmd.name}' command`);
    }
    if (e.protected && !(s.enableDebugCommand === 'yes' || (s.enableDebugCommand === 'local' && isLocal(c)))) {
      s.stats.rejected++;
      if (c.multi !== null) c.multiError = true;
      throw new ReplyError(DEBUG_NOT_ALLOWED);
    }
    if (c.authRequired && !e.noauth) {
      if (c.multi !== null) c.multiError = true;
      throw new ReplyError('NOAUTH Authentication required.');
    }
    if (c.out.proto === 2 && c.subscriptions > 0 && !e.pubsub) {
      // Named as Redis names it: a container command with its subcommand
      // ('client|reply'); EXEC's refusal aborts the transaction, as an EXEC
      // refused before it runs does in Redis.
      const name = CONTAINERS.has(cmd.name) && argv.length > 1 ? `${cmd.name}|${argv[1].toString('latin1').toLowerCase()}` : cmd.name;
      const why = `Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
      throw new ReplyError(cmd.name === 'exec' ? `EXECABORT Transaction discarded because of: ${why}` : `ERR ${why}`);
    }
    const fenced = e.data ? s.replication?.fenced ?? null : null;
    if (fenced !== null) {
      // Checked where Redis checks a replica's stale data (MASTERDOWN):
      // before a command is queued, so MULTI's EXEC is refused, and again
      // when EXEC runs what it queued before the fence was known.
      s.stats.rejected++;
      if (c.multi !== null) c.multiError = true;
      throw new ReplyError(`FENCED this server is no longer the primary: a backup was promoted, and its data here may be stale (${fenced})`);
    }
    // Postponed where Redis's processCommand postpones: after the checks
    // that answer at once, before MULTI queues (a write queued while writes
    // are paused waits too). The commands an EXEC runs are not: a pause
    // starts once the transaction that set it is over.
    if (this.#depth === 1) {
      if (s.pause.holds(cmd, c, findCommand)) {
        s.pause.postpone(c, argv);
        return;
      }
      this.#top = cmd;
      this.#topQueue = c.multi;
    }
    if (c.multi !== null && !e.nomulti) {
      if (e.nomultiqueue) {
        c.multiError = true;
        throw new ReplyError(`ERR Command not allowed inside a transaction`);
      }
      c.queue(argv);
      c.out.status('QUEUED');
      return;
    }
    s.stats.commands++;
    c.lastCommand = cmd.name;
    const misses = e.readsKeys && s.keyspace.notify.wants(NOTIFY_KEY_MISS) ? this.#absentKeys(c, cmd, argv) : null;
    // The slow log times the command's own run (an error reply included), as Redis's call() does; EXEC only through the commands it runs.
    const timed = s.slowlog.enabled && cmd.name !== 'exec';
    const t0 = timed ? performance.now() : 0;
    try {
      cmd.run(s, c, argv);
    } finally {
      if (timed) s.slowlog.ran(c, argv, Math.floor((performance.now() - t0) * 1000), s.blocking.isBlocked(c));
    }
    // 'keymiss' only once the command has run: Redis parses a command's
    // arguments before its lookup, so a command refused for them (a thrown
    // ReplyError skips this) raises none.
    if (misses !== null) for (const key of misses) s.keyspace.notify.raise(NOTIFY_KEY_MISS, 'keymiss', c.db, key);
  }

  /** A read-only command's keys that are absent (an expired one is deleted first, as Redis's lookup does). */
  #absentKeys(c: Client, cmd: Command, argv: Buffer[]): string[] {
    const ks = this.server.keyspace;
    const absent: string[] = [];
    const last = cmd.lastKey < 0 ? argv.length + cmd.lastKey : cmd.lastKey;
    for (let i = cmd.firstKey; i <= last && i < argv.length; i += cmd.step) {
      const key = argv[i].toString('latin1');
      if (!ks.exists(c.db, key)) absent.push(key);
    }
    return absent;
  }
}
