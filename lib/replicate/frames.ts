// The replication wire format: length-prefixed frames on one TCP
// connection, and a reader that cuts a byte stream into them with a bound
// on a frame's size. Every record carries a CRC-32C over its LSN, length
// and payload, computed by the primary and checked by the backup before
// it persists anything. Layout in docs/formats.md ("Replication frames").
import { binding } from '../core/binding';
import { PmemError } from '../core/errors';
import type { EpochEntry } from './state';

export const FRAME_HELLO = 1;
export const FRAME_WELCOME = 2;
export const FRAME_REFUSE = 3;
export const FRAME_DATA = 4;
export const FRAME_ACK = 5;

export const PROTOCOL_VERSION = 1;
/** DATA flag: the primary asks for a 'received' ack before the records are persisted. */
export const WANT_RECEIVED = 1;
export const ACK_RECEIVED = 1;
export const ACK_PERSISTED = 2;

const FRAME_HEADER = 5; // u32 body length, u8 type
const DATA_HEADER = 24; // u64 epoch, u64 committedLsn, u32 count, u32 flags
const RECORD_HEADER = 16; // u64 lsn, u32 length, u32 crc
/** Largest frame body a peer accepts. */
export const MAX_FRAME = 64 * 1024 * 1024;

export interface Hello {
  journalId: number;
  epoch: number;
  committedLsn: number;
  history: EpochEntry[];
}

export interface DataRecord {
  lsn: number;
  data: Uint8Array;
}

export interface Data {
  epoch: number;
  committedLsn: number;
  flags: number;
  records: DataRecord[];
}

export interface Frame {
  type: number;
  body: Buffer;
}

function frame(type: number, body: Buffer): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  f.writeUInt32LE(body.length, 0);
  f.writeUInt8(type, 4);
  body.copy(f, FRAME_HEADER);
  return f;
}

const u64 = (b: Buffer, at: number): number => Number(b.readBigUInt64LE(at));
const put64 = (b: Buffer, at: number, v: number): void => { b.writeBigUInt64LE(BigInt(v), at); };

export function encodeHello(h: Hello): Buffer {
  const body = Buffer.alloc(32 + 24 * h.history.length);
  body.writeUInt32LE(PROTOCOL_VERSION, 0);
  body.writeUInt32LE(h.history.length, 4);
  put64(body, 8, h.journalId);
  put64(body, 16, h.epoch);
  put64(body, 24, h.committedLsn);
  h.history.forEach((e, i) => {
    put64(body, 32 + 24 * i, e.epoch);
    put64(body, 40 + 24 * i, e.startLsn);
    put64(body, 48 + 24 * i, e.tag);
  });
  return frame(FRAME_HELLO, body);
}

export function decodeHello(body: Buffer): Hello {
  need(body, 32, 'HELLO');
  if (body.readUInt32LE(0) !== PROTOCOL_VERSION) throw protocolError(`protocol version ${body.readUInt32LE(0)}; this build speaks ${PROTOCOL_VERSION}`);
  const n = body.readUInt32LE(4);
  if (n < 1 || body.length !== 32 + 24 * n) throw protocolError(`a HELLO of ${body.length} bytes with ${n} epochs`);
  const history: EpochEntry[] = [];
  for (let i = 0; i < n; i++) history.push({ epoch: u64(body, 32 + 24 * i), startLsn: u64(body, 40 + 24 * i), tag: u64(body, 48 + 24 * i) });
  return { journalId: u64(body, 8), epoch: u64(body, 16), committedLsn: u64(body, 24), history };
}

export function encodeWelcome(epoch: number, lastLsn: number): Buffer {
  const body = Buffer.alloc(16);
  put64(body, 0, epoch);
  put64(body, 8, lastLsn);
  return frame(FRAME_WELCOME, body);
}

export function decodeWelcome(body: Buffer): { epoch: number; lastLsn: number } {
  need(body, 16, 'WELCOME');
  return { epoch: u64(body, 0), lastLsn: u64(body, 8) };
}

/** A refusal: the error code the other side should raise, and why. The sender closes the connection after it. */
export function encodeRefuse(code: string, message: string): Buffer {
  const c = Buffer.from(code, 'latin1');
  const m = Buffer.from(message, 'utf8');
  const body = Buffer.alloc(1 + c.length + m.length);
  body.writeUInt8(c.length, 0);
  c.copy(body, 1);
  m.copy(body, 1 + c.length);
  return frame(FRAME_REFUSE, body);
}

export function decodeRefuse(body: Buffer): { code: string; message: string } {
  need(body, 1, 'REFUSE');
  const n = body.readUInt8(0);
  need(body, 1 + n, 'REFUSE');
  return { code: body.toString('latin1', 1, 1 + n), message: body.toString('utf8', 1 + n) };
}

/** The checksum of one record: its LSN and length, then its payload (so a record replayed at another LSN fails). */
export function recordCrc(lsn: number, data: Uint8Array): number {
  const h = Buffer.alloc(12);
  put64(h, 0, lsn);
  h.writeUInt32LE(data.length, 8);
  return binding.crc32c(data, 0, data.length, binding.crc32c(h, 0, 12, 0));
}

/** A DATA frame; `crcs[i]` is records[i]'s recordCrc, computed once when the record was taken from its caller. */
export function encodeData(epoch: number, committedLsn: number, flags: number, records: readonly DataRecord[], crcs: readonly number[]): Buffer {
  let size = FRAME_HEADER + DATA_HEADER;
  for (const r of records) size += RECORD_HEADER + r.data.length;
  const f = Buffer.allocUnsafe(size);
  f.writeUInt32LE(size - FRAME_HEADER, 0);
  f.writeUInt8(FRAME_DATA, 4);
  put64(f, 5, epoch);
  put64(f, 13, committedLsn);
  f.writeUInt32LE(records.length, 21);
  f.writeUInt32LE(flags, 25);
  let at = FRAME_HEADER + DATA_HEADER;
  records.forEach((r, i) => {
    put64(f, at, r.lsn);
    f.writeUInt32LE(r.data.length, at + 8);
    f.writeUInt32LE(crcs[i], at + 12);
    f.set(r.data, at + RECORD_HEADER);
    at += RECORD_HEADER + r.data.length;
  });
  return f;
}

/**
 * A DATA frame's records, each checked against its checksum.
 * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL on a malformed frame or a record whose checksum fails
 */
export function decodeData(body: Buffer): Data {
  need(body, DATA_HEADER, 'DATA');
  const count = body.readUInt32LE(16);
  const records: DataRecord[] = [];
  let at = DATA_HEADER;
  for (let i = 0; i < count; i++) {
    if (body.length < at + RECORD_HEADER) throw protocolError(`a DATA frame ends inside record ${i} of ${count}`);
    const lsn = u64(body, at);
    const len = body.readUInt32LE(at + 8);
    const crc = body.readUInt32LE(at + 12);
    if (body.length < at + RECORD_HEADER + len) throw protocolError(`a DATA frame ends inside record ${i} (LSN ${lsn})`);
    const data = body.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len);
    if (recordCrc(lsn, data) !== crc) throw protocolError(`the checksum of the record at LSN ${lsn} does not hold`);
    records.push({ lsn, data });
    at += RECORD_HEADER + len;
  }
  if (at !== body.length) throw protocolError(`${body.length - at} bytes after the last record of a DATA frame`);
  return { epoch: u64(body, 0), committedLsn: u64(body, 8), flags: body.readUInt32LE(20), records };
}

export function encodeAck(level: number, epoch: number, lsn: number): Buffer {
  const body = Buffer.alloc(24);
  body.writeUInt8(level, 0);
  put64(body, 8, epoch);
  put64(body, 16, lsn);
  return frame(FRAME_ACK, body);
}

export function decodeAck(body: Buffer): { level: number; epoch: number; lsn: number } {
  need(body, 24, 'ACK');
  const level = body.readUInt8(0);
  if (level !== ACK_RECEIVED && level !== ACK_PERSISTED) throw protocolError(`an ACK of level ${level}`);
  return { level, epoch: u64(body, 8), lsn: u64(body, 16) };
}

export function protocolError(message: string): PmemError {
  return new PmemError('ERR_PMEM_REPLICA_PROTOCOL', message);
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw protocolError(`a ${what} frame of ${body.length} bytes; it needs ${n}`);
}

/** Cuts a byte stream into frames. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #bytes = 0;

  /**
   * Adds `chunk` and returns the frames it completes.
   * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL on a frame over MAX_FRAME or of an unknown type
   */
  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    const out: Frame[] = [];
    while (this.#bytes >= FRAME_HEADER) {
      const head = this.#peek(FRAME_HEADER);
      const len = head.readUInt32LE(0);
      const type = head.readUInt8(4);
      if (len > MAX_FRAME) throw protocolError(`a frame of ${len} bytes; the most is ${MAX_FRAME}`);
      if (type < FRAME_HELLO || type > FRAME_ACK) throw protocolError(`a frame of unknown type ${type}`);
      if (this.#bytes < FRAME_HEADER + len) break;
      const all = this.#take(FRAME_HEADER + len);
      out.push({ type, body: all.subarray(FRAME_HEADER) });
    }
    return out;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0].length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0];
  }

  #take(n: number): Buffer {
    const first = this.#peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#bytes -= n;
    return out;
  }
}
