// ReplicatedWal: the primary of a replicated journal. An append's promise
// resolves only once its level is reached on every replica: its record is
// durable in the primary's own log (the intent), sent, persisted by every
// backup (their acks), and covered by the primary's durable commit point.
// Appends made while a round trip is in flight wait and go together in the
// next one (group commit). The protocol, step by step, is in
// docs/durability.md ("Replicated journal").
import { closedError, PmemError, type PmemErrorCode } from '../core/errors';
import type { WalRecord } from '../log/wal';
import { cannotFollow, resend } from './catch-up';
import { ACK_PERSISTED, ACK_RECEIVED, encodeData, encodeHello, WANT_RECEIVED } from './frames';
import { type JournalFile, openJournalFile } from './journal';
import { commit, intend } from './primary-log';
import { type AckLevel, checkAppendOptions, checkPrimaryOptions, type PrimaryFlags, type ReplicatedWalOptions } from './options';
import { Peer, type PeerOwner } from './peer';
import { copyRecord, type Pending, settle, settleReached } from './pending';
import type { ReplicatedWalStats } from './stats';

export type { ReplicaLinkStats, ReplicatedWalStats } from './stats';

/**
 * A write-ahead log replicated to backups over TCP (`startReplica` runs
 * one). Every append is acknowledged at its level by every replica; the
 * journal's state after a failure is described in docs/durability.md.
 */
export class ReplicatedWal {
  readonly path: string;
  readonly #o: PrimaryFlags;
  readonly #file: JournalFile;
  readonly #peers: Peer[];
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
  #closing: Promise<void> | null = null;
  #drained: (() => void) | null = null;
  readonly #stats = { roundTrips: 0, records: 0, resent: 0 };

  /**
   * Opens (with `create`, makes) the journal file at `path` as the primary
   * and starts connecting to its replicas. Resolves once the file is open;
   * the connections follow, and appends wait for them.
   * @throws TypeError, RangeError (options); PmemError ERR_PMEM_REPLICA_ROLE
   *   (the file is a backup's: promote it first), ERR_PMEM_LOCKED, and what
   *   opening a Wal file throws
   */
  static async open(path: string, options: ReplicatedWalOptions): Promise<ReplicatedWal> {
    const o = checkPrimaryOptions(path, options);
    const file = openJournalFile(o.path, { create: o.create, size: o.size, role: 'primary' });
    if (file.state.role !== 'primary') {
      file.close();
      throw new PmemError('ERR_PMEM_REPLICA_ROLE', `'${o.path}' is a backup's journal (epoch ${file.state.epoch}); promote it before opening it as the primary`, { path: o.path });
    }
    return new ReplicatedWal(o, file);
  }

  private constructor(o: PrimaryFlags, file: JournalFile) {
    this.path = o.path;
    this.#o = o;
    this.#file = file;
    const owner: PeerOwner = {
      hello: () => encodeHello({ journalId: this.#state.journalId, epoch: this.#state.epoch, committedLsn: this.#state.committedLsn, history: this.#state.history }),
      welcomed: (p, epoch, lastLsn) => { this.#welcomed(p, epoch, lastLsn); },
      acked: (p, level, epoch, lsn) => { this.#acked(p, level, epoch, lsn); },
      refused: (p, code, message) => { this.#refused(p, code, message); },
      lost: () => { /* the peer reconnects; the round trip's timer bounds the wait */ },
    };
    this.#peers = o.replicas.map((r) => new Peer(r, owner));
    for (const p of this.#peers) p.connect();
  }

  get #state(): JournalFile['state'] {
    return this.#file.state;
  }

  /** The journal's random id, which its backups adopt at their first handshake. */
  get journalId(): number {
    this.#live();
    return this.#state.journalId;
  }

  /** The journal's epoch (its fencing token). */
  get epoch(): number {
    this.#live();
    return this.#state.epoch;
  }

  /** The durable commit point: every record up to it is persisted on every replica. */
  get committedLsn(): number {
    this.#live();
    return this.#state.committedLsn;
  }

  /** The LSN the next intent gets. */
  get nextLsn(): number {
    this.#live();
    return this.#file.wal.nextLsn;
  }

  get stats(): ReplicatedWalStats {
    this.#live();
    const s = this.#stats;
    return {
      ...s,
      recordsPerRoundTrip: s.roundTrips === 0 ? 0 : s.records / s.roundTrips,
      replicas: this.#peers.map((p) => ({
        address: p.address.address, connected: p.ready, persistedLsn: p.persistedLsn, receivedLsn: p.receivedLsn, connects: p.connects, resets: p.resets,
      })),
    };
  }

  /**
   * Appends one record. Resolves to its LSN once `ack` is reached: 'local'
   * (durable in this log), 'received' (and received by every replica) or
   * 'persisted' (fenced by every replica and covered by the durable commit
   * point; the default).
   * @throws (rejects) TypeError, RangeError over the log's largest record;
   *   PmemError ERR_PMEM_REPLICA_TIMEOUT, ERR_PMEM_REPLICA_FENCED,
   *   ERR_PMEM_REPLICA_DIVERGED, ERR_PMEM_REPLICA_BEHIND (the journal
   *   stopped: the record is not acknowledged), ERR_PMEM_NO_SPACE, ERR_PMEM_CLOSED
   */
  append(record: Uint8Array | string, options?: { ack?: AckLevel }): Promise<number> {
    try {
      if (this.#closed || this.#closing !== null) throw closedError('replicated journal', this.path);
      const level = checkAppendOptions(options, this.#o.ack);
      const copy = copyRecord(record, 'record', this.#file.wal.maxRecordSize);
      if (this.#failure !== null) throw this.#failure;
      return new Promise<number>((resolve, reject) => {
        this.#queue.push({ record: copy, records: null, one: true, level, first: 0, last: 0, resolve: resolve as (v: number | number[]) => void, reject });
        this.#schedule();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Appends records as one batch: consecutive LSNs, in one round trip.
   * Resolves to their LSNs at the batch's `ack` level.
   * @throws (rejects) as `append`
   */
  appendBatch(records: ReadonlyArray<Uint8Array | string>, options?: { ack?: AckLevel }): Promise<number[]> {
    try {
      if (this.#closed || this.#closing !== null) throw closedError('replicated journal', this.path);
      const level = checkAppendOptions(options, this.#o.ack);
      if (!Array.isArray(records)) throw new TypeError('records must be an array');
      const max = this.#file.wal.maxRecordSize;
      const copies = records.map((r, i) => copyRecord(r, `records[${i}]`, max));
      if (this.#failure !== null) throw this.#failure;
      if (copies.length === 0) return Promise.resolve([]);
      return new Promise<number[]>((resolve, reject) => {
        this.#queue.push({ record: null, records: copies, one: false, level, first: 0, last: 0, resolve: resolve as (v: number | number[]) => void, reject });
        this.#schedule();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Records from `fromLsn` on, from this log (committed or not: compare with committedLsn). */
  read(fromLsn?: number): IterableIterator<WalRecord> {
    this.#live();
    return this.#file.wal.read(fromLsn);
  }

  /**
   * Waits for the appends already made to settle, then closes the
   * connections and the file. Later appends reject with ERR_PMEM_CLOSED.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.#closed = true;
        // A round trip of 'local' appends may still be in flight: nobody
        // waits for it, and its records stay past the commit point, to be
        // resent by the next open. Its timer must not fire on a closed file.
        if (this.#inFlight !== null) clearTimeout(this.#inFlight.timer);
        this.#inFlight = null;
        for (const p of this.#peers) p.close();
        this.#file.close();
        resolve();
      };
      if (this.#queue.length === 0 && this.#waiting.length === 0) finish();
      else this.#drained = finish;
    });
    return this.#closing;
  }

  #live(): void {
    if (this.#closed) throw closedError('replicated journal', this.path);
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
   * last one, in one DATA frame (encoded and checksummed once) to each replica.
   */
  #send(): void {
    if (this.#inFlight !== null || this.#unsent.length === 0 || this.#failure !== null || this.#closed) return;
    const records = this.#unsent;
    this.#unsent = [];
    const flags = this.#wantReceived ? WANT_RECEIVED : 0;
    this.#wantReceived = false;
    const first = this.#unsentFirst;
    const last = first + records.length - 1;
    this.#stats.roundTrips++;
    this.#stats.records += records.length;
    const timer = setTimeout(() => { this.#timedOut(last); }, this.#o.timeoutMs);
    this.#inFlight = { last, timer };
    const frame = encodeData(this.#state.epoch, this.#state.committedLsn, flags, first, records);
    for (const p of this.#peers) {
      if (!p.ready) continue; // it gets the records in its catch-up after the handshake
      if (p.sentLsn === first - 1) {
        p.send(frame);
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
    this.#stats.resent += resend(this.#file, p, fromLsn);
  }

  /** A backup's WELCOME: its last durable LSN decides the catch-up, or why it cannot follow this journal. */
  #welcomed(p: Peer, epoch: number, lastLsn: number): void {
    const no = cannotFollow(this.#file, p.address.address, epoch, lastLsn);
    if (no !== undefined) {
      this.#fail(no.code, no.message);
      return;
    }
    p.persistedLsn = lastLsn;
    p.receivedLsn = lastLsn;
    p.sentLsn = lastLsn;
    this.#resend(p, lastLsn + 1);
    this.#progress();
  }

  #acked(p: Peer, level: number, epoch: number, lsn: number): void {
    if (epoch > this.#state.epoch) {
      this.#fail('ERR_PMEM_REPLICA_FENCED', `replica ${p.address.address} acknowledged in epoch ${epoch}; this primary's epoch ${this.#state.epoch} is stale`);
      return;
    }
    if (lsn > p.sentLsn) {
      p.reset(`replica ${p.address.address} acknowledged LSN ${lsn}, which was not sent`);
      return;
    }
    if (level === ACK_PERSISTED) p.persistedLsn = Math.max(p.persistedLsn, lsn);
    if (level === ACK_RECEIVED || level === ACK_PERSISTED) p.receivedLsn = Math.max(p.receivedLsn, lsn);
    this.#progress();
  }

  #refused(p: Peer, code: string, message: string): void {
    if (code === 'ERR_PMEM_REPLICA_FENCED' || code === 'ERR_PMEM_REPLICA_DIVERGED' || code === 'ERR_PMEM_REPLICA_BEHIND') {
      this.#fail(code, `replica ${p.address.address}: ${message}`);
    } else {
      // A frame the backup could not take (a gap, a checksum): a new
      // connection and a catch-up from what it holds.
      p.reset(`replica ${p.address.address} refused: ${message}`);
    }
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
    for (const p of this.#peers) {
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
    const slow = this.#peers.filter((p) => p.persistedLsn < last).map((p) => `${p.address.address} (${p.ready ? `persisted up to LSN ${p.persistedLsn}` : 'not connected'})`);
    this.#fail('ERR_PMEM_REPLICA_TIMEOUT', `no acknowledgement of LSN ${last} within ${this.#o.timeoutMs} ms from ${slow.join(', ')}; the journal stopped: records after LSN ${this.#state.committedLsn} are not acknowledged (reopen to resend them)`);
  }

  /**
   * Stops the journal: every append not yet acknowledged, and every later
   * one, rejects with this error. The commit point stays where it is; the
   * records past it stay in this log, unacknowledged, until a reopen resends them.
   */
  #fail(code: PmemErrorCode, message: string): void {
    if (this.#failure !== null) return;
    const e = new PmemError(code, message, { path: this.path });
    this.#failure = e;
    if (this.#inFlight !== null) clearTimeout(this.#inFlight.timer);
    this.#inFlight = null;
    for (const p of this.#peers) p.close();
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
