// A KVStore written through a replicated journal (the primary's side):
// each write is first a journal record, acknowledged 'persisted' by every
// backup, and only then applied to the store, together with its LSN
// (applied.ts). The protocol and what a failure at each step leaves are in
// docs/durability.md ("Replicated KVStore").
//
// Rounds: writes made while a round is in flight wait, and the next round
// sends them together (one journal batch, one round trip) and applies them
// together (one KVStore batch, one fence). A round is sent only after the
// previous one is applied: the journal frees committed records when it
// writes a new intent, and a record freed before the store applied it
// would be lost to the store after a crash.
import { PmemError } from '../core/errors';
import type { KVStore } from '../kv/store';
import { type ReplicaLinkStats, ReplicatedWal } from '../replicate/primary';
import type { ReplicatedWalOptions } from '../replicate/options';
import { applyRecords, readApplied, readRecords } from './applied';
import { type CopiedOps, encodeOps } from './ops';

interface Write {
  ops: CopiedOps;
  record: Buffer; // encodeOps(ops)
  resolve(lsn: number): void;
  reject(e: unknown): void;
}

export interface StoreJournalStats {
  /** Rounds sent and applied: one journal round trip and one store batch each. */
  rounds: number;
  writes: number;
  /** Journal records applied at an open (or a reopen) that the store did not hold yet. */
  replayed: number;
  /** Times the journal stopped (a replica timed out, say) and was opened again. */
  reopens: number;
}

export class StoreJournal {
  readonly store: KVStore;
  readonly path: string;
  readonly #options: ReplicatedWalOptions;
  #wal: ReplicatedWal | null;
  readonly #maxRecord: number;
  #applied: number;
  #queue: Write[] = [];
  /**
   * Writes of failed rounds that did not reach the journal, oldest first:
   * the next round sends them first. A close before it drops them; no write
   * acknowledged since depends on them, as its round would have sent them.
   */
  #carried: Write[] = [];
  #busy = false;
  #closed = false;
  #idle: (() => void) | null = null;
  readonly stats: StoreJournalStats = { rounds: 0, writes: 0, replayed: 0, reopens: 0 };

  /**
   * Opens the journal at `path` for `store` and brings the store up to it:
   * a tail past the journal's commit point is first committed (one
   * record, acknowledged by every backup, after it), then every record the
   * store lacks is applied.
   * @throws (rejects) what ReplicatedWal.open and its appends throw;
   *   PmemError ERR_PMEM_CORRUPT when store and journal do not belong together
   */
  static async open(store: KVStore, path: string, options: ReplicatedWalOptions): Promise<StoreJournal> {
    const wal = await ReplicatedWal.open(path, options);
    const j = new StoreJournal(store, path, options, wal);
    try {
      await j.#catchUp(wal);
    } catch (e) {
      // A journal this open made (a store of another journal meets a new,
      // empty one) goes again; one that was there is closed as it is.
      await wal.abandon().catch(() => {});
      throw e;
    }
    return j;
  }

  private constructor(store: KVStore, path: string, options: ReplicatedWalOptions, wal: ReplicatedWal) {
    this.store = store;
    this.path = path;
    this.#options = { ...options, create: false };
    this.#wal = wal;
    this.#maxRecord = wal.maxRecordSize; // the journal's size decides it: the same at every reopen
    this.#applied = readApplied(store);
  }

  /** The last journal record the store holds. */
  /** The backups every write waits for (the replicas given at open). */
  get backups(): number {
    return this.#options.replicas.length;
  }

  /**
   * Each backup's link as the journal sees it now (ReplicatedWal.stats):
   * whether its handshake is done on a live connection, and the LSNs it
   * acknowledged. None while the journal is stopped (after a failed round,
   * until the next round reopens it) or closed.
   */
  get links(): ReplicaLinkStats[] {
    return this.#wal === null ? [] : this.#wal.stats.replicas;
  }

  /** The error that stopped the open journal (ReplicatedWal.failure), before any round meets it; null while it runs, or once it is closed. */
  get failure(): PmemError | null {
    return this.#wal === null ? null : this.#wal.failure;
  }

  /** The journal's last record (committed or not); 0 for none, and while it is stopped or closed. */
  get lastLsn(): number {
    return this.#wal === null ? 0 : this.#wal.nextLsn - 1;
  }

  /** The largest journal record a write may make (encodeOps): larger ones are refused at commit. */
  get maxRecordSize(): number {
    return this.#maxRecord;
  }

  get appliedLsn(): number {
    return this.#applied;
  }

  get epoch(): number {
    return this.#wal?.epoch ?? 0;
  }

  /**
   * Commits `ops` (copied by copyOps): resolves to the record's LSN once
   * every backup persisted it and the store applied it.
   * @throws (rejects) RangeError (a record larger than the journal takes:
   *   nothing is written, and the writes beside it go on), PmemError
   *   ERR_PMEM_REPLICA_* (the record is not
   *   acknowledged; it stays in the journal and is committed when the
   *   journal is opened again, so its outcome is unknown), ERR_PMEM_CLOSED
   */
  commit(ops: CopiedOps): Promise<number> {
    if (this.#closed) return Promise.reject(new PmemError('ERR_PMEM_CLOSED', `the replicated store of journal '${this.path}' is closed`));
    // Refused here, alone: in a round, the journal would refuse the whole
    // round's batch, and the writes made beside it with it.
    const record = encodeOps(ops);
    if (record.length > this.#maxRecord) {
      return Promise.reject(new RangeError(`a write of ${record.length} bytes as a journal record exceeds the journal's largest record, ${this.#maxRecord} bytes`));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, record, resolve, reject });
      if (!this.#busy) {
        this.#busy = true;
        queueMicrotask(() => { void this.#rounds(); });
      }
    });
  }

  /**
   * For a caller that fails after open and before any commit: closes the
   * journal (not the store) at once, and a journal file the open made is
   * removed again (ReplicatedWal.abandon).
   */
  abandon(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const wal = this.#wal;
    this.#wal = null;
    return wal === null ? Promise.resolve() : wal.abandon();
  }

  /** Waits for the writes made so far, then closes the journal (not the store). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#busy) await new Promise<void>((resolve) => { this.#idle = resolve; });
    await this.#wal?.close();
    this.#wal = null;
  }

  async #rounds(): Promise<void> {
    while (this.#queue.length > 0) {
      const round = this.#queue;
      this.#queue = [];
      // Writes of failed rounds that never reached the journal go first.
      const carried = this.#carried;
      this.#carried = [];
      const writes = carried.length === 0 ? round : [...carried, ...round];
      let journaled = 0; // of `writes`, in the journal (committed or not)
      try {
        const wal = this.#wal ?? (await this.#reopen());
        const lsns: number[] = [];
        // In batches of at most one record's size (writes carried over
        // several failed rounds may be more than the journal holds at
        // once), each applied before the next is sent: the next one's
        // intent frees committed records, which the store must hold first.
        for (const batch of batches(writes, this.#maxRecord)) {
          const before = nextLsnOf(wal);
          let got: number[];
          try {
            got = await wal.appendBatch(batch.map((w) => w.record));
          } finally {
            // Written, acknowledged or not: the next open commits it (#catchUp).
            if (before >= 0 && nextLsnOf(wal) >= before + batch.length) journaled += batch.length;
          }
          // The records with their LSN (applyRecords: ops and LSN in one
          // batch); a crash before it leaves them to #catchUp.
          applyRecords(this.store, batch.map((w, i) => ({ lsn: got[i], ops: w.ops })));
          this.#applied = got[got.length - 1];
          lsns.push(...got);
        }
        this.stats.rounds++;
        this.stats.writes += round.length;
        round.forEach((w, i) => w.resolve(lsns[carried.length + i]));
      } catch (e) {
        for (const w of round) w.reject(e);
        // Writes the journal never took (its reopen failed, or it refused
        // the batch before writing it) are not lost with their round: the
        // caller's keyspace holds them, and later writes build on them. The
        // next round sends them ahead of its own, in order; their callers
        // were told the outcome is unknown.
        this.#carried = writes.slice(journaled);
        if (this.#wal !== null) {
          // The journal stopped (a backup timed out, say), or the store
          // could not apply a committed round (ERR_PMEM_NO_SPACE): either
          // way the next round opens the journal again, which resends its
          // tail and applies what the store lacks before anything new.
          const wal = this.#wal;
          this.#wal = null;
          await wal.close().catch(() => {});
        }
      }
    }
    this.#busy = false;
    if (this.#idle !== null) this.#idle();
  }

  async #reopen(): Promise<ReplicatedWal> {
    const wal = await ReplicatedWal.open(this.path, this.#options);
    try {
      await this.#catchUp(wal);
    } catch (e) {
      await wal.close().catch(() => {});
      throw e;
    }
    this.stats.reopens++;
    this.#wal = wal;
    return wal;
  }

  /** Commits the journal's tail (a record with no ops, acknowledged after it) and applies what the store lacks. */
  async #catchUp(wal: ReplicatedWal): Promise<void> {
    const applied = readApplied(this.store);
    let last = wal.nextLsn - 1;
    if (last < applied) {
      throw new PmemError('ERR_PMEM_CORRUPT', `the store has applied journal records up to LSN ${applied}, but the journal '${this.path}' ends at LSN ${last}: they do not belong together`);
    }
    if (last === applied) return;
    if (wal.committedLsn < last) last = await wal.append(encodeOps([]));
    const records = readRecords(wal.read(applied + 1), applied, last, this.path);
    applyRecords(this.store, records);
    this.stats.replayed += records.length;
    this.#applied = last;
  }
}

/** The journal's next LSN, or -1 once it is closed. */
function nextLsnOf(wal: ReplicatedWal): number {
  try {
    return wal.nextLsn;
  } catch {
    return -1;
  }
}

/** `writes` cut in order into runs whose records total at most `max` bytes (a larger one alone). */
function* batches(writes: Write[], max: number): IterableIterator<Write[]> {
  let run: Write[] = [];
  let bytes = 0;
  for (const w of writes) {
    if (run.length > 0 && bytes + w.record.length > max) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(w);
    bytes += w.record.length;
  }
  if (run.length > 0) yield run;
}
