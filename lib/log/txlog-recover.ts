// The transaction log's recovery: which records a crash may have left
// unfinished, and how they are finished. What txlog.ts writes, and in which
// order, is what makes this enough; docs/durability.md gives the argument.
import { PmemError } from '../core/errors';
import { type Region, store64 } from '../core/region';
import { MODE_REDO, MODE_UNDO, readTxLog, RETIRE_LINE, slotBytes, TXLOG_MAGIC, TXLOG_SIZE_AT, TXLOG_VERSION, type TxLogRecord } from './txlog-format';

export interface TxRecovery {
  /** What recovery did to the newest transaction it found in the log. */
  action: 'none' | 'redo' | 'undo';
  seq: number;
}

/**
 * Recovers the log at `offset` (`size` bytes): redoes the committed
 * transactions whose in-place writes may not be durable, rolls back an undo
 * update that was not retired, and retires the log durably. Returns what it
 * did and the last sequence number used, which the log also holds retired
 * when it returns. A crash during it leaves the log as it was, and the next
 * recovery does the same again.
 * @throws PmemError ERR_PMEM_CORRUPT when the region holds no log of this
 *   layout (the message says what its first line holds: another layout,
 *   or what layout 1 kept there), its retire word is past any sequence
 *   number (2^53 - 1 or more), or an undo update that was never retired
 *   precedes a later record
 */
export function recoverTxLog(
  region: Region, offset: number, size: number, checksum: (b: Buffer, start: number, bytes: number) => number,
): TxRecovery {
  const b = region.bytes;
  // No checksum covers the magic and layout: another layout cannot be
  // told from damage, and both are ERR_PMEM_CORRUPT. The message says
  // what the line holds. An earlier version of pmem wrote layout 1 (one
  // log area, redo entries with old and new bytes), with no magic: its
  // first line is its commit word (1 at format, 2·seq or 2·seq + 1 after)
  // and zeros.
  const magic = b.readUInt32LE(offset + 8) === TXLOG_MAGIC;
  const layout = magic ? b.readUInt32LE(offset + 12) : 0;
  if (!magic || layout !== TXLOG_VERSION) {
    const found = magic
      ? `: its first line holds layout ${layout} (another version's, or damage)`
      : layoutOneAt(b, offset)
        ? ': its first line is what layout 1, an earlier version\'s, keeps there (a commit word, no magic); ' +
          'open it with the version that wrote it to finish its last transaction, then format it again with this one'
        : '';
    throw new PmemError('ERR_PMEM_CORRUPT', `no transaction log of layout ${TXLOG_VERSION} at offset ${offset}${found}`);
  }
  // Another size places the second slot elsewhere: recovery would miss the
  // record there, and the next run would stage one over bytes past the log.
  const formatted = b.readBigUInt64LE(offset + TXLOG_SIZE_AT);
  if (formatted !== 0n && formatted !== BigInt(size)) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the transaction log at offset ${offset} has ${formatted} bytes, not ${size}`);
  }
  // Sequence numbers count transactions from 1, and each is a double that
  // must hold the next one exactly: no run makes a retire word of 2^53 - 1
  // or more. Taken as it is, such a word (a damaged high bit) would number
  // the next run with a sequence number that readTxLog refuses, and the
  // one after with the same number (n + 1 === n past 2^53) in the same
  // slot as the run before it, whose in-place writes are not yet durable:
  // a committed run that recovery could no longer redo.
  const word = b.readBigUInt64LE(offset);
  if (word >= BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the transaction log at offset ${offset} has retire word ${word}, past any sequence number`);
  }
  const retired = Number(word);
  const slot = slotBytes(size);
  const records: Array<TxLogRecord | undefined> = [0, 1].map((i) =>
    readTxLog(region, offset + RETIRE_LINE + i * slot, slot, i, offset, size, checksum));
  // The newest whole record. Its transaction started after the one before
  // it had fenced, so only that one, in the other slot, may also have
  // in-place writes that are not durable; every earlier one's are.
  const last = (records[0]?.seq ?? 0) > (records[1]?.seq ?? 0) ? records[0] : records[1];
  if (last === undefined || last.seq <= retired) return { action: 'none', seq: Math.max(retired, last?.seq ?? 0) };
  const other = records[(last.seq + 1) % 2];
  const prev = other !== undefined && other.seq === last.seq - 1 && other.seq > retired ? other : undefined;
  if (prev !== undefined && prev.mode === MODE_UNDO) {
    // An undo update retires itself (durably) before it returns, and the
    // next record is written only after that.
    throw new PmemError('ERR_PMEM_CORRUPT', `undo update ${prev.seq} was not retired, yet record ${last.seq} follows it`);
  }
  // Redo the one before, then redo or undo the newest: in sequence order,
  // so where their targets overlap the newest wins, as it did when they ran.
  // An undo record holds the bytes from before the update, which the one
  // before had already written.
  const apply = (r: TxLogRecord): void => {
    for (const e of r.entries) {
      b.set(e.bytes, e.offset);
      // Flushed for the one drain below; a crash before it leaves the log
      // as it was, and the next recovery does the same again.
      region.flush(e.offset, e.bytes.length);
    }
  };
  if (prev !== undefined) apply(prev);
  apply(last);
  // The data is durable before the retire word can be.
  region.drain();
  // Retire (aligned 8-byte store), durably: after open, nothing is left for
  // a later recovery to redo over writes made after it.
  store64(b, offset, last.seq);
  region.persist(offset, 8);
  return { action: last.mode === MODE_REDO ? 'redo' : 'undo', seq: last.seq };
}

/** Whether the line at `offset` is what layout 1 keeps there: a nonzero commit word alone, then zeros. */
function layoutOneAt(b: Buffer, offset: number): boolean {
  if (b.readBigUInt64LE(offset) === 0n) return false;
  for (let i = offset + 8; i < offset + RETIRE_LINE; i++) if (b[i] !== 0) return false;
  return true;
}
