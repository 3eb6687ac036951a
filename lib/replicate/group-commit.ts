// The primary's round trips (group commit): appends queued in one
// event-loop turn are written to the primary's log as one durable intent;
// the records intended while a round trip is in flight all go in the next
// one, as one DATA frame to every replica; the acks move the durable
// commit point, and only then are the appends it covers answered. Also
// what stops the journal: a timeout, a replica's refusal that a new
// connection cannot repair, an ack or WELCOME that shows this primary is
// stale. The protocol is in docs/durability.md ("Replicated journal");
// the API around it is primary.ts.
import { PmemError, type PmemErrorCode } from '../core/errors';
import { cannotFollow, resend } from './catch-up';
import { ACK_PERSISTED, ACK_RECEIVED, dataFrameCuts, encodeData, encodeHello, PROTOCOL_VERSION, WANT_RECEIVED } from './frames';
import type { JournalFile } from './journal';
import { commit, intend } from './primary-log';
import type { PrimaryFlags } from './options';
import { Peer, type PeerOwner } from './peer';
import { type Pending, settle, settleReached } from './pending';

/**
 * The codes a replica's REFUSE may carry that this primary raises as they
 * are; any other code is a protocol error of the replica.
 */
const REFUSAL_CODES: ReadonlySet<string> = new Set<PmemErrorCode>([
  'ERR_PMEM_REPLICA_FENCED', 'ERR_PMEM_REPLICA_DIVERGED', 'ERR_PMEM_REPLICA_BEHIND', 'ERR_PMEM_REPLICA_PROTOCOL',
  'ERR_PMEM_NO_SPACE', 'ERR_PMEM_CORRUPT', 'ERR_PMEM_IO', 'ERR_PMEM_INVALID', 'ERR_PMEM_CLOSED',
]);

export class GroupCommit {
  readonly peers: Peer[];
  readonly stats = { roundTrips: 0, records: 0, resent: 0 };
  readonly #o: PrimaryFlags;
  readonly #file: JournalFile;
  /** Appends not yet written as an intent. */
  #queue: Pending[] = [];
  /** Appends written and sent, not yet resolved, in LSN order. */
  #waiting: Pending[] = [];
  /** The round trip in flight: its last LSN and its timer. */
  #inFlight: { last: number; timer: NodeJS.Timeout } | null = null;
  #scheduled = false;
  /** Records intended but not yet sent in a round trip (one is in flight), with consecutive LSNs from #unsentFirst. */
  #unsent: Buffer[] = [];
  #unsentFirst = 0;
  /** Whether an append among #unsent waits for 'received'. */
  #wantReceived = false;
  #failure: PmemError | null = null;
  #closed = false;
  #drained: (() => void) | null = null;
  /** The commit point the last DATA frame sent carried. */
  #announced = 0;
  /** An announce() waiting for acknowledgements: the peers it waits for, with the ack count each must pass. */
  #announcing: { waits: Map<Peer, number>; done: () => void } | null = null;

  constructor(o: PrimaryFlags, file: JournalFile) {
    this.#o = o;
    this.#file = file;
    const owner: PeerOwner = {
      hello: () => encodeHello({ journalId: this.#state.journalId, epoch: this.#state.epoch, committedLsn: this.#state.committedLsn, history: this.#state.history }),
      welcomed: (p, epoch, lastLsn, backupId) => { this.#welcomed(p, epoch, lastLsn, backupId); },
      acked: (p, level, epoch, lsn) => { this.#acked(p, level, epoch, lsn); },
      refused: (p, code, message) => { this.#refused(p, code, message); },
      garbled: (p, why) => { this.#garbled(p, why); },
      lost: (p) => {
        // The peer reconnects; the round trip's timer bounds the wait. An
        // announcement is not waited for on a connection that is gone: the
        // next handshake carries the commit point.
        const a = this.#announcing;
        if (a !== null && a.waits.delete(p) && a.waits.size === 0) a.done();
      },
    };
    this.peers = o.replicas.map((r) => new Peer(r, owner));
    for (const p of this.peers) p.connect();
  }

  get #state(): JournalFile['state'] {
    return this.#file.state;
  }

  /** The error that stopped the journal, if one did. */
  get failure(): PmemError | null {
    return this.#failure;
  }

  /** Queues an append: its intent is written at the end of this turn. */
  add(p: Pending): void {
    this.#queue.push(p);
    this.#schedule();
  }

  /** Resolves once every append queued so far has settled (resolved or rejected). */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#queue.length === 0 && this.#waiting.length === 0) resolve();
      else this.#drained = resolve;
    });
  }

  /**
   * Tells every ready replica the commit point the last DATA frame did not
   * carry (one frame moves it, the next announces it), in an empty DATA
   * frame, and resolves once each acknowledged it, or the timeout passed,
   * or the journal stopped: a backup's store applies only records it knows
   * are committed (a new primary may cut the rest), so a clean close leaves
   * none of them unapplied there. Called once every append has settled.
   */
  announce(): Promise<void> {
    const committed = this.#state.committedLsn;
    if (committed <= this.#announced || this.#failure !== null || this.#closed || this.#inFlight !== null) return Promise.resolve();
    const first = this.#file.wal.nextLsn;
    const waits = new Map<Peer, number>();
    const frame = encodeData(this.#state.epoch, committed, 0, first, []);
    for (const p of this.peers) {
      // One not caught up, or not connected, learns it in its next handshake's catch-up.
      if (!p.ready || p.sentLsn !== first - 1) continue;
      waits.set(p, p.acks);
      p.send(frame);
    }
    this.#announced = committed;
    if (waits.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), this.#o.timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#announcing = null;
        resolve();
      };
      this.#announcing = { waits, done };
    });
  }

  /** Stops the round trips and closes the connections (the file is the caller's). */
  close(): void {
    this.#closed = true;
    this.#announcing?.done();
    // A round trip of 'local' appends may still be in flight: nobody
    // waits for it, and its records stay past the commit point, to be
    // resent by the next open. Its timer must not fire on a closed file.
    if (this.#inFlight !== null) clearTimeout(this.#inFlight.timer);
    this.#inFlight = null;
    for (const p of this.peers) p.close();
  }

  /** Writes the turn's appends as one intent at the end of this turn, and starts a round trip if none is in flight. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#intendQueued();
      this.#send();
    });
  }

  /**
   * Every queued append written to the log as one batch (the durable
   * intent: one fence), whether or not a round trip is in flight: a
   * 'local' append resolves here, and the records wait in #unsent for the
   * next round trip.
   */
  #intendQueued(): void {
    if (this.#queue.length === 0 || this.#failure !== null || this.#closed) return;
    try {
      this.#file.check();
    } catch (e) {
      const err = e as PmemError;
      this.#fail(err.code, err.message);
      return;
    }
    const batch = this.#queue;
    this.#queue = [];
    const all: Buffer[] = [];
    for (const p of batch) {
      if (p.record !== null) all.push(p.record);
      else for (const r of p.records!) all.push(r);
    }
    let lsn: number;
    try {
      lsn = this.#intend(all);
    } catch (e) {
      for (const p of batch) p.reject(e);
      this.#settled();
      return;
    }
    if (this.#unsent.length === 0) this.#unsentFirst = lsn;
    for (const p of batch) {
      p.first = lsn;
      lsn += p.record !== null ? 1 : p.records!.length;
      p.last = lsn - 1;
      p.record = null; // the bytes wait in #unsent now
      p.records = null;
      if (p.level === 'local') settle(p); // durable here: the intent's fence is behind us
      else {
        this.#waiting.push(p);
        if (p.level === 'received') this.#wantReceived = true;
      }
    }
    for (const r of all) this.#unsent.push(r);
  }

  /**
   * One round trip, when none is in flight: every record intended since the
   * last one, in one DATA frame (encoded and checksummed once) to each
   * replica; in several, each within the MAX_FRAME a replica accepts, when
   * they are more than one frame holds.
   */
  #send(): void {
    if (this.#inFlight !== null || this.#unsent.length === 0 || this.#failure !== null || this.#closed) return;
    const records = this.#unsent;
    this.#unsent = [];
    const flags = this.#wantReceived ? WANT_RECEIVED : 0;
    this.#wantReceived = false;
    const first = this.#unsentFirst;
    const last = first + records.length - 1;
    this.stats.roundTrips++;
    this.stats.records += records.length;
    const timer = setTimeout(() => { this.#timedOut(last); }, this.#o.timeoutMs);
    this.#inFlight = { last, timer };
    this.#announced = this.#state.committedLsn;
    const frames: Buffer[] = [];
    let from = 0;
    for (const to of [...dataFrameCuts(records), records.length]) {
      frames.push(encodeData(this.#state.epoch, this.#state.committedLsn, flags, first + from, from === 0 && to === records.length ? records : records.slice(from, to)));
      from = to;
    }
    for (const p of this.peers) {
      if (!p.ready) continue; // it gets the records in its catch-up after the handshake
      if (p.sentLsn === first - 1) {
        for (const f of frames) p.send(f);
        p.sentLsn = last;
      } else this.#resend(p, p.sentLsn + 1);
    }
    this.#progress();
  }

  /** The durable intent (primary-log.ts), keeping `resendBytes` (default: half the log) for catch-up. @returns the first record's LSN */
  #intend(records: Buffer[]): number {
    return intend(this.#file, records, this.#o.resendBytes ?? this.#file.wal.stats.dataSize / 2)[0];
  }

  /** Resends this log's records from `fromLsn` on `p`'s connection (catch-up.ts). */
  #resend(p: Peer, fromLsn: number): void {
    this.stats.resent += resend(this.#file, p, fromLsn);
  }

  /**
   * A backup's WELCOME: its last durable LSN decides the catch-up, or why it
   * cannot follow this journal. A backup that another address of this
   * journal's reached too (`localhost` and `127.0.0.1`, a name and its IP,
   * a forwarded port) stops the journal: a commit waits for every address,
   * and one backup would count as two copies.
   */
  #welcomed(p: Peer, epoch: number, lastLsn: number, backupId: string): void {
    if (p.ready) {
      this.#garbled(p, 'a second WELCOME');
      return;
    }
    const twin = this.peers.find((q) => q !== p && q.backupId === backupId);
    if (twin !== undefined) {
      this.#fail('ERR_PMEM_INVALID', `replicas ${twin.address.address} and ${p.address.address} are one backup (the same replica server answered both): `
        + `it would count as two copies of every record; name each backup once; ${this.#stopped()}`);
      return;
    }
    p.backupId = backupId;
    const no = cannotFollow(this.#file, p.address.address, epoch, lastLsn);
    if (no !== undefined) {
      this.#fail(no.code, `${no.message}; ${no.code === 'ERR_PMEM_REPLICA_FENCED' ? this.#fenced() : this.#stopped()}`);
      return;
    }
    p.persistedLsn = lastLsn;
    p.receivedLsn = lastLsn;
    p.sentLsn = lastLsn;
    this.#resend(p, lastLsn + 1);
    this.#progress();
  }

  #acked(p: Peer, level: number, epoch: number, lsn: number): void {
    if (!p.ready) {
      this.#garbled(p, 'an ACK');
      return;
    }
    if (epoch > this.#state.epoch) {
      this.#fail('ERR_PMEM_REPLICA_FENCED', `replica ${p.address.address} acknowledged in epoch ${epoch}; this primary's epoch ${this.#state.epoch} is stale and cannot commit`);
      return;
    }
    if (lsn > p.sentLsn) {
      p.reset(`replica ${p.address.address} acknowledged LSN ${lsn}, which was not sent`);
      return;
    }
    if (level === ACK_PERSISTED) p.persistedLsn = Math.max(p.persistedLsn, lsn);
    if (level === ACK_RECEIVED || level === ACK_PERSISTED) p.receivedLsn = Math.max(p.receivedLsn, lsn);
    p.acks++;
    const a = this.#announcing;
    if (a !== null) {
      const before = a.waits.get(p);
      if (before !== undefined && p.acks > before) a.waits.delete(p);
      if (a.waits.size === 0) a.done();
    }
    this.#progress();
  }

  /**
   * A replica's REFUSE. Only a frame it could not take after the handshake
   * (a gap, a checksum) is repaired by a new connection and a catch-up from
   * what it holds. Anything else would be refused again on every new
   * connection, so the journal stops with it: a refused handshake (another
   * protocol version, a fenced or diverged primary), a replica out of
   * space, a replica whose file failed.
   */
  #refused(p: Peer, code: string, message: string): void {
    const who = `replica ${p.address.address}`;
    if (p.ready && code === 'ERR_PMEM_REPLICA_PROTOCOL') {
      p.reset(`${who} refused: ${message}`);
      return;
    }
    const known = REFUSAL_CODES.has(code);
    const why = known ? message : `${message} (with the code '${code}', which this primary does not know)`;
    const what = !p.ready ? `refused the handshake of this primary (protocol version ${PROTOCOL_VERSION})`
      : code === 'ERR_PMEM_NO_SPACE' ? `has no space for records after LSN ${p.persistedLsn}` : 'refused records';
    const stopped = code === 'ERR_PMEM_REPLICA_FENCED' ? this.#fenced() : this.#stopped();
    this.#fail(known ? code as PmemErrorCode : 'ERR_PMEM_REPLICA_PROTOCOL', `${who} ${what}: ${why}; ${stopped}`);
  }

  /**
   * Bytes from a replica that are not this protocol. Before the handshake,
   * the server is not a replica of this protocol (another service at that
   * address, say): every new connection would get the same, so the journal
   * stops. After it, the connection is dropped and a new one catches up.
   */
  #garbled(p: Peer, why: string): void {
    if (p.ready) {
      p.reset(`replica ${p.address.address} sent ${why}`);
      return;
    }
    this.#fail('ERR_PMEM_REPLICA_PROTOCOL', `replica ${p.address.address} answered the handshake of this primary (protocol version ${PROTOCOL_VERSION}) with ${why}, `
      + `not a WELCOME: is it a pmem replica? ${this.#stopped()}`);
  }

  /**
   * After any ack: the commit point moves to what every replica has
   * persisted, durably, before any append it covers is resolved; 'received'
   * appends resolve once every replica has received them.
   */
  #progress(): void {
    if (this.#failure !== null || this.#closed) return;
    let persisted = Infinity;
    let received = Infinity;
    for (const p of this.peers) {
      persisted = Math.min(persisted, p.persistedLsn);
      received = Math.min(received, Math.max(p.receivedLsn, p.persistedLsn));
    }
    // The durable commit record: persisted (an 8-byte store and its fence,
    // state.ts) before the callers it covers are answered below.
    commit(this.#file, persisted);
    const committed = this.#state.committedLsn;
    settleReached(this.#waiting, committed, received);
    const f = this.#inFlight;
    if (f !== null && committed >= f.last) {
      clearTimeout(f.timer);
      this.#inFlight = null;
      this.#send();
    }
    this.#settled();
  }

  #timedOut(last: number): void {
    const slow = this.peers.filter((p) => p.persistedLsn < last).map((p) => {
      if (p.ready) return `${p.address.address} (persisted up to LSN ${p.persistedLsn})`;
      return `${p.address.address} (${p.standing})`;
    });
    this.#fail('ERR_PMEM_REPLICA_TIMEOUT', `no acknowledgement of LSN ${last} within ${this.#o.timeoutMs} ms from ${slow.join(', ')}; ${this.#stopped()}`);
  }

  /** The end of every message that stops the journal (but a fenced one's: #fenced). */
  #stopped(): string {
    return `the journal stopped: records after LSN ${this.#state.committedLsn} are not acknowledged (reopen to resend them)`;
  }

  /** The end of the message that stops a primary a promotion fenced off: a reopen cannot commit anything. */
  #fenced(): string {
    return `the journal stopped: records after LSN ${this.#state.committedLsn} are not acknowledged, and this primary can never commit them `
      + '(the promoted backup is the primary now; what it holds of them is in its history)';
  }

  /**
   * Stops the journal: every append not yet acknowledged, and every later
   * one, rejects with this error. The commit point stays where it is; the
   * records past it stay in this log, unacknowledged, until a reopen resends them.
   */
  #fail(code: PmemErrorCode, message: string): void {
    if (this.#failure !== null) return;
    const e = new PmemError(code, message, { path: this.#o.path });
    this.#failure = e;
    this.#announcing?.done();
    if (this.#inFlight !== null) clearTimeout(this.#inFlight.timer);
    this.#inFlight = null;
    for (const p of this.peers) p.close();
    const pending = [...this.#waiting, ...this.#queue];
    this.#waiting = [];
    this.#queue = [];
    this.#unsent = [];
    for (const p of pending) p.reject(e);
    this.#settled();
  }

  #settled(): void {
    if (this.#drained !== null && this.#queue.length === 0 && this.#waiting.length === 0) {
      const d = this.#drained;
      this.#drained = null;
      d();
    }
  }
}
