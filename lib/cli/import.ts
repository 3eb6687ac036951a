// `pmem kv <file> import`: JSON lines from a file, a pipe or stdin, streamed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tty from 'node:tty';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

import { cannotUse, exitCodeOf, Fail, interruptedExit, messageOf, reasonOf, usage } from './exit';
import type { KVStore } from '../kv/store';
import { keyOf, valueArg } from '../kv/args';
import { MAX_VALUE } from '../kv/format';
import { Progress } from './progress';
import { pathText } from './text';

/** The longest line read: a 64 MiB value in base64, with room for its key. */
const MAX_LINE = Math.ceil(MAX_VALUE / 3) * 4 + 64 * 1024;
/** A batch is written when it holds this many records or bytes. */
const BATCH_RECORDS = 1000;
const BATCH_BYTES = 1024 * 1024;

export interface Input {
  /** How messages name it: its path (escaped: pathText), or "stdin". */
  name: string;
  /** A regular file can be read twice: checked whole, then imported. */
  regular: boolean;
  size: number;
  /**
   * The input as a stream, from its start. A regular file is read through
   * descriptors of the file openInput opened, each time: the file checked
   * is the file imported, whatever is renamed over its path meanwhile;
   * `bytes` reads only that many of it (the bytes the check read, not
   * lines appended to it since).
   */
  open(bytes?: number): Readable;
  /** Closes the descriptors of a regular file that no pass took (each stream closes its own); nothing for other inputs. */
  close(): void;
}

/**
 * Checks the import source before anything is created: it exists, is
 * readable, is a regular file, a pipe, a socket or a terminal, and is not
 * the store `store` itself (which the import would read as it writes it, or
 * format first when empty); `-` is stdin. Fails with exit 3.
 */
export function openInput(source: string, store: string): Input {
  if (source === '-') return stdinInput(store);
  const name = pathText(source);
  let fd: number;
  try {
    fd = fs.openSync(source, 'r');
  } catch (e) {
    throw cannotUse(`cannot read ${name}: ${reasonOf(e)}`);
  }
  const st = fs.fstatSync(fd);
  if (st.isDirectory() || !(st.isFile() || st.isFIFO() || st.isSocket() || st.isCharacterDevice())) {
    fs.closeSync(fd);
    throw cannotUse(`cannot read ${name}: ${st.isDirectory() ? 'a directory' : 'not a file or a pipe'}`);
  }
  if (isStore(st, store)) {
    fs.closeSync(fd);
    throw cannotUse(`cannot import ${name} into ${pathText(store)}: ${name} is the store itself`);
  }
  const regular = st.isFile();
  if (regular) {
    // A descriptor for each pass, both of the file opened above: the second
    // is opened through /proc/self/fd, which opens the file a descriptor
    // names, whatever has been renamed over its path since. Each pass's
    // stream closes its own (once any read it has under way is done);
    // close() closes those no stream took.
    let second: number | undefined;
    try {
      second = fs.openSync(`/proc/self/fd/${fd}`, 'r');
    } catch {
      second = undefined; // no /proc: the second pass opens the path again
    }
    const fds: Array<number | undefined> = [fd, second];
    let passes = 0;
    const take = (): number | undefined => {
      const at = passes < fds.length ? fds[passes] : undefined;
      if (passes < fds.length) fds[passes] = undefined;
      passes++;
      return at;
    };
    return {
      name, regular, size: st.size,
      open: (bytes) => {
        const at = take();
        if (bytes === 0) {
          if (at !== undefined) fs.closeSync(at);
          return Readable.from([]);
        }
        return fs.createReadStream(source, { fd: at, start: 0, end: bytes === undefined ? Infinity : bytes - 1, highWaterMark: 1024 * 1024 });
      },
      close: () => {
        for (let i = 0; i < fds.length; i++) {
          const at = fds[i];
          fds[i] = undefined;
          if (at !== undefined) fs.closeSync(at);
        }
      },
    };
  }
  const open = (): Readable => {
    // A pipe is read through the event loop (libuv makes it non-blocking),
    // not by a blocking read() in the thread pool: such a read, waiting on
    // a writer that keeps the pipe open, would keep the process from
    // exiting after a bad line. The open above has waited for a writer.
    if (st.isFIFO() || st.isSocket()) return new net.Socket({ fd, readable: true, writable: false });
    if (tty.isatty(fd)) return new tty.ReadStream(fd);
    return fs.createReadStream(source, { fd, highWaterMark: 1024 * 1024 });
  };
  return { name, regular, size: st.size, open, close: () => {} };
}

/**
 * Stdin, checked like a named source. Node gives an empty stream for a
 * stdin it does not stream (a directory, a block device), which would
 * import nothing and succeed: a directory is refused, and a block device is
 * read through a stream of its descriptor.
 */
function stdinInput(store: string): Input {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(0);
  } catch (e) {
    throw cannotUse(`cannot read stdin: ${reasonOf(e)}`);
  }
  if (st.isDirectory()) throw cannotUse('cannot read stdin: a directory');
  if (isStore(st, store)) throw cannotUse(`cannot import stdin into ${pathText(store)}: stdin is the store itself`);
  const open = (): Readable => (st.isBlockDevice() ? fs.createReadStream('', { fd: 0, autoClose: false }) : process.stdin);
  return { name: 'stdin', regular: false, size: 0, open, close: () => {} };
}

/** Whether `st` is the file `store` (by another name, a link, or a descriptor of it). */
function isStore(st: fs.Stats, store: string): boolean {
  let s: fs.Stats;
  try {
    s = fs.statSync(store);
  } catch {
    return false; // a store yet to be made is no input
  }
  return s.dev === st.dev && s.ino === st.ino;
}

/** SIGINT or SIGTERM arrived: the import stops reading (see Stop). */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * SIGINT and SIGTERM while an import runs. The first of them ends the read
 * in progress (one waiting on a pipe included) with Interrupted; the import
 * writes the records it read before it, closes the store and says how many
 * it imported (exit 128 + the signal's number). A batch being written is
 * not cut: signals are handled between event-loop turns, and a batch is one
 * synchronous, atomic write. A second signal of the same kind ends the
 * process as it would without pmem (the handler is a `once`).
 */
class Stop {
  #signal: NodeJS.Signals | null = null;
  #stream: Readable | null = null;
  readonly #handlers = new Map<NodeJS.Signals, () => void>();

  constructor() {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const h = (): void => {
        if (this.#signal === null) this.#signal = signal;
        this.#stream?.destroy(new Interrupted(this.#signal));
      };
      this.#handlers.set(signal, h);
      process.once(signal, h);
    }
  }

  /** `stream`, which the signal ends from now on (at once, when it came already). */
  watch(stream: Readable): Readable {
    this.#stream = stream;
    if (this.#signal !== null) stream.destroy(new Interrupted(this.#signal));
    return stream;
  }

  dispose(): void {
    for (const [signal, h] of this.#handlers) process.removeListener(signal, h);
  }
}

/** The chunks of `stream`. A failed read is the input's (exit 3), named as such, not the store's. */
async function* chunksOf(stream: Readable, name: string): AsyncGenerator<Buffer> {
  const it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await it.next();
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      throw cannotUse(`cannot read ${name}: ${reasonOf(e)}`);
    }
    if (next.done === true) return;
    yield next.value;
  }
}

/**
 * The chunks of `stream`, once its first read has returned: a stream that
 * cannot be read (a stdin open only for writing: EBADF) fails here, before
 * the store is made or opened.
 */
async function afterFirstRead(stream: Readable, name: string): Promise<AsyncIterable<Buffer>> {
  const chunks = chunksOf(stream, name);
  const first = await chunks.next();
  return (async function* () {
    if (first.done === true) return;
    yield first.value;
    yield* chunks;
  })();
}

/** Lines of `chunks` as bytes, without their "\n"; at most MAX_LINE bytes each. */
async function* linesOf(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let partLen = 0;
  for await (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (partLen + piece.length > MAX_LINE) throw new LineTooLong();
      yield partLen === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      partLen = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      partLen += chunk.length - start;
      if (partLen > MAX_LINE) throw new LineTooLong();
    }
  }
  if (partLen > 0) yield Buffer.concat(parts);
}

class LineTooLong extends Error {}

interface Rec {
  key: string | Buffer;
  value: string | Buffer;
  bytes: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of `s` when it is base64 as an encoder writes it (export, or
 * any other: with its padding or without), else undefined. Node's decoder
 * drops what it cannot use without a word: a last character that holds
 * no whole byte ("QUJDR" is "ABC"), bits past the bytes ("QR==" is "A"),
 * a lone character (an empty key); such a field names other bytes than the
 * line meant, and is refused.
 */
function base64Bytes(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || !BASE64.test(s)) return undefined;
  // Checked from the lengths and the last character, not by encoding the
  // bytes again: a value may be 64 MiB.
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const tail = (s.length - pad) % 4; // characters of the last group: 2 or 3 hold one or two bytes
  if (tail === 1 || (pad > 0 && tail + pad !== 4)) return undefined;
  if (tail > 1) {
    // Of the last character's 6 bits, those past the bytes are zero: 4 of them after one byte, 2 after two.
    const bits = B64_ALPHABET.indexOf(s[s.length - pad - 1]);
    if (bits % (tail === 2 ? 16 : 4) !== 0) return undefined;
  }
  return Buffer.from(s, 'base64');
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const JSON_BLANK = /^[ \t\r]*$/;

/** One line as a record, or null for a blank line; a bad line is a usage error naming it. */
function parseLine(line: Buffer, where: string): Rec | null {
  const text = line.toString('utf8');
  // (trim() would take it for blank, and JSON.parse for no JSON.)
  if (text.startsWith('\uFEFF')) throw usage(`${where}: starts with a byte-order mark (EF BB BF), which only the input's first line may`);
  // Blank is JSON's white space only: trim() would also take a line of
  // U+00A0 or U+2028 for blank, which JSON.parse refuses.
  if (JSON_BLANK.test(text)) return null;
  let r: { key?: unknown; keyBase64?: unknown; value?: unknown; valueBase64?: unknown };
  try {
    r = JSON.parse(text);
  } catch {
    throw usage(`${where}: not JSON`);
  }
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw usage(`${where}: not a JSON object`);
  // A key as export writes it: a string when its bytes are UTF-8, else its
  // bytes in base64 ("keyBase64"), so that a binary key comes back as the
  // same bytes, not as U+FFFD.
  if (r.key !== undefined && r.keyBase64 !== undefined) throw usage(`${where}: has both "key" and "keyBase64"; give one`);
  let key: string | Buffer | undefined;
  if (typeof r.key === 'string') key = r.key;
  else key = base64Bytes(r.keyBase64);
  if (key === undefined) throw usage(`${where}: needs "key" as a string, or "keyBase64" as base64`);
  let value: string | Buffer | undefined;
  if (r.value !== undefined && r.valueBase64 !== undefined) throw usage(`${where}: has both "value" and "valueBase64"; give one`);
  if (typeof r.value === 'string') value = r.value;
  else value = base64Bytes(r.valueBase64);
  if (value === undefined) throw usage(`${where}: needs "value" as a string, or "valueBase64" as base64`);
  let bytes: number;
  try {
    bytes = keyOf(key).length + valueArg(value).len;
  } catch (e) {
    throw usage(`${where}: ${(e as Error).message}`);
  }
  return { key, value, bytes };
}

/** Reads every line of `chunks` (of `input`), handing records on in batches; `write` null only checks. */
async function pass(input: Input, chunks: AsyncIterable<Buffer>, write: ((batch: Rec[]) => void) | null, bar: Progress | null): Promise<number> {
  let lineNo = 0;
  let records = 0;
  let batch: Rec[] = [];
  let batchBytes = 0;
  const flush = (): void => {
    if (batch.length === 0) return;
    write?.(batch);
    records += batch.length;
    batch = [];
    batchBytes = 0;
  };
  try {
    for await (const line of linesOf(chunks)) {
      lineNo++;
      bar?.tick(line.length + 1);
      // A UTF-8 byte-order mark, as Windows tools write one, at the very
      // start of the input: not part of the first line's JSON.
      const rec = parseLine(lineNo === 1 && line.subarray(0, 3).equals(BOM) ? line.subarray(3) : line, `${input.name} line ${lineNo}`);
      if (rec === null) continue;
      batch.push(rec);
      batchBytes += rec.bytes;
      if (batch.length >= BATCH_RECORDS || batchBytes >= BATCH_BYTES) flush();
    }
    flush();
  } catch (thrown) {
    const e = thrown instanceof LineTooLong ? usage(`${input.name} line ${lineNo + 1}: longer than ${MAX_LINE} bytes`) : thrown;
    if (write === null) throw e instanceof Fail ? new Fail(e.exit, `${e.message}; nothing was imported`) : e;
    // Importing: every batch before this one is durable. A bad line or a
    // signal: write the records of this batch read before it, then say so.
    // A failed write: this batch is not written (batch() is all or nothing).
    let failure = e;
    if (e instanceof Fail || e instanceof Interrupted) {
      try {
        flush();
      } catch (f) {
        failure = f;
      }
    }
    if (failure instanceof Interrupted) throw new Fail(interruptedExit(failure.signal), `${failure.message}; ${records} records were imported`);
    throw new Fail(exitCodeOf(failure), `${messageOf(failure)}; ${records} records were imported before it`);
  }
  return records;
}

/** A UTF-8 byte-order mark: U+FEFF. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The chunks of `chunks`, adding each one's length to `count.bytes`. */
async function* counted(chunks: AsyncIterable<Buffer>, count: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    count.bytes += chunk.length;
    yield chunk;
  }
}

/**
 * Imports `input` into the store `open()` returns. A regular file is checked
 * whole first, so a bad line leaves no trace, and then the bytes checked
 * are imported, from the same descriptor: lines another process appends
 * meanwhile are not read, and a file renamed over the path is not the one
 * imported. A pipe is imported as it is read (see `pmem help import`), once
 * its first read returned. Returns the number of records imported. SIGINT
 * and SIGTERM stop it (see Stop). Closes the input.
 */
export async function importLines(input: Input, open: () => KVStore): Promise<number> {
  const stop = new Stop();
  const streams: Readable[] = [];
  try {
    const checked = { bytes: 0 };
    if (input.regular) {
      const s = stop.watch(input.open());
      try {
        await pass(input, counted(chunksOf(s, input.name), checked), null, null);
      } finally {
        // A bad line stops the pass before the stream's end, where it
        // would close its descriptor itself.
        await release(s);
      }
    }
    const stream = stop.watch(input.open(input.regular ? checked.bytes : undefined));
    streams.push(stream);
    const chunks = await afterFirstRead(stream, input.name);
    const store = open();
    const bar = input.regular ? new Progress('import', checked.bytes) : null;
    let written = 0;
    let done = false;
    try {
      // Each batch is one store record: all or nothing across a crash, and
      // durable when batch() returns.
      const n = await pass(input, chunks, (batch) => {
        store.batch(batch.map(({ key, value }) => ({ type: 'put', key, value })));
        written++;
      }, bar);
      bar?.finish();
      done = true;
      return n;
    } finally {
      bar?.stop();
      // An import that fails before its first batch is written (a pipe
      // whose first line is bad, say) leaves the path as it found it: a
      // store this open made goes again (abandon() takes back only a file
      // this very open created; any other store is only closed).
      if (!done && written === 0) store.abandon();
      else store.close();
    }
  } catch (e) {
    if (e instanceof Interrupted) throw new Fail(interruptedExit(e.signal), `${e.message}; nothing was imported`);
    throw e;
  } finally {
    for (const s of streams) await release(s);
    stop.dispose();
    input.close();
  }
}

/**
 * Ends `stream` and resolves once it has closed the descriptor it reads
 * (after any read under way is done): a pass that stops early, on a bad
 * line, a failed write or a signal, leaves no descriptor to the garbage
 * collector. Stdin is the process's own, and is left open.
 */
async function release(stream: Readable): Promise<void> {
  if (stream === process.stdin) return;
  stream.destroy();
  // Rejects for a stream ended before its end (or by Interrupted): it is closed all the same.
  await finished(stream).catch(() => {});
}
