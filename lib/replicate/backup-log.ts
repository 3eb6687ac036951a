// The backup's side of the protocol on its journal, without the network:
// the handshake (fencing by epoch, the divergence check, the durable
// adoption of the primary's id and epochs), the acceptance of records (in
// LSN order, the same LSNs as the primary's, persisted before the
// 'persisted' ack) and promotion. replica.ts puts it on a TCP server; the
// crash tests drive it directly over a simulated Region.
import { isPmemError, PmemError, type PmemErrorCode } from '../core/errors';
import { RECORD_HEADER as LOG_RECORD_HEADER } from '../log/wal-record';
import { ACK_PERSISTED, ACK_RECEIVED, type DataFrame, type Hello, protocolError, WANT_RECEIVED } from './frames';
import { replicateHooks as hooks } from './hooks';
import { type Journal, newJournalId } from './journal';
import { firstDifference, MAX_EPOCHS, outOfOrder, reconcile } from './state';

/** What to do when the backup is too far behind or has diverged: the same words everywhere. */
export const RESEED = 'delete the replica\'s file and start it again with create, so that it copies the journal from the start';

/** Refusals whose message names what only the journal's own should learn, with the words its peer is told instead. */
const peerWords = new WeakMap<Error, string>();

/**
 * A refusal of a HELLO whose sender has not shown it holds the journal's
 * id and tags: `message` (thrown, logged by the backup) may name this
 * backup's id and epochs; `told` (what the peer reads) must not.
 */
function unproven(code: PmemErrorCode, message: string, told: string): PmemError {
  const e = new PmemError(code, message);
  peerWords.set(e, told);
  return e;
}

/** The text a REFUSE of `e` carries to the peer. */
export function refusalText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return peerWords.get(e) ?? e.message;
}

export class BackupLog {
  readonly journal: Journal;
  /** The highest commit point a primary has told this backup (DRAM only): records up to it are on every replica. */
  #committedSeen = 0;

  /**
   * Called before records are freed, with the last LSN about to be freed;
   * returns the last one that may be (a store following this journal
   * applies them first: records it has not taken must stay). Null: all.
   */
  beforeFree: ((upto: number) => number) | null = null;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  /** The last LSN beforeFree allowed at the last #free, when it held back committed records; else -1. */
  #heldAt = -1;

  /** Frees records up to the announced commit point, or as far as beforeFree allows. */
  #free(): void {
    const { wal } = this.journal;
    let upto = this.#committedSeen;
    this.#heldAt = -1;
    if (upto < wal.headLsn) return;
    if (this.beforeFree !== null) {
      const allowed = this.beforeFree(upto);
      if (allowed < upto) this.#heldAt = allowed;
      upto = Math.min(upto, allowed);
    }
    // Durable through the Wal's superblock: after a crash the head is the old one or this.
    if (upto >= wal.headLsn) wal.truncate(upto);
  }

  /** Why the records the log holds could not be freed, for a full log's error. */
  #whyHeld(): string {
    const committed = this.#committedSeen;
    if (this.#heldAt >= 0 && this.#heldAt < committed) {
      return `records up to LSN ${committed} are committed, but the store this backup feeds has applied them only up to LSN ${this.#heldAt}, `
        + 'and a record is freed only once applied (its log says why the store stopped)';
    }
    return `none of which it may free before the primary commits them (committed: up to LSN ${committed})`;
  }

  /** The LSN of the last record this backup holds durably. */
  get lastLsn(): number {
    return this.journal.wal.nextLsn - 1;
  }

  /**
   * The last record this backup knows to be committed: up to the commit
   * point a primary announced (in its HELLO or a DATA frame), or its own
   * from when it was a primary (durable in its control block). Records past
   * it may be cut by a new primary's handshake, as an old epoch's tail.
   */
  get committedLsn(): number {
    return Math.min(this.lastLsn, Math.max(this.#committedSeen, this.journal.state.committedLsn));
  }

  get epoch(): number {
    return this.journal.state.epoch;
  }

  /**
   * A primary's HELLO. Returns what the WELCOME says (this backup's epoch
   * and last durable LSN) once the primary's journal id and epochs are
   * durable here; nothing of a primary is accepted before that.
   * Records an old primary wrote past the start of a newer epoch (never
   * committed) are dropped first. Every check runs before anything is
   * written: a refused HELLO leaves the file as it was.
   * @throws PmemError ERR_PMEM_REPLICA_DIVERGED (another journal, or a
   *   history that differs from this backup's in an epoch both hold,
   *   checked before the epochs: refusalText is what the peer may read),
   *   ERR_PMEM_REPLICA_FENCED (the primary's epoch is older than one this
   *   backup has seen, or this backup was promoted),
   *   ERR_PMEM_REPLICA_DIVERGED (an epoch the primary's history lacks, or
   *   a divergent tail it can no longer cut),
   *   ERR_PMEM_REPLICA_PROTOCOL (a history out of order, or longer than
   *   the control block holds, or not ending at the HELLO's epoch)
   */
  hello(h: Hello): { epoch: number; lastLsn: number } {
    const { state } = this.journal;
    const last = h.history[h.history.length - 1];
    if (last.epoch !== h.epoch) throw protocolError(`a HELLO of epoch ${h.epoch} whose history ends at epoch ${last.epoch}`);
    const bad = outOfOrder(h.history);
    if (bad !== undefined) {
      const e = h.history[bad];
      throw protocolError(`a HELLO whose epoch history is out of order at entry ${bad}: epoch ${e.epoch} from LSN ${e.startLsn}`
        + (bad > 0 ? ` after epoch ${h.history[bad - 1].epoch} from LSN ${h.history[bad - 1].startLsn}` : ''));
    }
    if (h.history.length > MAX_EPOCHS) throw protocolError(`a HELLO with ${h.history.length} epochs in its history; a journal holds at most ${MAX_EPOCHS}`);
    // The journal's id, then its tags, before anything that depends on this
    // backup's epochs: until a peer has shown both, a refusal (its code
    // too) tells it only that what it sent is not this journal's, never
    // what is (refusalText). A backup that named its id would let anyone
    // who reaches its port send a newer epoch of a journal that never
    // failed over, and fence the primary.
    if (state.journalId !== 0 && state.journalId !== h.journalId) {
      // Another primary's backup: reseeding it would take that journal's copy away.
      const then = `give this journal a backup of its own; only if that journal's copy is no longer needed, ${RESEED}`;
      throw unproven('ERR_PMEM_REPLICA_DIVERGED', `the replica belongs to another journal (id ${state.journalId}, this primary's ${h.journalId}): ${then}`,
        `the replica belongs to another journal: ${then}`);
    }
    // A backup that has met no primary takes the primary's epoch 1 tag with its id.
    const mine = state.journalId === 0 ? [{ ...state.history[0], tag: h.history[0].tag }, ...state.history.slice(1)] : state.history;
    if (!hooks.noEpochCheck) {
      const at = firstDifference(mine, h.history);
      if (at !== undefined) {
        throw unproven('ERR_PMEM_REPLICA_DIVERGED', `the replica has diverged from the primary: its epoch history differs from the primary's at epoch ${mine[at].epoch} `
          + `(from LSN ${mine[at].startLsn}); ${RESEED}`, `the replica has diverged from the primary: its epoch history differs from the primary's; ${RESEED}`);
      }
      // From here on the peer holds this journal's id and the tags of every
      // epoch both histories hold: the old primary itself, or one of its
      // backups promoted. It is told what this backup has seen.
      if (state.role === 'primary') {
        throw new PmemError('ERR_PMEM_REPLICA_FENCED', `the replica was promoted to epoch ${state.epoch}; the primary of epoch ${h.epoch} is stale and cannot commit`);
      }
      if (h.epoch < state.epoch) {
        throw new PmemError('ERR_PMEM_REPLICA_FENCED', `the replica has seen epoch ${state.epoch}; the primary of epoch ${h.epoch} is stale and cannot commit`);
      }
      const r = reconcile(mine, this.lastLsn, h.history);
      if (r.diverged !== undefined) throw new PmemError('ERR_PMEM_REPLICA_DIVERGED', `the replica has diverged from the primary: ${r.diverged}; ${RESEED}`);
      if (r.cutFrom !== undefined) {
        if (r.cutFrom < this.journal.wal.headLsn) {
          throw new PmemError('ERR_PMEM_REPLICA_DIVERGED', `the replica holds records of epoch ${state.epoch} past LSN ${r.cutFrom - 1}, where epoch ${h.history[state.history.length].epoch} began, and no longer holds LSN ${r.cutFrom - 1}; ${RESEED}`);
        }
        // The old epoch's uncommitted tail goes first, durably: were the new
        // epoch adopted before it, a crash between the two would leave those
        // records looking like the new epoch's.
        if (!hooks.adoptBeforeCut) this.journal.wal.truncateTail(r.cutFrom);
      }
      this.#adopt(h);
      if (hooks.adoptBeforeCut && r.cutFrom !== undefined) this.journal.wal.truncateTail(r.cutFrom);
    } else {
      this.#adopt(h);
    }
    this.#committedSeen = Math.max(this.#committedSeen, Math.min(h.committedLsn, this.lastLsn));
    return { epoch: state.epoch, lastLsn: this.lastLsn };
  }

  /**
   * Durable before the WELCOME, so before any record of the primary is
   * accepted: its journal id, then each epoch this backup had not seen.
   */
  #adopt(h: Hello): void {
    const { state } = this.journal;
    if (state.journalId === 0) state.adoptJournal(h.journalId, h.history[0].tag);
    for (const e of h.history) if (e.epoch > state.epoch) state.addEpoch(e.epoch, e.startLsn, e.tag);
  }

  /**
   * A DATA frame's records (its checksum and layout already checked by
   * readData): the new ones, which must start at this backup's next LSN,
   * are appended with the same LSNs in one batch (one fence), then
   * acknowledged 'persisted'. Records it holds already are skipped once
   * their bytes are found equal to its own (#checkHeld).
   * @throws PmemError ERR_PMEM_REPLICA_FENCED (an older epoch),
   *   ERR_PMEM_REPLICA_PROTOCOL (a gap, which is also how a reorder of
   *   frames shows; an epoch not agreed in the handshake),
   *   ERR_PMEM_REPLICA_DIVERGED (a record it holds, sent with other bytes),
   *   ERR_PMEM_NO_SPACE
   * `ack` is called for each acknowledgement; `beforeWrite` is true for one
   * made before the frame's records are written, which must leave at once.
   */
  accept(d: DataFrame, ack: (level: number, lsn: number, beforeWrite: boolean) => void): void {
    const { wal, state } = this.journal;
    if (!hooks.noEpochCheck && d.epoch < state.epoch) {
      throw new PmemError('ERR_PMEM_REPLICA_FENCED', `records of epoch ${d.epoch}; the replica has seen epoch ${state.epoch}`);
    }
    if (d.epoch > state.epoch) throw protocolError(`records of epoch ${d.epoch} before a handshake of that epoch`);
    const next = wal.nextLsn;
    const n = d.count;
    const end = d.firstLsn + n; // the LSN after the frame's last record
    if (n > 0 && d.firstLsn > next) throw protocolError(`a gap: LSN ${d.firstLsn} where the replica expects LSN ${next}`);
    this.#checkHeld(d, next);
    // The frame's records from `next` on are new; those before it are held already.
    const fresh = Math.max(0, end - Math.max(next, d.firstLsn));
    const upto = fresh > 0 ? end - 1 : next - 1;
    this.#committedSeen = Math.max(this.#committedSeen, Math.min(d.committedLsn, upto));
    if ((d.flags & WANT_RECEIVED) !== 0) ack(ACK_RECEIVED, upto, true);
    if (hooks.ackOnReceipt) ack(ACK_PERSISTED, upto, true); // the broken variant: acked before the fence below
    if (fresh > 0) {
      this.#makeRoom();
      // The one ordering point: the batch is fenced when appendBatch
      // returns, and only then is it acknowledged 'persisted'.
      const first = this.#append(d, n - fresh, next);
      if (first !== next) throw new PmemError('ERR_PMEM_CORRUPT', `the replica's log gave LSN ${first} to the primary's LSN ${next}`);
    }
    if (!hooks.ackOnReceipt) ack(ACK_PERSISTED, upto, false);
  }

  /**
   * The frame's records that this backup holds already (LSNs below `next`)
   * must be its own, byte for byte: the same LSN with another payload is
   * a history that is not this backup's, and keeping its own version while
   * acknowledging the frame would hide that. The payloads are compared
   * whole, not through the log's record checksums: those are salted per
   * file and cover the record's header (its epoch, its place in a batch),
   * so one would be computed over the frame's bytes anyway. Records freed
   * already (below the log's head, committed on every replica) are not
   * compared. Nothing is written or acknowledged before this check.
   * @throws PmemError ERR_PMEM_REPLICA_DIVERGED naming the first record that differs
   */
  #checkHeld(d: DataFrame, next: number): void {
    const { wal } = this.journal;
    const from = Math.max(d.firstLsn, wal.headLsn);
    const to = Math.min(d.firstLsn + d.count, next); // exclusive
    if (from >= to) return;
    const sent = d.records(from - d.firstLsn, to - d.firstLsn);
    for (const held of wal.read(from)) {
      if (held.lsn >= to) break;
      const s = sent[held.lsn - from];
      if (!held.data.equals(s)) {
        throw new PmemError('ERR_PMEM_REPLICA_DIVERGED', `the replica has diverged from the primary: it holds another record at LSN ${held.lsn} `
          + `(${held.data.length} bytes) than the primary sent (${s.length} bytes); ${RESEED}`);
      }
    }
  }

  /**
   * Appends the frame's records from index `skip` (LSNs from `next`) as one
   * batch; a log too full for them frees what is committed and tries once
   * more. Nothing of a batch that does not fit is written, nor acknowledged.
   * The records become objects (views of the frame) only once the log has
   * room for their payloads and a record header each, the least they take:
   * a frame of 16M empty records, which could never fit, is refused from
   * its length fields instead of as 16M views (gigabytes, seconds of work).
   * @returns the first record's LSN
   * @throws PmemError ERR_PMEM_NO_SPACE naming the records and what the log holds
   */
  #append(d: DataFrame, skip: number, next: number): number {
    const { wal } = this.journal;
    const count = d.count - skip;
    const bytes = d.bytes(skip);
    const fits = (): boolean => {
      const s = wal.stats;
      return count * LOG_RECORD_HEADER + bytes <= s.dataSize - s.used;
    };
    let records: Uint8Array[] | undefined;
    if (fits()) {
      records = d.records(skip);
      try {
        return wal.appendBatch(records)[0];
      } catch (e) {
        if (!isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
      }
    }
    // Records up to the announced commit point are on every replica: freed
    // (#free) before the batch that needs their room is written.
    this.#free();
    if (fits()) {
      try {
        return wal.appendBatch(records ?? d.records(skip))[0];
      } catch (e) {
        if (!isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
      }
    }
    const s = wal.stats;
    throw new PmemError('ERR_PMEM_NO_SPACE', `the replica's log has no room for ${count} records of ${bytes} bytes from LSN ${next}: `
      + `it holds LSN ${wal.headLsn}..${next - 1} (${s.used} of ${s.dataSize} bytes): ${this.#whyHeld()}`);
  }

  /**
   * Frees records up to the commit point a primary announced once the log
   * is over half full: those are on every replica, and a backup promoted
   * later still holds every record past it.
   */
  #makeRoom(): void {
    const s = this.journal.wal.stats;
    if (s.used > s.dataSize / 2) this.#free();
  }

  /**
   * Promotes this backup: raises its epoch durably (a new history entry
   * from its next LSN, with a random tag), then marks it a primary. One
   * that never met a primary first draws a journal id of its own. From
   * the epoch's persist on, it refuses every record and handshake of the
   * old primary.
   * @returns the new epoch
   */
  promote(): number {
    const { wal, state } = this.journal;
    const epoch = state.epoch + 1;
    // A backup that never met a primary has no journal id (0), and a HELLO
    // with none is refused: it draws its own, durably, before the epoch. A
    // crash between the two leaves a backup with an id and no new epoch,
    // which meets no primary of that id and can be promoted again.
    if (state.journalId === 0) state.setJournalId(newJournalId());
    // The fencing token first: a crash after it leaves a backup that
    // refuses the old primary and can be promoted again.
    state.addEpoch(epoch, wal.nextLsn, newJournalId());
    state.setRole('primary');
    return epoch;
  }
}
