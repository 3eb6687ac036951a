// The replication wire format: length-prefixed frames on one TCP
// connection, and a reader that cuts a byte stream into them with a bound
// on a frame's size. A DATA frame carries one CRC-32C over everything after
// it (epoch, commit point, first LSN, every record's length and payload),
// computed by the primary in one call once the round's records are in the
// frame, and checked by the backup in one call before it persists
// anything. Layout in docs/formats.md ("Replication frames").
import { binding } from '../core/binding';
import { PmemError } from '../core/errors';
import { type EpochEntry, MAX_EPOCHS } from './state';

export const FRAME_HELLO = 1;
export const FRAME_WELCOME = 2;
export const FRAME_REFUSE = 3;
export const FRAME_DATA = 4;
export const FRAME_ACK = 5;

/** 3: the backup's identity in its WELCOME (2 had none); one checksum per DATA frame, records numbered from the frame's first LSN (1 had one per record). */
export const PROTOCOL_VERSION = 3;
/**
 * Bytes of a backup's identity in its WELCOME: random, drawn when its
 * replica server starts, so that a primary that reaches one backup by two
 * of its names finds that out (group-commit.ts, #welcomed).
 */
export const BACKUP_ID_BYTES = 16;
/** DATA flag: the primary asks for a 'received' ack before the records are persisted. */
export const WANT_RECEIVED = 1;
export const ACK_RECEIVED = 1;
export const ACK_PERSISTED = 2;

const FRAME_HEADER = 5; // u32 body length, u8 type
// DATA body: u32 crc, u32 count, u32 flags, u32 zero, u64 epoch, u64
// committedLsn, u64 first LSN; then per record u32 length and the payload.
// The crc covers the body from byte 4 to its end.
const DATA_HEADER = 40;
const RECORD_HEADER = 4; // u32 length
/** Largest frame body a peer accepts. */
export const MAX_FRAME = 64 * 1024 * 1024;
/** Largest record a DATA frame carries: a frame of it alone is MAX_FRAME. */
export const MAX_DATA_RECORD = MAX_FRAME - DATA_HEADER - RECORD_HEADER;

/**
 * Splits records with consecutive LSNs into runs whose DATA frames stay
 * within MAX_FRAME (each record is at most MAX_DATA_RECORD).
 * @returns the index where each run after the first starts
 */
export function dataFrameCuts(records: readonly Uint8Array[]): number[] {
  const cuts: number[] = [];
  let body = DATA_HEADER;
  for (let i = 0; i < records.length; i++) {
    const add = RECORD_HEADER + records[i].length;
    if (body + add > MAX_FRAME && body > DATA_HEADER) {
      cuts.push(i);
      body = DATA_HEADER;
    }
    body += add;
  }
  return cuts;
}
/** Largest HELLO body: one with the most epochs a journal holds (4064 bytes). */
export const MAX_HELLO = 32 + 24 * MAX_EPOCHS;

export interface Hello {
  journalId: number;
  epoch: number;
  committedLsn: number;
  history: EpochEntry[];
}

/** A DATA frame: records with consecutive LSNs from `firstLsn`. */
export interface Data {
  epoch: number;
  committedLsn: number;
  flags: number;
  firstLsn: number;
  records: Uint8Array[];
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

// u64 fields as two u32 halves: no BigInt per field. Every value here is an
// LSN, an epoch, a journal id or a tag, all below 2^53.
const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x100000000;
const put64 = (b: Buffer, at: number, v: number): void => {
  b.writeUInt32LE(v % 0x100000000, at);
  b.writeUInt32LE(Math.floor(v / 0x100000000), at + 4);
};

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

/**
 * A HELLO's fields. Every u64 must be a safe integer (what the control
 * block stores), and the journal id not 0: checked here, before the
 * backup writes anything of the HELLO (the history's order and length
 * are BackupLog.hello's checks).
 * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL
 */
export function decodeHello(body: Buffer): Hello {
  need(body, 32, 'HELLO');
  const version = body.readUInt32LE(0);
  if (version !== PROTOCOL_VERSION) {
    throw protocolError(`the primary speaks protocol version ${version}; this replica speaks version ${PROTOCOL_VERSION}: run one version of pmem on the primary and its backups`);
  }
  const n = body.readUInt32LE(4);
  if (n < 1 || body.length !== 32 + 24 * n) throw protocolError(`a HELLO of ${body.length} bytes with ${n} epochs`);
  const journalId = safe64(body, 8, 'journal id');
  // 0 is what a backup that has met no primary holds: adopted, it would
  // leave that backup free to adopt another journal's id later, over
  // records that are not that journal's.
  if (journalId === 0) throw protocolError('a HELLO with journal id 0; a primary\'s journal always has one');
  const epoch = safe64(body, 16, 'epoch');
  const committedLsn = safe64(body, 24, 'commit point');
  const history: EpochEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = 32 + 24 * i;
    history.push({ epoch: safe64(body, at, `epoch history entry ${i}'s epoch`), startLsn: safe64(body, at + 8, `epoch history entry ${i}'s first LSN`), tag: safe64(body, at + 16, `epoch history entry ${i}'s tag`) });
  }
  return { journalId, epoch, committedLsn, history };
}

/**
 * A frame's u64 field, refused past 2^53 - 1: the control block stores no
 * larger number, and a larger one would be rounded (its error names it
 * exactly).
 */
function safe64(b: Buffer, at: number, what: string, frameName = 'a HELLO'): number {
  const v = u64(b, at);
  if (v > Number.MAX_SAFE_INTEGER) throw protocolError(`${frameName} whose ${what} is ${b.readBigUInt64LE(at)}; the most a journal stores is 2^53 - 1`);
  return v;
}

export function encodeWelcome(epoch: number, lastLsn: number, backupId: Buffer): Buffer {
  const body = Buffer.alloc(16 + BACKUP_ID_BYTES);
  put64(body, 0, epoch);
  put64(body, 8, lastLsn);
  backupId.copy(body, 16, 0, BACKUP_ID_BYTES);
  return frame(FRAME_WELCOME, body);
}

/** A WELCOME's fields; the backup's identity in hex. */
export function decodeWelcome(body: Buffer): { epoch: number; lastLsn: number; backupId: string } {
  need(body, 16 + BACKUP_ID_BYTES, 'WELCOME');
  return { epoch: safe64(body, 0, 'epoch', 'a WELCOME'), lastLsn: safe64(body, 8, 'last LSN', 'a WELCOME'), backupId: body.toString('hex', 16, 16 + BACKUP_ID_BYTES) };
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

/** Bytes of a REFUSE's message that are read: the rest is cut, and the message says so. */
export const MAX_REFUSAL_TEXT = 1024;

/**
 * A REFUSE's code and message. The message, the peer's text, becomes part
 * of an error of this side's: past MAX_REFUSAL_TEXT bytes it is cut (at a
 * UTF-8 character's start) and says how much was left out.
 */
export function decodeRefuse(body: Buffer): { code: string; message: string } {
  need(body, 1, 'REFUSE');
  const n = body.readUInt8(0);
  need(body, 1 + n, 'REFUSE');
  const start = 1 + n;
  if (body.length - start <= MAX_REFUSAL_TEXT) return { code: body.toString('latin1', 1, start), message: body.toString('utf8', start) };
  let end = start + MAX_REFUSAL_TEXT;
  while (end > start && (body[end] & 0xc0) === 0x80) end--; // not inside a character
  return { code: body.toString('latin1', 1, start), message: `${body.toString('utf8', start, end)}... (cut: ${body.length - end} more bytes)` };
}

/**
 * A DATA frame of `records` with consecutive LSNs from `firstLsn`: written
 * into one buffer, then checksummed in one call.
 */
export function encodeData(epoch: number, committedLsn: number, flags: number, firstLsn: number, records: readonly Uint8Array[]): Buffer {
  const n = records.length;
  let size = FRAME_HEADER + DATA_HEADER + RECORD_HEADER * n;
  for (let i = 0; i < n; i++) size += records[i].length;
  const f = Buffer.allocUnsafe(size);
  f.writeUInt32LE(size - FRAME_HEADER, 0);
  f[4] = FRAME_DATA;
  const body = FRAME_HEADER;
  f.writeUInt32LE(n, body + 4);
  f.writeUInt32LE(flags, body + 8);
  f.writeUInt32LE(0, body + 12);
  put64(f, body + 16, epoch);
  put64(f, body + 24, committedLsn);
  put64(f, body + 32, firstLsn);
  let at = body + DATA_HEADER;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    f.writeUInt32LE(r.length, at);
    f.set(r, at + RECORD_HEADER);
    at += RECORD_HEADER + r.length;
  }
  f.writeUInt32LE(dataCrc(f, body, size), body);
  return f;
}

/** The checksum of the DATA body at `body..end` of `b`: everything after its own field. */
function dataCrc(b: Buffer, body: number, end: number): number {
  return binding.crc32c(b, body + 4, end - body - 4, 0);
}

/**
 * A DATA frame whose checksum and layout hold, its records not yet made
 * into objects: a backup first checks that its log has room for them (a
 * frame of 64 MiB holds up to 16M empty records, which as views would take
 * gigabytes before a refusal).
 */
export interface DataFrame {
  epoch: number;
  committedLsn: number;
  flags: number;
  firstLsn: number;
  /** Records in the frame. */
  count: number;
  /** Payload bytes of the records from index `from` on, read from their length fields (no objects). */
  bytes(from: number): number;
  /** The records from index `from` up to `to` (exclusive; default: the last one's end): views of the frame's body, not copies. */
  records(from: number, to?: number): Uint8Array[];
}

/**
 * A DATA frame, once its checksum and layout hold (every record inside the
 * body, nothing after the last), in one pass that makes no object per record.
 * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL on a malformed frame or one whose checksum fails
 */
export function readData(body: Buffer): DataFrame {
  need(body, DATA_HEADER, 'DATA');
  const firstLsn = safe64(body, 32, 'first LSN', 'a DATA frame');
  if (dataCrc(body, 0, body.length) !== body.readUInt32LE(0)) throw protocolError(`the checksum of the DATA frame from LSN ${firstLsn} does not hold`);
  const count = body.readUInt32LE(4);
  // Each record takes 4 bytes at least, so a count past the body ends this
  // loop at the body's end, not after 2^32 turns.
  let at = DATA_HEADER;
  for (let i = 0; i < count; i++) {
    if (body.length < at + RECORD_HEADER) throw protocolError(`a DATA frame ends inside record ${i} of ${count}`);
    const len = body.readUInt32LE(at);
    if (body.length < at + RECORD_HEADER + len) throw protocolError(`a DATA frame ends inside record ${i} (LSN ${firstLsn + i})`);
    at += RECORD_HEADER + len;
  }
  if (at !== body.length) throw protocolError(`${body.length - at} bytes after the last record of a DATA frame`);
  if (count > 0 && firstLsn < 1) throw protocolError(`a DATA frame from LSN ${firstLsn}`);
  /** The offset of record `from`'s length field. */
  const seek = (from: number): number => {
    let p = DATA_HEADER;
    for (let i = 0; i < from; i++) p += RECORD_HEADER + body.readUInt32LE(p);
    return p;
  };
  return {
    epoch: safe64(body, 16, 'epoch', 'a DATA frame'), committedLsn: safe64(body, 24, 'commit point', 'a DATA frame'), flags: body.readUInt32LE(8), firstLsn, count,
    bytes(from) {
      const p = seek(from);
      return body.length - p - RECORD_HEADER * (count - from);
    },
    records(from, to = count) {
      const out = new Array<Uint8Array>(to - from);
      let p = seek(from);
      for (let i = 0; i < out.length; i++) {
        const len = body.readUInt32LE(p);
        out[i] = body.subarray(p + RECORD_HEADER, p + RECORD_HEADER + len);
        p += RECORD_HEADER + len;
      }
      return out;
    },
  };
}

/**
 * A DATA frame with its records (views of `body`, not copies), once its
 * checksum and layout hold: what a primary's test peer reads.
 * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL as readData
 */
export function decodeData(body: Buffer): Data {
  const d = readData(body);
  return { epoch: d.epoch, committedLsn: d.committedLsn, flags: d.flags, firstLsn: d.firstLsn, records: d.records(0) };
}

/** An ACK frame, written in place: one per DATA frame, or two when 'received' was asked for. */
export function encodeAck(level: number, epoch: number, lsn: number): Buffer {
  const f = Buffer.alloc(FRAME_HEADER + 24);
  f.writeUInt32LE(24, 0);
  f[4] = FRAME_ACK;
  f[FRAME_HEADER] = level;
  put64(f, FRAME_HEADER + 8, epoch);
  put64(f, FRAME_HEADER + 16, lsn);
  return f;
}

export function decodeAck(body: Buffer): { level: number; epoch: number; lsn: number } {
  need(body, 24, 'ACK');
  const level = body.readUInt8(0);
  if (level !== ACK_RECEIVED && level !== ACK_PERSISTED) throw protocolError(`an ACK of level ${level}`);
  return { level, epoch: safe64(body, 8, 'epoch', 'an ACK'), lsn: safe64(body, 16, 'LSN', 'an ACK') };
}

export function protocolError(message: string): PmemError {
  return new PmemError('ERR_PMEM_REPLICA_PROTOCOL', message);
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw protocolError(`${/^[AEIOU]/.test(what) ? 'an' : 'a'} ${what} frame of ${body.length} bytes; it needs ${n}`);
}

/**
 * Cuts a byte stream into frames. A frame that arrives whole in one chunk
 * is a view of that chunk; the bytes of one that does not are copied into
 * one buffer of its own, grown by doubling up to the frame's length, so a
 * frame sent a byte per TCP segment holds at most twice its bytes (not a
 * Buffer per segment), and is copied O(1) times per byte on average.
 */
export class FrameReader {
  readonly #firstMax: number;
  #frames = 0;
  /** The frame being read: its first #len bytes, its header first. */
  #buf: Buffer = EMPTY;
  #len = 0;
  /** Its whole length (header and body) once its header is in; FRAME_HEADER until then. */
  #want = FRAME_HEADER;

  /**
   * @param firstMax the largest body of the stream's first frame (a
   *   backup's connection opens with a HELLO: MAX_HELLO); later frames' is MAX_FRAME
   */
  constructor(firstMax = MAX_FRAME) {
    this.#firstMax = Math.min(firstMax, MAX_FRAME);
  }

  /** Bytes held of a frame not yet complete. */
  get buffered(): number {
    return this.#len;
  }

  /**
   * Adds `chunk` and returns the frames it completes.
   * @throws PmemError ERR_PMEM_REPLICA_PROTOCOL on a frame over its limit
   *   (MAX_FRAME; the first one's given to the constructor) or of an unknown type
   */
  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#len === 0 && chunk.length - at >= FRAME_HEADER) {
        const len = this.#bodyLength(chunk, at);
        if (chunk.length - at >= FRAME_HEADER + len) {
          out.push({ type: chunk[at + 4], body: chunk.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len) });
          this.#frames++;
          at += FRAME_HEADER + len;
          continue;
        }
        this.#want = FRAME_HEADER + len;
      }
      const n = Math.min(this.#want - this.#len, chunk.length - at);
      this.#copy(chunk, at, n);
      at += n;
      if (this.#len === FRAME_HEADER && this.#want === FRAME_HEADER) this.#want = FRAME_HEADER + this.#bodyLength(this.#buf, 0);
      if (this.#len === this.#want) {
        out.push({ type: this.#buf[4], body: this.#buf.subarray(FRAME_HEADER, this.#len) });
        this.#frames++;
        // The buffer goes with the frame: the next one gets its own, so no
        // frame handed out is ever overwritten.
        this.#buf = EMPTY;
        this.#len = 0;
        this.#want = FRAME_HEADER;
      }
    }
    return out;
  }

  /** The body length in the frame header at `at` of `b`, checked. */
  #bodyLength(b: Buffer, at: number): number {
    const len = b.readUInt32LE(at);
    const type = b[at + 4];
    const max = this.#frames === 0 ? this.#firstMax : MAX_FRAME;
    if (len > max) {
      throw protocolError(max === MAX_FRAME ? `a frame of ${len} bytes; the most is ${MAX_FRAME}`
        : `a first frame of ${len} bytes; the most is ${max} (a connection opens with a HELLO)`);
    }
    if (type < FRAME_HELLO || type > FRAME_ACK) throw protocolError(`a frame of unknown type ${type}`);
    return len;
  }

  /** Appends `n` bytes of `src` from `at` to the frame being read, growing its buffer by doubling, never past the frame's length. */
  #copy(src: Buffer, at: number, n: number): void {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#want, Math.max(need, 2 * this.#buf.length, 256)));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    src.copy(this.#buf, this.#len, at, at + n);
    this.#len = need;
  }
}

const EMPTY = Buffer.alloc(0);
