// Whether a file is ours: what its first bytes say it is, and the one way
// the path-opening structures (KVStore, Wal, TieredCache) open, create and lock a file.
// A user's file is not ours until it proves it: nothing is resized,
// truncated or written before its signature is checked, and `create` makes
// only a missing or empty file, under a temporary name that is published
// whole (lib/core/create-file.ts; docs/formats.md, "Identifying and creating a file").
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binding, type NativeLock } from './binding';
import { createFile, pathTooLong } from './create-file';
import { crc32c } from './crc32c';
import { isPmemError, PmemError, type PmemErrorCode } from './errors';
import { openMapping, openMappingOf, type Mapping } from './mapping';
import { hasHoles } from './space';

/** What a file's first bytes look like. */
export type ContentKind = 'kv' | 'wal' | 'objpool' | 'poolset' | 'superblock' | 'append-list' | 'cache' | 'journal' | 'empty' | 'zeros' | 'text' | 'unknown';

export interface Identity {
  kind: ContentKind;
  /** Format magic and version, e.g. "PKV1 v1", for the kinds that have one. */
  format?: string;
  /** What the file looks like, for messages: "a KV store", "text", … */
  description: string;
}

/** Bytes read from the start of a file to identify it. */
export const HEAD_BYTES = 4096;

const SUPERBLOCK_MAGIC = 0x31425350; // "PSB1", see lib/log/superblock.ts
const APPEND_LIST_MAGIC = 0x4c505041; // "APPL", see lib/log/append-list.ts
/** "PCT1": a tiered cache's PMem tier (lib/cache/pmem-format.ts takes its MAGIC from here). */
export const CACHE_MAGIC = 0x31544350;
/** "PRJ1": a replicated journal's control block (lib/replicate/state.ts takes its STATE_MAGIC from here). */
export const JOURNAL_MAGIC = 0x314a5250;
const PAYLOADS: Record<number, [ContentKind, string, string]> = {
  0x31564b50: ['kv', 'PKV1', 'a KV store'],
  0x4c415750: ['wal', 'PWAL', 'a write-ahead log (Wal)'],
};

/**
 * The superblock replica (0 or 128) of a KV store or WAL in `b` that names
 * what the file holds: the one the superblock's recovery takes (committed,
 * its checksum holding, the highest version), so that a payload rewritten
 * with another format version shows that version; else the first that
 * carries a known payload magic (a damaged store is still a store); -1 for
 * none.
 */
function payloadReplica(b: Buffer): number {
  let first = -1;
  let best = -1;
  let bestVersion = -1n;
  for (const r of [0, 128]) {
    if (b.length < r + 72 || b.readUInt32LE(r) !== SUPERBLOCK_MAGIC || PAYLOADS[b.readUInt32LE(r + 64)] === undefined) continue;
    if (first < 0) first = r;
    const len = b.readUInt32LE(r + 4);
    if (b.readBigUInt64LE(r + 24) !== 1n || len > 64 || b.length < r + 64 + len) continue;
    if (b.readUInt32LE(r + 16) !== crc32c(b, r + 64, len, crc32c(b, r, 16))) continue;
    const version = b.readBigUInt64LE(r + 8);
    if (version > bestVersion) {
      best = r;
      bestVersion = version;
    }
  }
  return best >= 0 ? best : first;
}

/**
 * Identifies the first `n` bytes of a file (`head`, up to HEAD_BYTES).
 * KV stores and WALs start with a superblock whose two replicas (payload
 * capacity up to 64) begin at 0 and 128; the payload starts 64 bytes in.
 */
export function identify(head: Uint8Array, n: number): Identity {
  const b = Buffer.from(head.buffer, head.byteOffset, Math.min(n, head.length));
  if (b.length === 0) return { kind: 'empty', description: 'an empty file' };
  if (b.length >= 12 && b.toString('latin1', 0, 8) === 'PMEMOBJ\0') {
    return { kind: 'objpool', format: `PMEMOBJ v${b.readUInt32LE(8)}`, description: 'a libpmemobj pool' };
  }
  if (b.length >= 11 && b.toString('latin1', 0, 11) === 'PMEMPOOLSET') {
    return { kind: 'poolset', description: 'a libpmemobj pool set file' };
  }
  const replica = payloadReplica(b);
  if (replica >= 0) {
    const p = PAYLOADS[b.readUInt32LE(replica + 64)];
    return { kind: p[0], format: `${p[1]} v${b.readUInt32LE(replica + 68)}`, description: p[2] };
  }
  if (b.length >= 4 && b.readUInt32LE(0) === SUPERBLOCK_MAGIC) {
    // A file cut before the payload's magic (a KV store's or log's, 64 bytes in) cannot say whose it is.
    if (b.length < 72) return { kind: 'superblock', description: `a pmem superblock cut short at ${b.length} bytes, before its payload says what it belongs to` };
    return { kind: 'superblock', description: 'a pmem superblock of another structure' };
  }
  if (b.length >= 4 && b.readUInt32LE(0) === APPEND_LIST_MAGIC) return { kind: 'append-list', description: 'a pmem AppendList' };
  if (b.length >= 8 && b.readUInt32LE(0) === CACHE_MAGIC) {
    return { kind: 'cache', format: `PCT1 v${b.readUInt32LE(4)}`, description: 'a tiered cache' };
  }
  if (b.length >= 8 && b.readUInt32LE(0) === JOURNAL_MAGIC) {
    return { kind: 'journal', format: `PRJ1 v${b.readUInt32LE(4)}`, description: 'a replicated journal' };
  }
  let zeros = true;
  let text = true;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0) zeros = false;
    // Printable ASCII, tab, newline, carriage return, and UTF-8 bytes.
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c === 0x7f) text = false;
  }
  // Bytes of 0x80 and up are text only as UTF-8 (all-0xff bytes are not);
  // a sequence cut at the end of what was read is taken (streamed decode).
  if (text && !zeros) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(b, { stream: true });
    } catch {
      text = false;
    }
  }
  if (zeros) return { kind: 'zeros', description: `zeros (no signature in its first ${b.length} bytes)` };
  if (text) return { kind: 'text', description: 'text' };
  return { kind: 'unknown', description: 'unknown data (no signature of this package)' };
}

/** Identifies the file open as `fd` from its bytes at `offset`; reads only. */
export function identifyFd(fd: number, size: number, offset = 0): Identity {
  const head = Buffer.alloc(Math.max(0, Math.min(HEAD_BYTES, size - offset)));
  let n = 0;
  while (n < head.length) {
    const got = fs.readSync(fd, head, n, head.length - n, offset + n);
    if (got === 0) break;
    n += got;
  }
  return identify(head, n);
}

/**
 * Identifies the file at `file` by reading its first bytes (never writing);
 * undefined when it cannot be opened for reading (the caller's open then
 * reports why). A non-regular file is 'unknown', described by its type
 * (a FIFO is opened without waiting for a writer: see unlockedHandle).
 */
export function identifyPath(file: string): Identity | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { kind: 'unknown', description: `${fileType(st)}, not a regular file` };
    return identifyFd(fd, st.size);
  } finally {
    fs.closeSync(fd);
  }
}

/** The refusal of a file that is not the structure asked for. */
export function notAStore(file: string, expected: string, id: Identity): PmemError {
  return new PmemError('ERR_PMEM_NOT_A_STORE', `'${file}' is not ${expected}: it holds ${id.description}; nothing was written to it`, { path: file });
}

// The file lock: exclusive for a writer, shared for read-only opens, taken
// without waiting (ERR_PMEM_LOCKED). Released by release(), by the handle's
// finalizer, when the worker that took it exits, and by the kernel when the
// process dies (native/core/filelock.cc).

/** Opens `file` and locks it; `create` makes a missing file (empty). */
export function lockFile(file: string, exclusive: boolean, create = false): NativeLock {
  return binding.lockFile(file, exclusive, create);
}

export interface StoreFileOptions {
  /** The kind the file must hold. */
  kind: ContentKind;
  /** Its name in messages, e.g. "a KV store". */
  name: string;
  create: boolean;
  readOnly: boolean;
  /** With `create`: bytes of a new file. */
  size: number;
  /** Where in the file the structure starts (default 0). */
  offset?: number;
  /** Largest file the structure can map as one Buffer. */
  maxFile: number;
  /** Writes an empty structure over a new file's mapping; durable when it returns. */
  format(m: Mapping): void;
  /**
   * With `readOnly`: take no lock, and read the signature through a plain
   * descriptor (a KVStore reader follows a writer's log beside it). The
   * handle returned is that descriptor; the caller may release it as soon
   * as the file is mapped. The mapping is shared (`Mapping.shared`) when
   * the file has no holes.
   */
  besideWriter?: boolean;
}

/**
 * Opens `file` for a structure of kind `o.kind` and returns its lock
 * descriptor and mapping, both the caller's to release. The lock is taken
 * first and the signature is read through it; a file that is not of that
 * kind is refused with ERR_PMEM_NOT_A_STORE before anything maps, grows or
 * writes it. With `create`, a missing or empty file is made by
 * `createFile`; `created` then says what this call made the file from (a
 * missing path, or an empty file), and is undefined for a file it found
 * (another creator's, however new) and for a device it formatted in place.
 * @throws PmemError ERR_PMEM_NOT_A_STORE, ERR_PMEM_NOT_FOUND,
 *   ERR_PMEM_LOCKED, ERR_PMEM_CORRUPT (over `maxFile`), ERR_PMEM_INVALID
 *   (a symlink loop), ERR_PMEM_ACCESS
 */
export function openStoreFile(file: string, o: StoreFileOptions): { lock: NativeLock; mapping: Mapping; created?: 'missing' | 'empty' } {
  // Two rounds at most: a create that loses the race to another creator
  // opens what that one published. Rounds start over when the path was
  // moved between its open and its lock (moved, below).
  let moved = 0;
  for (let round = 0; ; round++) {
    let lock: NativeLock;
    try {
      // A reader beside a writer takes no lock, not even for a moment: a
      // writer opening then would find the file locked.
      if (o.readOnly && o.besideWriter === true) {
        lock = unlockedHandle(file);
      } else {
        // The lock's open does not wait for a FIFO's writer (O_NONBLOCK):
        // a FIFO is refused below by the type of what was opened.
        lock = lockFile(file, !o.readOnly);
      }
    } catch (e) {
      if (isCode(e, 'ERR_PMEM_NOT_FOUND') && o.create && round === 0 && dirExists(file)) {
        const made = createFile(file, o, -1);
        if (made !== null) return { ...made, created: 'missing' };
        continue;
      } else {
        throw refine(file, o.name, e);
      }
    }
    let keep = false; // the lock is the store's from here on
    const fd = lock.fd;
    try {
      const st = fs.fstatSync(fd);
      if (!namesFile(file, st)) {
        // Renamed, replaced or removed between the open and the lock (a
        // failed create undone, say): the lock is on a file the path no
        // longer names, and a writer there would write to a file no open
        // finds again. Open what the path names now.
        if (++moved > 3) throw new PmemError('ERR_PMEM_LOCKED', `'${file}' was replaced again and again while it was opened`, { path: file });
        round = -1;
        continue;
      }
      if (st.isCharacterDevice() && isDevDax(st)) {
        const mapping = openDevice(file, o);
        keep = true;
        return { lock, mapping };
      }
      if (!st.isFile()) throw notAStore(file, o.name, { kind: 'unknown', description: `${fileType(st)}, not a regular file` });
      if (st.size === 0 && o.create && round === 0) {
        // An empty file is formatted too: replaced whole by a new one, while
        // this lock on it keeps any other creator out. Its lock goes with it.
        const made = createFile(file, o, fd);
        if (made !== null) return { ...made, created: 'empty' };
        continue;
      }
      const at = o.offset ?? 0;
      const id = st.size === 0 ? identify(Buffer.alloc(0), 0) : identifyFd(fd, st.size, at);
      if (id.kind !== o.kind) throw notAStore(file, o.name, at > 0 && st.size > 0 ? withStart(fd, st.size, at, id) : id);
      if (st.size > o.maxFile) {
        throw new PmemError('ERR_PMEM_CORRUPT', `'${file}' is ${st.size} bytes; ${o.name} is at most ${o.maxFile}`, { path: file });
      }
      // A reader beside a writer maps the file shared, so that it sees every
      // store the writer makes, unless the file has holes: a read fault of
      // one allocates a page on tmpfs (a SIGBUS when it is full), so they
      // are mapped from anonymous memory, and the reader maps the file
      // again once a writer has filled them (lib/kv/follow.ts).
      const shared = o.readOnly && o.besideWriter === true && !hasHoles(st);
      // Through the descriptor identified: the file the path named then.
      const mapping = openMappingOf(fd, file, { readOnly: o.readOnly, shared });
      keep = true;
      return { lock, mapping };
    } finally {
      if (!keep) lock.release();
    }
  }
}

/**
 * What a file refused at `offset` holds, said for its message. The bytes
 * there alone may be the middle of another structure (a KV store's zeros)
 * or past the file's end ("an empty file"), so the file's start is named
 * too: a Wal opened at an offset of a KV store is told it holds a KV store.
 */
function withStart(fd: number, size: number, offset: number, id: Identity): Identity {
  const start = identifyFd(fd, size, 0);
  const there = offset >= size ? `nothing at offset ${offset} (the file is ${size} bytes)` : `${id.description} at offset ${offset}`;
  return { ...id, description: start.kind === id.kind && offset < size ? there : `${start.description} from its start, and ${there}` };
}

/** Whether `file` (links followed, as the lock's open followed them) still names the file `st` is of. */
function namesFile(file: string, st: fs.Stats): boolean {
  let now: fs.Stats;
  try {
    now = fs.statSync(file);
  } catch (e) {
    // Gone (or a directory on the way gone); any other failure to look
    // tells nothing, and the open goes on with what it locked.
    const code = (e as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
  return now.ino === st.ino && now.dev === st.dev;
}

/**
 * A read-only descriptor without a lock, in a lock's shape: released by
 * release(), by its finalizer and when the worker that opened it exits, as
 * a lock is (native/core/filelock.cc), so a reader dropped without close()
 * does not keep it open. O_NONBLOCK: a FIFO is opened at once (to be refused
 * for its type), not waited on; on a regular file it changes nothing.
 */
function unlockedHandle(file: string): NativeLock {
  return binding.openFile(file);
}

/**
 * A devdax device: it has no name to publish and its contents cannot be
 * read() (only mapped), so it is mapped and identified from the mapping;
 * with `create`, a device whose first bytes are all zero is formatted in
 * place.
 */
function openDevice(file: string, o: StoreFileOptions): Mapping {
  const mapping = openMapping(file, { readOnly: o.readOnly });
  try {
    const at = o.offset ?? 0;
    const id = identify(mapping.bytes.subarray(at, at + HEAD_BYTES), HEAD_BYTES);
    if (id.kind === 'zeros' && o.create) o.format(mapping);
    else if (id.kind !== o.kind) throw notAStore(file, o.name, id);
    return mapping;
  } catch (e) {
    mapping.close();
    throw e;
  }
}

/**
 * Whether a character device is a devdax device: its
 * /sys/dev/char/MAJ:MIN/subsystem is the dax class or bus. /dev/null and
 * other character devices are not.
 */
export function isDevDax(st: fs.Stats): boolean {
  if (!st.isCharacterDevice()) return false;
  // Linux dev_t: minor in bits 0..7 and 20..31, major in bits 8..19 (arithmetic, not bit operators: st.rdev may pass 2^32).
  const major = Math.floor(st.rdev / 256) % 4096;
  const minor = (st.rdev % 256) + (Math.floor(st.rdev / 1048576) % 4096) * 256;
  try {
    const sub = fs.realpathSync(`/sys/dev/char/${major}:${minor}/subsystem`);
    return sub === '/sys/class/dax' || sub === '/sys/bus/dax';
  } catch {
    return false;
  }
}

function fileType(st: fs.Stats): string {
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function dirExists(file: string): boolean {
  try {
    return fs.statSync(path.dirname(file)).isDirectory();
  } catch {
    return false;
  }
}

function isCode(e: unknown, code: PmemErrorCode): boolean {
  return isPmemError(e, code);
}

/**
 * ELOOP (a symbolic link loop) is a file that cannot be a store, not a
 * missing one, and ENAMETOOLONG a path no open can take. EISDIR (a
 * writable open of a directory) is refused as a read-only open, which opens
 * it, refuses it for its type; so is a special file that open(2) refuses
 * with ENXIO (a UNIX socket).
 */
function refine(file: string, name: string, e: unknown): unknown {
  if (isPmemError(e) && e.errno === 40 /* ELOOP */) {
    return new PmemError('ERR_PMEM_INVALID', `'${file}' is a symbolic link loop`, { path: file, errno: e.errno, syscall: e.syscall });
  }
  if (isPmemError(e) && e.errno === 21 /* EISDIR */) {
    return notAStore(file, name, { kind: 'unknown', description: 'a directory, not a regular file' });
  }
  const tooLong = pathTooLong(file, e);
  if (tooLong !== null) return tooLong;
  if (isPmemError(e) && e.errno === 6 /* ENXIO */) {
    const st = statOrNull(file);
    if (st !== null && !st.isFile()) return notAStore(file, name, { kind: 'unknown', description: `${fileType(st)}, not a regular file` });
  }
  return e;
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}
