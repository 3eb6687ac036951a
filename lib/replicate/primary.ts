// ReplicatedWal: the primary of a replicated journal. An append's promise
// resolves only once its level is reached on every replica: its record is
// durable in the primary's own log (the intent), sent, persisted by every
// backup (their acks), and covered by the primary's durable commit point.
// This file is the API: options, the copy of each record, close; the
// round trips themselves (group commit) are group-commit.ts. The protocol,
// step by step, is in docs/durability.md ("Replicated journal").
import { closedError, PmemError } from '../core/errors';
import type { WalRecord } from '../log/wal';
import { GroupCommit } from './group-commit';
import { type JournalFile, newJournalId, openJournalFile } from './journal';
import { type AckLevel, checkAppendOptions, checkPrimaryOptions, type PrimaryFlags, type ReplicatedWalOptions } from './options';
import { copyRecord } from './pending';
import { MAX_DATA_RECORD } from './frames';
import type { ReplicatedWalStats } from './stats';

export type { ReplicaLinkStats, ReplicatedWalStats } from './stats';

export class ReplicatedWal {
  readonly path: string;
  readonly #o: PrimaryFlags;
  readonly #file: JournalFile;
  readonly #rounds: GroupCommit;
  #closed = false;
  #closing: Promise<void> | null = null;

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
    // Refused from the control block, before the Wal's recovery raises its
    // epoch: a backup's file opened here by mistake is left as it was.
    const file = openJournalFile(o.path, {
      create: o.create, size: o.size, role: 'primary',
      accept: (state) => {
        if (state.role !== 'primary') {
          throw new PmemError('ERR_PMEM_REPLICA_ROLE', `'${o.path}' is a backup's journal (epoch ${state.epoch}); promote it before opening it as the primary`, { path: o.path });
        }
      },
    });
    // A journal promoted from a backup that had met no primary, by a version
    // that left its id 0: it draws one now, durably, before any HELLO
    // carries it (backups refuse a HELLO with id 0).
    try {
      if (file.state.journalId === 0) file.state.setJournalId(newJournalId());
    } catch (e) {
      file.close();
      throw e;
    }
    return new ReplicatedWal(o, file);
  }

  private constructor(o: PrimaryFlags, file: JournalFile) {
    this.path = o.path;
    this.#o = o;
    this.#file = file;
    this.#rounds = new GroupCommit(o, file);
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

  /** The error that stopped the journal (a replica refused its handshake, say); null while it runs. Known without an append: a replica's refusal arrives on its own. */
  get failure(): PmemError | null {
    return this.#rounds.failure;
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

  /**
   * The largest record append takes: the log's (half of it), and at most
   * what one DATA frame carries to a replica (MAX_DATA_RECORD, 64 MiB less
   * 44 bytes). A larger one would be in this log and never on a replica.
   */
  get maxRecordSize(): number {
    return Math.min(this.#file.wal.maxRecordSize, MAX_DATA_RECORD);
  }

  get stats(): ReplicatedWalStats {
    this.#live();
    const s = this.#rounds.stats;
    return {
      ...s,
      recordsPerRoundTrip: s.roundTrips === 0 ? 0 : s.records / s.roundTrips,
      replicas: this.#rounds.peers.map((p) => ({
        address: p.address.address, connected: p.ready, persistedLsn: p.persistedLsn, receivedLsn: p.receivedLsn, connects: p.connects, resets: p.resets,
        lastError: p.lastError,
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
   *   ERR_PMEM_REPLICA_DIVERGED, ERR_PMEM_REPLICA_BEHIND,
   *   ERR_PMEM_REPLICA_PROTOCOL (a replica refused the handshake: another
   *   protocol version), ERR_PMEM_NO_SPACE naming a replica (its log is
   *   full), ERR_PMEM_IO or ERR_PMEM_INVALID (this journal's file, or a
   *   replica's, was cut short or replaced while open): the journal
   *   stopped, and the record is not acknowledged; ERR_PMEM_NO_SPACE (this
   *   log is full of records not yet on every replica), ERR_PMEM_CLOSED
   */
  append(record: Uint8Array | string, options?: { ack?: AckLevel }): Promise<number> {
    try {
      if (this.#closed || this.#closing !== null) throw closedError('replicated journal', this.path);
      const level = checkAppendOptions(options, this.#o.ack);
      const copy = copyRecord(record, 'record', this.maxRecordSize);
      if (this.#rounds.failure !== null) throw this.#rounds.failure;
      return new Promise<number>((resolve, reject) => {
        this.#rounds.add({ record: copy, records: null, one: true, level, first: 0, last: 0, resolve: resolve as (v: number | number[]) => void, reject });
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
      const max = this.maxRecordSize;
      const copies = records.map((r, i) => copyRecord(r, `records[${i}]`, max));
      if (this.#rounds.failure !== null) throw this.#rounds.failure;
      if (copies.length === 0) return Promise.resolve([]);
      return new Promise<number[]>((resolve, reject) => {
        this.#rounds.add({ record: null, records: copies, one: false, level, first: 0, last: 0, resolve: resolve as (v: number | number[]) => void, reject });
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
    // Once every append has settled, the replicas are told the last commit
    // point (their stores apply only what they know is committed).
    this.#closing = this.#rounds.drained().then(() => this.#rounds.announce()).then(() => {
      this.#closed = true;
      this.#rounds.close();
      this.#file.close();
    });
    return this.#closing;
  }

  /**
   * Closes at once, for a caller that failed before appending anything
   * (the journal's store belongs to another journal, say), and undoes this
   * open's create (JournalFile.abandon): a journal file it made is gone
   * again. Only while no replica has been sent a HELLO: a backup adopts a
   * new journal's id at its first one, and would then refuse every other
   * journal, so a journal a backup may know of is closed and kept. (Called
   * in the turn of the open, before any connection is made, it is removed.)
   */
  abandon(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    if (this.#rounds.peers.some((p) => p.connects > 0)) return this.close();
    this.#closed = true;
    this.#closing = Promise.resolve();
    this.#rounds.close();
    this.#file.abandon();
    return this.#closing;
  }

  #live(): void {
    if (this.#closed) throw closedError('replicated journal', this.path);
  }}
