// The transaction log's layout, and the reading of a log from the media
// for recovery: what txlog.ts writes and what its recover() trusts, kept
// apart from the protocol that orders the writes.
import { align8 } from '../core/args';
import { crc32c } from '../core/crc32c';
import type { Region } from '../core/region';

/** The commit word's 64-byte line, which it has to itself; the log starts after it. */
export const COMMIT_LINE = 64;
/** The log's header: crc32c, entry count, sequence number, entry bytes, mode. */
export const TX_LOG_HEADER = 32;
/** An entry's header: target offset, length, zero. */
export const TX_ENTRY_HEADER = 16;
export const MODE_REDO = 1;
export const MODE_UNDO = 2;

/**
 * The log of the TxLog at `logOffset` (`logSize` bytes) as the media holds
 * it, or undefined when its checksum fails or it is not a log (then it was
 * never made durable: no in-place write of its transaction had started).
 */
export function readTxLog(region: Region, logOffset: number, logSize: number):
  | { seq: number; mode: number; entries: Array<{ offset: number; oldBytes: Buffer; newBytes?: Buffer }> }
  | undefined {
  const b = region.bytes;
  const start = logOffset + COMMIT_LINE;
  const count = b.readUInt32LE(start + 4);
  const seq = Number(b.readBigUInt64LE(start + 8));
  const bytes = Number(b.readBigUInt64LE(start + 16));
  const mode = b[start + 24];
  if (seq === 0 || (mode !== MODE_REDO && mode !== MODE_UNDO) || bytes > logSize - COMMIT_LINE - TX_LOG_HEADER) return undefined;
  if (b.readUInt32LE(start) !== txLogChecksum(b, start, bytes)) return undefined;
  const entries = [];
  let at = start + TX_LOG_HEADER;
  const end = at + bytes;
  for (let i = 0; i < count; i++) {
    if (at + TX_ENTRY_HEADER > end) return undefined;
    const offset = Number(b.readBigUInt64LE(at));
    const len = b.readUInt32LE(at + 8);
    at += TX_ENTRY_HEADER;
    const span = align8(len) * (mode === MODE_REDO ? 2 : 1);
    if (span > end - at || offset + len > region.length ||
        (offset < logOffset + logSize && offset + len > logOffset)) return undefined;
    const oldBytes = Buffer.from(b.subarray(at, at + len));
    const newBytes = mode === MODE_REDO ? Buffer.from(b.subarray(at + align8(len), at + align8(len) + len)) : undefined;
    entries.push({ offset, oldBytes, newBytes });
    at += span;
  }
  return { seq, mode, entries };
}

/** crc32c of header bytes 4..31 and the entries of the log whose header is at `start`. */
export function txLogChecksum(b: Buffer, start: number, bytes: number): number {
  return crc32c(b, start + TX_LOG_HEADER, bytes, crc32c(b, start + 4, TX_LOG_HEADER - 4));
}
