// The primary's connection to one backup: connect (and connect again after
// a loss), the handshake, frames in and out. What the frames mean for the
// journal (catch-up, acks, refusals) is the primary's (primary.ts).
import * as net from 'node:net';

import { isPmemError } from '../core/errors';
import {
  decodeAck, decodeRefuse, decodeWelcome, FRAME_ACK, FRAME_REFUSE, FRAME_WELCOME, FrameReader, protocolError,
} from './frames';
import type { ReplicaAddress } from './options';

/** Wait before connecting again after a connection is lost or refused. */
export const RECONNECT_MS = 50;

export interface PeerOwner {
  /** The HELLO frame to open a connection with. */
  hello(): Buffer;
  welcomed(peer: Peer, epoch: number, lastLsn: number, backupId: string): void;
  acked(peer: Peer, level: number, epoch: number, lsn: number): void;
  refused(peer: Peer, code: string, message: string): void;
  /** Bytes that are not a frame of this protocol, or a frame the replica must not send. */
  garbled(peer: Peer, why: string): void;
  /** The connection was lost (or reset after a protocol error); a new one follows. */
  lost(peer: Peer, why: string): void;
}

export class Peer {
  readonly address: ReplicaAddress;
  /** The last LSN the backup said it holds durably (kept across connections: it never loses them). */
  persistedLsn = 0;
  /** The last LSN the backup said it received. */
  receivedLsn = 0;
  /** The last LSN sent on the present connection; -1 before the handshake. */
  sentLsn = -1;
  /** The identity the backup gave in its last WELCOME (hex; its replica server's); null before one. */
  backupId: string | null = null;
  /** ACK frames taken on every connection (one per DATA frame, two when 'received' was asked for). */
  acks = 0;
  /** Connections made, and lost. */
  connects = 0;
  resets = 0;
  /** Why the last connection ended or could not be made (a timeout names it); null while none has. */
  lastError: string | null = null;
  readonly #owner: PeerOwner;
  #socket: net.Socket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(address: ReplicaAddress, owner: PeerOwner) {
    this.address = address;
    this.#owner = owner;
  }

  /** Whether the handshake is done on the present connection. */
  get ready(): boolean {
    return this.sentLsn >= 0 && this.#socket !== null;
  }

  /**
   * Where a peer that is not ready stands, for messages: connected and
   * waiting for the replica's answer to its HELLO, or not connected (with
   * why the last connection ended or could not be made, and whether a new
   * one is being made). A connection made again after a failure keeps
   * naming that failure: a timeout that falls while it is being made says
   * why the replica is not there, not only that it is being looked for.
   */
  get standing(): string {
    const s = this.#socket;
    if (s !== null && !s.connecting) return 'connected, no answer to its HELLO';
    const why = this.lastError === null ? '' : `: ${this.lastError}`;
    if (s === null) return `not connected${why}`;
    return this.lastError === null ? 'connecting' : `not connected${why}; connecting again`;
  }

  connect(): void {
    if (this.#closed || this.#socket !== null) return;
    const reader = new FrameReader();
    const s = net.connect({ host: this.address.host, port: this.address.port });
    this.#socket = s;
    s.setNoDelay(true);
    let error: string | null = null;
    s.on('connect', () => {
      // A connect to a port nothing listens on, inside the ephemeral range,
      // can be given that same port as its local one: TCP's simultaneous
      // open connects the socket to itself, and the HELLO would come back as
      // the replica's answer, a protocol error that stops the journal. It
      // is a replica not there yet: dropped, and made again.
      if (s.localPort === s.remotePort && s.localAddress === s.remoteAddress) {
        error = `connected to itself: nothing listens on ${this.address.address}, a port in the ephemeral range`;
        s.destroy();
        return;
      }
      this.connects++;
      s.write(this.#owner.hello());
    });
    s.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (this.#socket !== s) return;
          this.#frame(f.type, f.body);
        }
      } catch (e) {
        this.#owner.garbled(this, isPmemError(e) ? e.message : String(e));
      }
    });
    s.on('error', (e) => { error = e.message; /* 'close' follows */ });
    s.on('close', () => {
      if (this.#socket !== s) return;
      this.#socket = null;
      this.sentLsn = -1;
      this.lastError = error ?? 'the replica closed the connection';
      this.#owner.lost(this, this.lastError);
      this.#later();
    });
  }

  #frame(type: number, body: Buffer): void {
    switch (type) {
      case FRAME_WELCOME: {
        const w = decodeWelcome(body);
        this.#owner.welcomed(this, w.epoch, w.lastLsn, w.backupId);
        break;
      }
      case FRAME_ACK: {
        const a = decodeAck(body);
        this.#owner.acked(this, a.level, a.epoch, a.lsn);
        break;
      }
      case FRAME_REFUSE: {
        const r = decodeRefuse(body);
        this.#owner.refused(this, r.code, r.message);
        break;
      }
      default:
        throw protocolError(`a frame of type ${type}, which a replica does not send`);
    }
  }

  /** Sends a frame on the present connection (after the handshake). */
  send(frame: Buffer): void {
    this.#socket?.write(frame);
  }

  /** Drops the present connection (a protocol error); a new one follows. */
  reset(why: string): void {
    const s = this.#socket;
    if (s === null) return;
    this.resets++;
    this.lastError = why;
    this.#socket = null;
    this.sentLsn = -1;
    s.destroy();
    this.#owner.lost(this, why);
    this.#later();
  }

  #later(): void {
    if (this.#closed || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.connect();
    }, RECONNECT_MS);
  }

  /** Closes the connection for good. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const s = this.#socket;
    this.#socket = null;
    this.sentLsn = -1;
    s?.destroy();
  }
}
