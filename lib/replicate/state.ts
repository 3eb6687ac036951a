// The replication control block at the start of a replicated journal's
// file: which journal it belongs to, its role, the primary's durable commit
// point, and the epoch history (the fencing tokens). Every field is an
// aligned 8-byte word published with store64 and persisted before anything
// that depends on it; the layout is in docs/formats.md ("Replicated
// journal").
import { PmemError } from '../core/errors';
import { JOURNAL_MAGIC } from '../core/identify';
import { load64, type Region, store64 } from '../core/region';

/** "PRJ1". */
export const STATE_MAGIC = JOURNAL_MAGIC;
export const STATE_VERSION = 1;
/** Bytes the control block takes; the journal's Wal starts here. */
export const STATE_BYTES = 4096;

const AT_MAGIC = 0; // u32 magic, u32 version
const AT_JOURNAL = 8;
const AT_ROLE = 16;
const AT_COMMITTED = 24;
const AT_COUNT = 32;
const AT_ENTRIES = 64;
const ENTRY = 24; // u64 epoch, u64 first LSN, u64 tag
/** Epoch history entries the block holds. */
export const MAX_EPOCHS = Math.floor((STATE_BYTES - AT_ENTRIES) / ENTRY);

export type Role = 'primary' | 'backup';
const ROLE_CODE: Record<Role, number> = { primary: 1, backup: 2 };

/**
 * One epoch of the history: records from `startLsn` on were written by
 * that epoch's primary. `tag` is drawn at random by the promotion that
 * began the epoch, so two backups promoted to the same epoch at the same
 * LSN still differ; epoch 1's is drawn when the journal is formatted. The
 * tags are secrets of the journal, with its id: a HELLO whose history does
 * not hold this backup's tags is refused, so a peer that cannot read the
 * journal's files cannot forge a newer epoch. Files formatted by earlier
 * versions hold 0 for epoch 1 (docs/durability.md, "What a backup reveals").
 */
export interface EpochEntry {
  epoch: number;
  startLsn: number;
  tag: number;
}

/**
 * The control block over `[offset, offset + STATE_BYTES)` of a Region.
 * Reads are of the Region's bytes; each update is durable when it returns.
 */
export class ReplState {
  readonly region: Region;
  readonly offset: number;
  #history: EpochEntry[] = [];

  /**
   * Writes a fresh block: `journalId` (0 for a backup that has not met its
   * primary yet), `role`, commit point 0, and the history [(1, 1, firstTag)].
   * Durable when it returns.
   */
  static format(region: Region, offset: number, journalId: number, role: Role, firstTag: number): ReplState {
    const b = region.bytes;
    b.fill(0, offset, offset + STATE_BYTES);
    b.writeUInt32LE(STATE_MAGIC, offset + AT_MAGIC);
    b.writeUInt32LE(STATE_VERSION, offset + AT_MAGIC + 4);
    store64(b, offset + AT_JOURNAL, journalId);
    store64(b, offset + AT_ROLE, ROLE_CODE[role]);
    store64(b, offset + AT_ENTRIES, 1);
    store64(b, offset + AT_ENTRIES + 8, 1);
    store64(b, offset + AT_ENTRIES + 16, firstTag);
    store64(b, offset + AT_COUNT, 1);
    // The whole block durable at once: a new file is published only after
    // its format (core/identify.ts's createFile), so no order inside it matters.
    region.persist(offset, STATE_BYTES);
    return new ReplState(region, offset);
  }

  /**
   * Reads the block at `offset`.
   * @throws PmemError ERR_PMEM_CORRUPT when the magic, version or history is not valid
   */
  static open(region: Region, offset: number): ReplState {
    return new ReplState(region, offset);
  }

  private constructor(region: Region, offset: number) {
    this.region = region;
    this.offset = offset;
    const b = region.bytes;
    if (region.length < offset + STATE_BYTES || b.readUInt32LE(offset + AT_MAGIC) !== STATE_MAGIC) {
      throw new PmemError('ERR_PMEM_CORRUPT', 'no replicated journal control block (magic PRJ1) at the start of the file');
    }
    const version = b.readUInt32LE(offset + AT_MAGIC + 4);
    if (version !== STATE_VERSION) throw new PmemError('ERR_PMEM_CORRUPT', `replicated journal version ${version}; this build reads ${STATE_VERSION}`);
    const count = this.#word(AT_COUNT);
    if (count < 1 || count > MAX_EPOCHS) throw new PmemError('ERR_PMEM_CORRUPT', `replicated journal epoch history of ${count} entries`);
    for (let i = 0; i < count; i++) {
      const at = AT_ENTRIES + i * ENTRY;
      this.#history.push({ epoch: this.#word(at), startLsn: this.#word(at + 8), tag: this.#word(at + 16) });
    }
    const bad = outOfOrder(this.#history);
    if (bad !== undefined) {
      const e = this.#history[bad];
      throw new PmemError('ERR_PMEM_CORRUPT', `replicated journal epoch history entry ${bad} (${e.epoch}, ${e.startLsn}) is out of order`);
    }
    const role = this.#word(AT_ROLE);
    if (role !== ROLE_CODE.primary && role !== ROLE_CODE.backup) throw new PmemError('ERR_PMEM_CORRUPT', `replicated journal role ${role}`);
  }

  #word(at: number): number {
    return Number(load64(this.region, this.offset + at));
  }

  /** Publishes one word: an aligned 8-byte store, persisted before it returns. */
  #publish(at: number, value: number): void {
    store64(this.region.bytes, this.offset + at, value);
    this.region.persist(this.offset + at, 8);
  }

  /** The journal's random id; 0 until a fresh backup has met its primary. */
  get journalId(): number {
    return this.#word(AT_JOURNAL);
  }

  get role(): Role {
    return this.#word(AT_ROLE) === ROLE_CODE.primary ? 'primary' : 'backup';
  }

  /** The primary's durable commit point: every record up to it is persisted on every replica. */
  get committedLsn(): number {
    return this.#word(AT_COMMITTED);
  }

  /** The newest epoch this journal has seen (the last history entry's). */
  get epoch(): number {
    return this.#history[this.#history.length - 1].epoch;
  }

  /** The epoch history, oldest first (a copy). */
  get history(): EpochEntry[] {
    return this.#history.map((e) => ({ ...e }));
  }

  /** Adopts a primary's journal id. Durable when it returns, before any of its records is accepted. */
  setJournalId(id: number): void {
    // Published alone and persisted: a backup that crashes after this holds
    // no record of the journal yet, and meets the same primary again.
    this.#publish(AT_JOURNAL, id);
  }

  /**
   * Makes a backup that has not met its primary (journal id 0) that
   * journal's: its epoch 1 tag, then its id. Durable when it returns.
   */
  adoptJournal(id: number, firstTag: number): void {
    // The tag first: the id is what marks the backup as the journal's, and
    // a crash before it leaves a backup with id 0, whose tag the next
    // HELLO sets again. Each is one aligned word.
    this.#publish(AT_ENTRIES + 16, firstTag);
    this.#history[0].tag = firstTag;
    this.setJournalId(id);
  }

  /** Sets the role. Durable when it returns. */
  setRole(role: Role): void {
    this.#publish(AT_ROLE, ROLE_CODE[role]);
  }

  /**
   * Moves the commit point to `lsn` (never back). The primary's durable
   * commit record: persisted before any caller waiting on `lsn` is answered.
   */
  setCommitted(lsn: number): void {
    if (lsn <= this.committedLsn) return;
    this.#publish(AT_COMMITTED, lsn);
  }

  /**
   * Appends `(epoch, startLsn, tag)` to the history. Durable when it returns:
   * the entry is persisted before the count that publishes it, so a crash
   * leaves the history with or without the whole entry.
   * @throws PmemError ERR_PMEM_NO_SPACE when the history is full
   */
  addEpoch(epoch: number, startLsn: number, tag: number): void {
    const n = this.#history.length;
    const last = this.#history[n - 1];
    if (epoch <= last.epoch || startLsn < last.startLsn) throw new RangeError(`epoch ${epoch} from LSN ${startLsn} does not follow (${last.epoch}, ${last.startLsn})`);
    if (n >= MAX_EPOCHS) throw new PmemError('ERR_PMEM_NO_SPACE', `the epoch history holds ${MAX_EPOCHS} epochs; start a new journal`);
    const at = this.offset + AT_ENTRIES + n * ENTRY;
    store64(this.region.bytes, at, epoch);
    store64(this.region.bytes, at + 8, startLsn);
    store64(this.region.bytes, at + 16, tag);
    // The entry durable before the count that makes it part of the history.
    this.region.persist(at, ENTRY);
    this.#publish(AT_COUNT, n + 1);
    this.#history.push({ epoch, startLsn, tag });
  }
}

/**
 * The first entry of `history` that breaks its order (an epoch or a first
 * LSN below 1, an epoch not above the one before, a first LSN below the one
 * before), or undefined when there is none: what the control block holds,
 * and what a backup takes from a HELLO.
 */
export function outOfOrder(history: readonly EpochEntry[]): number | undefined {
  for (let i = 0; i < history.length; i++) {
    const e = history[i];
    const prev = history[i - 1];
    if (e.epoch < 1 || e.startLsn < 1 || (prev !== undefined && (e.epoch <= prev.epoch || e.startLsn < prev.startLsn))) return i;
  }
  return undefined;
}

/**
 * How a replica whose history is `mine` and whose last durable record is
 * `lastLsn` stands against the journal whose history is `theirs`. Its
 * history must be a prefix of theirs, else it has `diverged` (it saw an
 * epoch the journal does not hold). Records it holds past the start of the
 * journal's next epoch were written by a primary that had been replaced
 * and were never committed (the new primary did not have them): they are
 * to be dropped from `cutFrom` on.
 */
export function reconcile(mine: readonly EpochEntry[], lastLsn: number, theirs: readonly EpochEntry[]): { diverged?: string; cutFrom?: number } {
  const at = firstDifference(mine, theirs);
  if (at !== undefined) return { diverged: `its epoch history differs from the primary's at epoch ${mine[at].epoch} (from LSN ${mine[at].startLsn})` };
  if (mine.length > theirs.length) return { diverged: `it has seen epoch ${mine[mine.length - 1].epoch}, which the primary's history does not hold` };
  const next = theirs[mine.length];
  return next !== undefined && lastLsn >= next.startLsn ? { cutFrom: next.startLsn } : {};
}

/**
 * The first index where two histories' entries (epoch, first LSN, tag)
 * differ, among the entries both hold; undefined when one is a prefix of
 * the other.
 */
export function firstDifference(a: readonly EpochEntry[], b: readonly EpochEntry[]): number | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i].epoch !== b[i].epoch || a[i].startLsn !== b[i].startLsn || a[i].tag !== b[i].tag) return i;
  }
  return undefined;
}
