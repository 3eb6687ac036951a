// One connection's state: its parser, its queued replies, its database,
// its transaction, its subscriptions.
import type { Socket } from 'node:net';

import { PmemError } from '../core/errors';
import { ReplyWriter } from './reply';
import { ARG_COST, RespParser, type RespLimits } from './resp';

/** An error reply: `-<message>`. Commands throw it; the dispatcher writes it. */
export class ReplyError extends Error {}

/**
 * Whether `err` is a refusal that a command reports as `ERR <message>`: a
 * PmemError, RangeError or TypeError (an allocation refused, a limit). Any
 * other error but a ReplyError is a defect and propagates (Dispatcher).
 */
export function isRefusal(err: unknown): err is Error {
  return err instanceof PmemError || err instanceof RangeError || err instanceof TypeError;
}

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
export const NOT_INTEGER = 'ERR value is not an integer or out of range';
export const SYNTAX = 'ERR syntax error';

export class Client {
  readonly parser: RespParser;
  readonly out = new ReplyWriter();
  name = '';
  libName = '';
  libVersion = '';
  db = 0;
  authenticated: boolean;
  #multi: Buffer[][] | null = null;
  /**
   * Bytes of the commands MULTI queued, ARG_COST more per argument: held
   * input as a request not yet run is (`heldInput`), until EXEC or DISCARD.
   */
  multiBytes = 0;

  /** Queued commands of MULTI, or null outside one. */
  get multi(): Buffer[][] | null {
    return this.#multi;
  }

  set multi(queue: Buffer[][] | null) {
    this.#multi = queue;
    this.multiBytes = 0;
  }

  /** Queues a command inside MULTI. */
  queue(argv: Buffer[]): void {
    (this.#multi as Buffer[][]).push(argv);
    for (const a of argv) this.multiBytes += a.length + ARG_COST;
  }

  /** Bytes of requests this client holds and has not run: incomplete ones in its parser, and MULTI's queue. */
  get heldInput(): number {
    return this.parser.buffered + this.multiBytes;
  }
  /** A queued command was refused: EXEC answers EXECABORT. */
  multiError = false;
  /** A WATCHed key changed: EXEC answers nil. */
  dirty = false;
  /** WATCHed keys, as `${db}:${key}`, and whether each was already expired when watched. */
  readonly watched = new Map<string, boolean>();
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  /** Shard channels (SSUBSCRIBE): a namespace of their own, without patterns. */
  readonly shardChannels = new Set<string>();
  /** CLIENT REPLY: 'on', 'off', or 'skip' (the next command's reply only). */
  replyMode: 'on' | 'off' | 'skip' = 'on';
  /** Set by QUIT, a protocol error or a kill: the connection closes once its replies are out. */
  closing = false;
  closed = false;
  readonly created = Date.now();
  /** When its request bytes were last read or its replies last written (Redis's lastinteraction): CLIENT LIST's idle, and the timeout's. */
  lastActive = Date.now();
  /** When its unread output first reached its class's soft limit without falling below since (ms), else 0 (output-limits.ts). */
  softLimitSince = 0;
  /** Turns of its replies waiting for their replication round (server.ts): not yet sent, so the client is not idle. */
  awaitingRound = 0;
  lastCommand = 'NULL';
  /** Reading paused while the socket's write buffer drains. */
  paused = false;
  /** The request CLIENT PAUSE postponed (pause.ts): it runs first once the pause ends. */
  postponed: Buffer[] | null = null;

  /** Whether a password is set now (it may change under a connected client: CONFIG SET requirepass). */
  readonly #passwordSet: () => boolean;

  constructor(readonly id: number, readonly socket: Socket, limits: RespLimits, passwordSet: () => boolean) {
    this.#passwordSet = passwordSet;
    this.parser = new RespParser(limits, () => this.authRequired);
    // A client that connects while no password is set is authenticated for good, as in Redis.
    this.authenticated = !passwordSet();
  }

  /**
   * Redis's authRequired(): a password is set and this client has not given
   * it. Such a client runs only the commands flagged noauth (AUTH, HELLO,
   * QUIT, RESET), and its requests are held to Redis's unauthenticated
   * sizes (resp.ts). Once the password is removed, no client needs it.
   */
  get authRequired(): boolean {
    return !this.authenticated && this.#passwordSet();
  }

  get addr(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get laddr(): string {
    return `${this.socket.localAddress}:${this.socket.localPort}`;
  }

  /** Every subscription (channels, patterns, shard channels): the client is in pub/sub mode while there is one. */
  get subscriptions(): number {
    return this.channels.size + this.patterns.size + this.shardChannels.size;
  }

  /** A line of CLIENT LIST / CLIENT INFO. */
  info(now = Date.now()): string {
    const flags = `${this.multi !== null ? 'x' : ''}${this.subscriptions > 0 ? 'P' : ''}` || 'N';
    // Output not yet read, queued or in the socket's buffer; tot-mem adds the requests held (Redis's adds its buffers' sizes too).
    const omem = this.socket.writableLength + this.out.bytes;
    return `id=${this.id} addr=${this.addr} laddr=${this.laddr} fd=${(this.socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1} ` +
      `name=${this.name} age=${Math.floor((now - this.created) / 1000)} idle=${Math.floor((now - this.lastActive) / 1000)} ` +
      `flags=${flags} db=${this.db} sub=${this.channels.size} psub=${this.patterns.size} ssub=${this.shardChannels.size} ` +
      `multi=${this.multi === null ? -1 : this.multi.length} qbuf=${this.parser.buffered} qbuf-free=0 argv-mem=0 multi-mem=${this.multiBytes} rbs=0 rbp=0 ` +
      `obl=0 oll=0 omem=${omem} tot-mem=${omem + this.parser.buffered + this.multiBytes} events=r cmd=${this.lastCommand.toLowerCase()} ` +
      `user=default redir=-1 resp=${this.out.proto} lib-name=${this.libName} lib-ver=${this.libVersion}`;
  }
}
