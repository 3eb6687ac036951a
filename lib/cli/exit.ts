// Exit codes of the `pmem` command, the one function that maps an error to
// one, and stdout with its write errors. See `pmem help` and docs/api.md.
import * as os from 'node:os';

import { pathText } from './text';

/** Exit codes; documented in `pmem --help` and docs/api.md. */
export const EXIT = {
  OK: 0,
  /** The key was not found (`get`, `has`, `del`); nothing else. */
  NOT_FOUND: 1,
  /** A bad command, option or argument, or a bad import line. */
  USAGE: 2,
  /**
   * The file is not what the command needs: missing, a directory, not a KV
   * store, locked by another process, no permission, no space (also when
   * stdout cannot be written, and when the native addon does not load:
   * bin/pmem).
   */
  CANNOT_USE: 3,
  /** The file is damaged. */
  CORRUPT: 4,
  /** A defect in pmem itself (sysexits' EX_SOFTWARE); printed with its stack. */
  INTERNAL: 70,
} as const;

/**
 * The exit code of a command that stopped on `signal` (SIGINT, SIGTERM)
 * and said so: 128 plus its number, as a shell reports a process the
 * signal ended (130, 143).
 */
export function interruptedExit(signal: NodeJS.Signals): number {
  return 128 + os.constants.signals[signal];
}

/** A failure the command reports as one line `pmem: <message>` and exits with `exit`. */
export class Fail extends Error {
  constructor(readonly exit: number, message: string) {
    super(message);
    this.name = 'Fail';
  }
}

export const usage = (message: string): Fail => new Fail(EXIT.USAGE, message);
export const cannotUse = (message: string): Fail => new Fail(EXIT.CANNOT_USE, message);

/** Writing stdout failed (a closed pipe, a full disk): the command stops. */
export class OutputError extends Error {
  constructor(readonly error: NodeJS.ErrnoException) {
    super(`cannot write to stdout: ${error.message}`);
    this.name = 'OutputError';
  }
}

// By code string, so that a code this build does not define yet still maps.
const CODE_EXIT: Record<string, number> = {
  ERR_PMEM_NOT_FOUND: EXIT.CANNOT_USE,
  ERR_PMEM_EXISTS: EXIT.CANNOT_USE,
  ERR_PMEM_ACCESS: EXIT.CANNOT_USE,
  ERR_PMEM_NO_SPACE: EXIT.CANNOT_USE,
  ERR_PMEM_NO_MEMORY: EXIT.CANNOT_USE,
  ERR_PMEM_LOCKED: EXIT.CANNOT_USE,
  ERR_PMEM_INVALID: EXIT.CANNOT_USE,
  ERR_PMEM_LAYOUT: EXIT.CANNOT_USE,
  ERR_PMEM_NOT_POOL: EXIT.CANNOT_USE,
  ERR_PMEM_NOT_A_STORE: EXIT.CANNOT_USE,
  ERR_PMEM_IO: EXIT.CANNOT_USE,
  ERR_PMEM_REPLICA_ROLE: EXIT.CANNOT_USE,
  // A backup that does not answer, has been promoted over this primary, is
  // behind what the journal still holds, belongs to another journal, or is
  // no pmem replica: an operator's matter, said in one line.
  ERR_PMEM_REPLICA_TIMEOUT: EXIT.CANNOT_USE,
  ERR_PMEM_REPLICA_FENCED: EXIT.CANNOT_USE,
  ERR_PMEM_REPLICA_BEHIND: EXIT.CANNOT_USE,
  ERR_PMEM_REPLICA_DIVERGED: EXIT.CANNOT_USE,
  ERR_PMEM_REPLICA_PROTOCOL: EXIT.CANNOT_USE,
  ERR_PMEM_CORRUPT: EXIT.CORRUPT,
  ERR_PMEM_SDS: EXIT.CORRUPT,
};

// System errors a user's file or environment causes (Node's own fs errors).
const ERRNO_CANNOT_USE = new Set([
  'ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EFBIG', 'ELOOP', 'ENAMETOOLONG',
  'EBUSY', 'ETXTBSY', 'EAGAIN', 'EWOULDBLOCK', 'EMFILE', 'ENFILE', 'ENOMEM', 'EIO', 'ENXIO', 'ENODEV', 'EPIPE',
]);

/**
 * The exit code for an error a command threw. Everything a user or the
 * system can cause maps to 2, 3 or 4; anything else is a defect (70).
 */
export function exitCodeOf(e: unknown): number {
  if (e instanceof Fail) return e.exit;
  if (e instanceof OutputError) return e.error.code === 'EPIPE' ? EXIT.OK : EXIT.CANNOT_USE;
  const { name, code } = (e ?? {}) as { name?: unknown; code?: unknown };
  if (name === 'PmemError' && typeof code === 'string') return CODE_EXIT[code] ?? EXIT.INTERNAL;
  // The library's own range checks on what the user typed: a key over
  // 4 KiB, a store size below its minimum. Node's own RangeErrors carry a
  // code (ERR_OUT_OF_RANGE) and, like a TypeError (the command passes only
  // strings), would be a defect.
  if (e instanceof RangeError && code === undefined) return EXIT.USAGE;
  if (e instanceof Error && typeof code === 'string' && ERRNO_CANNOT_USE.has(code)) return EXIT.CANNOT_USE;
  return EXIT.INTERNAL;
}

/**
 * Why a system call failed, as "no space left on device (ENOSPC)": Node's
 * text without its call and path, which the caller's message gives. Any
 * other error as messageOf says it.
 */
export function reasonOf(e: unknown): string {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof message === 'string') {
    const what = new RegExp(`^${code}: ([^,]+)`).exec(message)?.[1];
    if (what !== undefined) return `${what} (${code})`;
  }
  return messageOf(e);
}

/**
 * The one line that reports `e` (without the "pmem: " prefix); `file` names
 * the command's file. The library and Node name a path as it is: `file`
 * and each of `args` (the command line) are escaped as pathText escapes
 * them wherever the message holds them raw, so that the line names them
 * exactly. (A Fail names its paths escaped already: only those holding a
 * control character, which no escaped text holds, are looked for there.)
 */
export function messageOf(e: unknown, file?: string, args: readonly string[] = []): string {
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  let msg = String(err?.message ?? e);
  const own = e instanceof Fail;
  if (err?.name === 'PmemError') {
    msg = `${err.code}: ${msg}`;
    if (file !== undefined && !msg.includes(file)) msg = `${pathText(file)}: ${msg}`;
  }
  for (const raw of file === undefined ? args : [file, ...args]) {
    const text = pathText(raw);
    if (text !== raw && (!own || CONTROL.test(raw))) msg = msg.split(raw).join(text);
  }
  return msg.replace(/\s*\n\s*/g, ' ');
}

/** A control character: escaped text never holds one. */
const CONTROL = /[\x00-\x1f\x7f]/;

type Sink = Pick<NodeJS.WriteStream, 'write'> & { errored?: Error | null };

/**
 * Lines for stdout, written in chunks of up to 64 KiB. Node writes stdout
 * at once on Linux when it is a file or a terminal, and to a pipe what the
 * pipe takes (the rest is queued in the process: main.ts exits only once
 * it is written); a failed write leaves the error in `stream.errored` at
 * once: each flush checks it and throws an OutputError, so a long scan
 * stops at the first failed write instead of running on into a closed pipe
 * or a full disk.
 */
export class Out {
  #buf = '';
  /** The stream's last write was queued past its buffer: the reader is behind. */
  #full = false;
  constructor(private readonly stream: Sink = process.stdout) {}

  line(s: string): void {
    this.#buf += s + '\n';
    if (this.#buf.length >= 65536) this.flush();
  }

  /** Whether the reader is behind: a command that writes much waits (drained) before it writes more. */
  get full(): boolean {
    return this.#full;
  }

  /** Bytes as they are (after the lines before them). */
  bytes(b: Buffer): void {
    this.flush();
    this.#write(b);
  }

  /**
   * Resolves once the stream has written what it queued (its 'drain'), or
   * is closed or failed: then it throws the OutputError. A pipe whose reader
   * is slower than the command holds one chunk of it in this process at a
   * time, not the whole output.
   */
  async drained(): Promise<void> {
    const s = this.stream as NodeJS.WriteStream;
    if (this.#full && typeof s.once === 'function') {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          s.off('drain', done);
          s.off('close', done);
          s.off('error', done);
          resolve();
        };
        s.on('drain', done);
        s.on('close', done);
        s.on('error', done);
      });
    }
    this.#full = false;
    this.#check();
  }

  flush(): void {
    if (this.#buf !== '') {
      const b = this.#buf;
      this.#buf = '';
      this.#write(b);
    }
    this.#check();
  }

  #write(chunk: string | Buffer): void {
    if (!this.stream.write(chunk)) this.#full = true;
    this.#check();
  }

  #check(): void {
    const e = this.stream.errored;
    if (e) throw new OutputError(e as NodeJS.ErrnoException);
  }
}
