// The RESP server: Node's `net`, one Client per connection, and group
// commit. Requests read in one event-loop turn, from every connection, are
// executed as they are parsed; their writes collect in the keyspace's
// pending batch, and their replies in each client's queue. At the end of
// the turn (setImmediate) the batch is committed with one fence, and only
// then are the replies written. See docs/durability.md ("pmem serve").
import * as net from 'node:net';
import * as path from 'node:path';

import { openFiles, openFilesLimit } from '../core/descriptors';
import { isPmemError, PmemError } from '../core/errors';
import { KVStore } from '../kv/store';
import type { StoreJournal } from '../replicated/committer';
import { Blocking } from './blocking';
import { Client } from './client';
import { ServerCron } from './cron';
import { Dispatcher } from './dispatch';
import { ActiveExpiry } from './expiry';
import { Keyspace } from './keyspace';
import { LazyFree } from './lazyfree';
import { createServerChecks, openServerStore } from './open';
import { MemoryPeak } from './memory';
import { ClientPause } from './pause';
import { OutputLimits } from './output-limits';
import { PubSub } from './pubsub';
import { ReplicatedCommit } from './replication';
import { DEFAULT_LIMITS, ProtocolError, type RespLimits } from './resp';
import { SlowLog } from './slowlog';
import { Watches } from './watch';

export interface ServerOptions {
  /** The store file; created when missing (with `size`), grown up to `maxSize`. */
  file: string;
  /** The port `listen()` takes when called without one (default 6379; 0: any free port). */
  port?: number;
  /** The address `listen()` takes when called without one (default 127.0.0.1). */
  host?: string;
  requirepass?: string;
  databases?: number;
  /** Bytes of a new store file (default 64 MiB). */
  size?: number;
  /** The store grows online up to this (default 1 GiB). */
  maxSize?: number;
  /** Largest request bulk (default 64 MiB, the store's largest value). */
  maxBulk?: number;
  /** A client whose unsent replies pass this many bytes is disconnected (default 256 MiB). */
  maxOutput?: number;
  /** Bytes of incomplete requests all clients may hold together; past it the client holding the most is disconnected (default 512 MiB). */
  maxInput?: number;
  /** Most connections at once (default 10000). */
  maxClients?: number;
  /**
   * Seconds a client may stay idle before it is closed, as Redis's
   * `timeout` (CONFIG SET timeout changes it): 0 to 2147483647, default 0,
   * never. Blocked clients and pub/sub subscribers are never closed for it.
   */
  timeout?: number;
  /**
   * DEBUG, which can stop the server for as long as a client asks (DEBUG
   * SLEEP) and rebuild its state (DEBUG RELOAD): 'no' (the default, as
   * Redis 7's enable-debug-command), 'yes', or 'local' (connections from a
   * loopback address only).
   */
  enableDebugCommand?: 'no' | 'yes' | 'local';
  /** Called with a line for the log (default: nothing). */
  log?: (line: string) => void;
  /**
   * Backups ('host:port', each a startStoreReplica or `pmem replica
   * --store`): a write's reply then waits until every backup persisted it
   * (openServer only).
   */
  replicas?: string[];
  /** With `replicas`: the journal file (default: the store's path and '.journal'). */
  journal?: string;
  /** With `replicas`: how long a round may wait for the backups (default 5000 ms). */
  replicaTimeoutMs?: number;
  /** With `replicas`: bytes of a new journal file (default 64 MiB). */
  journalSize?: number;
}

/** Writes that pile up past this are committed before the turn ends (outside EXEC): a batch stays a modest record. */
const COMMIT_BYTES = 4 * 1024 * 1024;
/** Reading from a client pauses while this much of its replies waits in the socket. */
const PAUSE_OUTPUT = 4 * 1024 * 1024;
/** Request bytes all clients may hold at once before the largest holder is disconnected (the default of maxInput). */
const MAX_INPUT_TOTAL = 512 * 1024 * 1024;
/** A client's incomplete requests from this size (or maxInput, if less) on have the total checked as they grow. */
const CHECK_INPUT_FROM = 1024 * 1024;
/** Descriptors kept beside the clients' (Redis's CONFIG_MIN_RESERVED_FDS). */
const RESERVED_FDS = 32;

export class RespServer {
  readonly store: KVStore;
  readonly keyspace: Keyspace;
  readonly pubsub = new PubSub();
  readonly clients = new Map<number, Client>();
  readonly config = new Map<string, string>();
  readonly limits: RespLimits;
  readonly started = Date.now();
  readonly databases: number;
  requirepass: string | undefined;
  maxOutput: number;
  /** Unread output each class of client may hold (CONFIG SET client-output-buffer-limit), within maxOutput. */
  readonly outputLimits = new OutputLimits(() => this.maxOutput);
  /** INFO's used_memory_peak, taken at every INFO and cron tick. */
  readonly memoryPeak = new MemoryPeak();
  maxInput: number;
  maxClients: number;
  /** Seconds of idleness after which a client is closed (cron.ts); 0: never. */
  timeout: number;
  readonly enableDebugCommand: 'no' | 'yes' | 'local';
  readonly watches: Watches;
  readonly dispatch = new Dispatcher(this);
  /** Clients blocked on keys (BLPOP, BZPOPMIN, ...). */
  readonly blocking = new Blocking();
  /** CLIENT PAUSE: clients postponed until it ends. */
  readonly pause = new ClientPause();
  /** SLOWLOG: the commands that ran longest. */
  readonly slowlog = new SlowLog();
  stats = { connections: 0, commands: 0, rejected: 0, keyspaceHits: 0, keyspaceMisses: 0, errors: new Map<string, number>(), batches: 0, maxBatch: 0 };
  #net: net.Server;
  #nextId = 1;
  /** Request bytes read from all clients since the input total was last counted (#onData). */
  #readSinceCheck = 0;
  #flushScheduled = false;
  /** Clients with replies queued this turn. */
  #ready = new Set<Client>();
  readonly expiry: ActiveExpiry;
  /** The periodic work: active expiry and closing idle clients. */
  readonly cron = new ServerCron(this);
  readonly lazyfree = new LazyFree(this);
  readonly file: string;
  readonly dir: string;
  port = 0;
  host = '127.0.0.1';
  /** Descriptors the process held when it first listened, before any client (clientCapacity). */
  #ownFds: number | undefined;
  /** Where `listen()` listens when called without them: options.port and options.host, else 6379 on 127.0.0.1. */
  #listenPort: number;
  #listenHost: string;
  #closed = false;
  #log: (line: string) => void;
  onShutdown: () => void = () => {};

  /** With `replicas`: the group commit through the replicated journal. */
  readonly replication: ReplicatedCommit | null = null;

  constructor(options: ServerOptions, replicated?: { store: KVStore; journal: StoreJournal }) {
    // Checked here too, for a server made with `new` and not createServer:
    // bad options would otherwise become its limits unchecked, and
    // replicas would be ignored, every write acknowledged unreplicated.
    createServerChecks(options);
    if (replicated === undefined && options.replicas !== undefined) {
      throw new TypeError('options.replicas needs openServer (the journal opens asynchronously)');
    }
    this.databases = options.databases ?? 16;
    this.requirepass = options.requirepass === undefined || options.requirepass === '' ? undefined : options.requirepass;
    this.limits = { ...DEFAULT_LIMITS, maxBulk: options.maxBulk ?? DEFAULT_LIMITS.maxBulk };
    this.maxOutput = options.maxOutput ?? 256 * 1024 * 1024;
    this.maxInput = options.maxInput ?? MAX_INPUT_TOTAL;
    this.maxClients = options.maxClients ?? 10000;
    this.timeout = options.timeout ?? 0;
    this.enableDebugCommand = options.enableDebugCommand ?? 'no';
    this.#log = options.log ?? (() => {});
    this.#listenPort = options.port ?? 6379;
    this.#listenHost = options.host ?? '127.0.0.1';
    this.file = path.resolve(options.file);
    this.dir = path.dirname(this.file);
    this.store = replicated?.store ?? openServerStore(options);
    try {
      this.keyspace = new Keyspace(this.store, this.databases, replicated !== undefined);
    } catch (e) {
      this.store.close();
      // A store refused as a keyspace (keyspace-load.ts) is named: the message is about its file.
      if (isPmemError(e, 'ERR_PMEM_NOT_A_STORE') || isPmemError(e, 'ERR_PMEM_INVALID')) {
        throw new PmemError(e.code, `'${this.file}': ${e.message}`, { path: this.file });
      }
      throw e;
    }
    if (replicated !== undefined) {
      this.replication = new ReplicatedCommit(replicated.journal, this.keyspace, {
        send: (c, parts) => {
          c.awaitingRound--;
          this.#send(c, parts);
        },
        kill: (c) => {
          c.awaitingRound--;
          this.kill(c);
        },
        log: (line) => this.log(line),
      });
    }
    this.watches = new Watches(this.keyspace);
    this.keyspace.onTouch = (db, key) => this.watches.touch(db, key);
    // A key that gets elements (a push, a RENAME onto it, an EXEC's writes) may serve its blocked clients.
    this.keyspace.addWriteListener((db, key) => this.blocking.signal(db, key));
    // An unblocked client's reply goes out with the batch that served it; its next requests run in a later turn.
    this.blocking.onUnblock = (c) => {
      this.slowlog.unblocked(c);
      this.#queue(c);
      setImmediate(() => {
        if (!c.closed) this.#process(c);
      });
    };
    // A paused dataset stays as it is: a due key reads as absent, and is
    // deleted once the pause is over, or by a write in the EXEC that paused
    // (or by a blocked client that EXEC's writes served).
    this.keyspace.holdExpired = () => this.pause.type !== null && !this.dispatch.runningWrite() && !this.blocking.serving;
    // The postponed clients run again in a later turn, in the order they were postponed.
    this.pause.onEnd = (clients) => setImmediate(() => {
      for (const c of clients) if (!c.closed) this.#process(c);
    });
    this.expiry = new ActiveExpiry(this);
    this.#net = net.createServer({ noDelay: true }, (s) => this.#accept(s));
  }

  /**
   * Starts listening, by default on options.port and options.host (else
   * 6379 on 127.0.0.1). Resolves to the port. A refused listen (EADDRINUSE,
   * say) rejects and leaves nothing behind: listen may be called again.
   * @throws PmemError ERR_PMEM_CLOSED after close(); TypeError for an empty host (rejections)
   */
  listen(port = this.#listenPort, host = this.#listenHost): Promise<number> {
    if (this.#closed) return Promise.reject(new PmemError('ERR_PMEM_CLOSED', 'the server is closed'));
    // Node listens on every interface for '': the address must be said.
    if (host === '') return Promise.reject(new TypeError("host is an empty string: give an address ('0.0.0.0' for every interface)"));
    return new Promise((resolve, reject) => {
      const refused = (e: Error): void => {
        this.#net.off('listening', listening);
        reject(e);
      };
      const listening = (): void => {
        this.#net.off('error', refused);
        this.#fitClients();
        this.host = host;
        this.port = (this.#net.address() as net.AddressInfo).port;
        this.cron.start();
        this.lazyfree.kick(); // orphaned elements found at open
        resolve(this.port);
      };
      this.#net.once('error', refused);
      this.#net.once('listening', listening);
      try {
        this.#net.listen(port, host);
      } catch (e) {
        // A bad port or a second listen: thrown at once, before any event.
        this.#net.off('error', refused);
        this.#net.off('listening', listening);
        throw e;
      }
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops accepting, commits what is pending, disconnects every client, closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.cron.stop();
    this.pause.close();
    this.#flush();
    const closing = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    if (this.replication !== null) await this.replication.close();
    for (const c of this.clients.values()) c.socket.destroy();
    await closing;
    this.store.close();
  }

  log(line: string): void {
    this.#log(line);
  }

  /**
   * The most clients this process has descriptors for: its open-files limit
   * less the descriptors it held when it started listening (the store's,
   * Node's own) and RESERVED_FDS more for what it opens later (a
   * replica's socket, a store's growth). Infinity when /proc does not tell.
   */
  clientCapacity(): number {
    const limit = openFilesLimit();
    if (limit === Infinity) return Infinity;
    this.#ownFds ??= openFiles();
    return Math.max(1, limit - this.#ownFds - RESERVED_FDS);
  }

  /**
   * As Redis at start: maxclients past what the descriptors allow is
   * lowered to it, with a log line. Past it, accept(2) fails with EMFILE and
   * libuv closes the connection unanswered; below it, a client past
   * maxclients is told "max number of clients reached".
   */
  #fitClients(): void {
    const capacity = this.clientCapacity();
    if (this.maxClients <= capacity) return;
    this.log(`maxclients ${this.maxClients} needs more descriptors than the open-files limit (${openFilesLimit()}) leaves: reduced to ${capacity}; raise 'ulimit -n' for more`);
    this.maxClients = capacity;
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.clients.size >= this.maxClients) {
      // A refused peer that resets would otherwise raise an 'error' with no
      // listener: an uncaught exception that stops the server.
      socket.on('error', () => {});
      // Closed once the error is written, as Redis closes it: a peer that
      // never reads would otherwise hold the descriptor, half closed, and
      // enough of them exhaust the open-files limit.
      socket.end('-ERR max number of clients reached\r\n', () => socket.destroy());
      return;
    }
    const c = new Client(this.#nextId++, socket, this.limits, () => this.requirepass !== undefined);
    // Past maxOutput one command's reply closes the client (ReplyWriter.limit);
    // between commands a client is paused once PAUSE_OUTPUT is queued.
    c.out.limit = Math.max(this.maxOutput, PAUSE_OUTPUT);
    this.clients.set(c.id, c);
    this.stats.connections++;
    socket.on('data', (chunk: Buffer) => this.#onData(c, chunk));
    socket.on('drain', () => {
      c.lastActive = Date.now(); // its replies written out: an interaction, as a write is in Redis
      if (c.paused && !c.closed) {
        c.paused = false;
        socket.resume();
        this.#process(c);
      }
    });
    socket.on('error', () => {}); // a reset by the peer ends the client; 'close' follows
    // The peer's end read: it waits for nothing any more (Blocking.serveReady
    // skips it too). 'close' follows once this side's end is sent.
    socket.on('end', () => {
      this.blocking.drop(c);
      this.slowlog.unblocked(c, false);
    });
    socket.on('close', () => this.#dropClient(c));
  }

  #dropClient(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    this.clients.delete(c.id);
    this.#ready.delete(c);
    this.watches.unwatchAll(c);
    this.pubsub.drop(c);
    this.blocking.drop(c);
    this.slowlog.unblocked(c, false);
    this.pause.drop(c);
  }

  /** Closes `c` now, without its pending replies. */
  kill(c: Client): void {
    this.#dropClient(c);
    c.socket.destroy();
  }

  #onData(c: Client, chunk: Buffer): void {
    if (c.closed || c.closing) return;
    c.lastActive = Date.now();
    c.parser.push(chunk);
    // The total is counted when this client holds a sizeable part of it, and
    // after every CHECK_INPUT_FROM bytes read from all clients: many clients
    // each just under that size are counted too, and the count over every
    // client is made once per that many bytes.
    this.#readSinceCheck += chunk.length;
    const from = Math.min(CHECK_INPUT_FROM, this.maxInput);
    if (c.heldInput >= from || this.#readSinceCheck >= from) {
      this.#readSinceCheck = 0;
      while (this.#inputTotal() > this.maxInput) {
        const top = this.#largestInput();
        this.log(`client ${top.id} (${top.addr}) closed: requests not yet run of all clients over ${this.maxInput} bytes, ${top.heldInput} of them its own`);
        this.kill(top);
      }
      if (c.closed) return;
    }
    this.#process(c);
  }

  /**
   * Runs the client's complete requests. A client whose replies pile up
   * unread is paused: the rest of its requests wait in its parser (and
   * the kernel's socket buffer) until its replies drain.
   */
  #process(c: Client): void {
    for (;;) {
      // A blocked client's requests wait in its parser until it is served or
      // times out; a postponed one's until the pause ends.
      if (this.blocking.isBlocked(c) || this.pause.isPostponed(c)) break;
      if (c.out.bytes + c.socket.writableLength > PAUSE_OUTPUT) {
        c.paused = true;
        c.socket.pause();
        break;
      }
      // A request a pause postponed runs first, before those after it.
      let argv: Buffer[] | null = c.postponed;
      c.postponed = null;
      try {
        argv ??= c.parser.next();
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        c.out.error(`ERR Protocol error: ${e.message}`);
        c.closing = true;
        break;
      }
      if (argv === null) break;
      this.dispatch.execute(c, argv);
      if (this.blocking.signalled) {
        // Keys the command gave elements serve their blocked clients now, in
        // the same batch. This client's replies acknowledge writes of the
        // batch: it is among the clients that a serve failing part way
        // disconnects (dropTurn), as every client queued this turn is.
        this.#queue(c);
        this.blocking.serveReady();
      }
      if (c.closing || c.closed || c.out.overflowed) break;
      if (this.keyspace.pendingBytes > COMMIT_BYTES && c.multi === null) {
        // This client's replies so far are acknowledgements of writes in the
        // batch: it is among the clients a failed commit disconnects, with
        // its replies dropped, as every client queued this turn is.
        this.#ready.add(c);
        if (!this.#commit()) return;
      }
    }
    this.#queue(c);
  }

  /** Marks `c` as having replies to send at the end of this turn. */
  #queue(c: Client): void {
    if (c.out.empty && !c.closing) return;
    this.#ready.add(c);
    this.scheduleFlush();
  }

  /** Commits and sends at the end of this event-loop turn. */
  scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * The batch's commit: one KVStore batch, one fence. A failure (the store
   * full, say; with replicas, writes more than one journal record holds)
   * drops the batch, brings DRAM back to the store's state (a replicated
   * store's as the rounds in flight leave it: Keyspace.load), and
   * disconnects every client with replies queued in this turn: none of them
   * is acknowledged, and none may see state that was not made durable.
   */
  #commit(): boolean {
    if (!this.keyspace.hasPending) {
      // Events of commands that wrote nothing (keymiss, say) wait for no commit.
      this.keyspace.notify.committed();
      return true;
    }
    try {
      if (this.replication !== null) {
        // A round to the backups; the replies wait for it in the outbox.
        this.replication.commit();
        this.stats.batches++;
        return true;
      }
      const n = this.keyspace.commit();
      this.stats.batches++;
      if (n > this.stats.maxBatch) this.stats.maxBatch = n;
      return true;
    } catch (e) {
      this.log(`commit failed, the batch is dropped: ${(e as Error).message}`);
      this.#rollBack(null);
      return false;
    }
  }

  /**
   * A request of `c` failed after it had written part of its changes (an
   * allocation refused at a later member; in EXEC, any command of the
   * transaction): the turn's batch is dropped as a failed commit's is, so
   * that no part of the request is ever made durable, and `c` is closed.
   * When the request was `first` in its output (no reply of this turn
   * queued before it), `c` gets the error in place of its reply; otherwise
   * it is closed without one, as the turn's other clients are: an error
   * would pair with an earlier request, whose reply is dropped with the
   * writes it acknowledged.
   */
  dropTurn(c: Client, cause: Error, first: boolean): void {
    this.log(`client ${c.id} (${c.addr}): a request failed after writing part of its changes (${cause.message}); the batch is dropped`);
    this.#rollBack(c);
    if (!first) {
      this.kill(c);
      return;
    }
    c.out.error(`ERR ${cause.message}; nothing of it was applied, and the connection is closed`);
    c.closing = true;
  }

  /**
   * Drops the pending batch and brings DRAM back to the store's state
   * (Keyspace.rollback). Every client with replies queued this turn is
   * disconnected without them, none of them acknowledged, except `keep`,
   * whose queued replies are only dropped.
   */
  #rollBack(keep: Client | null): void {
    this.keyspace.rollback();
    for (const c of this.#ready) {
      c.out.take();
      if (c !== keep) this.kill(c);
    }
    if (keep !== null) keep.out.take();
    this.#ready = new Set(); // not clear(): see PendingWrites.clear
    // The rolled-back writes were visible to the turn, so any watched key
    // may have changed: every client that watches keys gets its EXEC
    // failed. One that watches none has no transaction to fail.
    for (const c of this.clients.values()) if (c.watched.size > 0) c.dirty = true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.#commit();
    // Keyspace events of the committed batches join their subscribers' output, sent with the batch's replies below.
    this.keyspace.notify.publish(this.pubsub, (c) => {
      if (!c.closed) this.#ready.add(c);
    });
    if (this.replication !== null) {
      // The turn's replies go out once its round (and every one before it) is applied.
      const sends: Array<[Client, Buffer[]]> = [];
      for (const c of this.#ready) {
        c.awaitingRound++; // until the sink sends or kills: the client is not idle meanwhile (cron.ts)
        sends.push([c, c.out.take()]);
      }
      this.#ready = new Set(); // not clear(): see PendingWrites.clear
      this.replication.deliver(sends);
      this.lazyfree.kick();
      return;
    }
    // Only now, with the batch durable, do replies go out.
    for (const c of this.#ready) this.#send(c);
    this.#ready = new Set(); // not clear(): see PendingWrites.clear
    this.lazyfree.kick();
  }

  #send(c: Client, parts?: Buffer[]): void {
    if (c.closed) return;
    if (c.out.overflowed) {
      this.log(`client ${c.id} (${c.addr}) closed: its replies of this turn passed ${c.out.limit} bytes`);
      this.kill(c);
      return;
    }
    parts ??= c.out.take();
    const s = c.socket;
    if (parts.length > 0) c.lastActive = Date.now(); // a reply written is an interaction, as in Redis's writeToClient
    // One write per client and turn: several pieces (filled chunks, big values) go out corked, as one writev.
    if (parts.length === 1) s.write(parts[0]);
    else if (parts.length > 1) {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    if (c.closing) {
      // The replies go out, then the connection closes in both directions:
      // a client that keeps sending after a protocol error sees its writes fail.
      this.#dropClient(c);
      s.end(() => s.destroy());
      return;
    }
    const over = this.outputLimits.check(c, s.writableLength, Date.now());
    if (over !== null) {
      this.log(`client ${c.id} (${c.addr}) closed: ${over}`);
      this.kill(c);
      return;
    }
    if (s.writableLength > PAUSE_OUTPUT && !c.paused) {
      // A client that sends without reading: stop reading its requests until it reads.
      c.paused = true;
      s.pause();
    }
  }

  /** Queues output for `c` outside a request (a published message). */
  deliver(c: Client): void {
    this.#queue(c);
  }

  #inputTotal(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.heldInput;
    return n;
  }

  /** The client holding the most bytes of requests not yet run (incomplete, or queued by MULTI). */
  #largestInput(): Client {
    let top: Client | null = null;
    for (const c of this.clients.values()) if (top === null || c.heldInput > top.heldInput) top = c;
    return top!;
  }

  /** Commits now (EXEC's batch, SAVE): durable when it returns. */
  commitNow(): boolean {
    return this.#commit();
  }

  /** SHUTDOWN: commit, close, and tell the owner. */
  shutdown(): void {
    void this.close().then(() => this.onShutdown());
  }
}
