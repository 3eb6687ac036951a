import { binding } from './binding';

/** Stable error codes. A code, once published, keeps its meaning. */
export type PmemErrorCode =
  | 'ERR_PMEM_CLOSED'
  | 'ERR_PMEM_READONLY'
  | 'ERR_PMEM_NOT_FOUND'
  | 'ERR_PMEM_EXISTS'
  | 'ERR_PMEM_ACCESS'
  | 'ERR_PMEM_NO_SPACE'
  | 'ERR_PMEM_NO_MEMORY'
  | 'ERR_PMEM_LOCKED'
  | 'ERR_PMEM_INVALID'
  | 'ERR_PMEM_CORRUPT'
  | 'ERR_PMEM_LAYOUT'
  | 'ERR_PMEM_NOT_POOL'
  | 'ERR_PMEM_NOT_A_STORE'
  | 'ERR_PMEM_IO'
  | 'ERR_PMEM_SDS'
  | 'ERR_PMEM_TX_ENDED'
  | 'ERR_PMEM_REPLICA_TIMEOUT'
  | 'ERR_PMEM_REPLICA_BEHIND'
  | 'ERR_PMEM_REPLICA_FENCED'
  | 'ERR_PMEM_REPLICA_DIVERGED'
  | 'ERR_PMEM_REPLICA_PROTOCOL'
  | 'ERR_PMEM_REPLICA_ROLE';

export interface PmemErrorDetails {
  errno?: number;
  syscall?: string;
  path?: string;
}

/**
 * The one error class of this package. Native failures are converted to it
 * in one place (native/core/errors.cc); `code` is stable, and `errno`, `syscall`
 * and `path` are set where they apply. Argument mistakes are plain
 * `TypeError` and `RangeError`.
 */
export class PmemError extends Error {
  readonly code: PmemErrorCode;
  errno?: number;
  syscall?: string;
  path?: string;

  constructor(code: PmemErrorCode, message: string, details: PmemErrorDetails = {}) {
    super(message);
    this.name = 'PmemError';
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
  }
}

/**
 * The one ERR_PMEM_CLOSED error: `${what} is closed`, with `path` when
 * there is one. Native code words its two (mapping, pool) the same way.
 */
export function closedError(what: string, path?: string): PmemError {
  return new PmemError('ERR_PMEM_CLOSED', `${what} is closed`, path === undefined ? {} : { path });
}

/**
 * Throws ERR_PMEM_CLOSED when `region` is closed (a Mapping unmapped under
 * the structure): its views are detached, and reading them would answer
 * as if empty.
 */
export function checkOpen(region: { readonly closed?: boolean }, what: string): void {
  if (region.closed === true) throw closedError(`the region under the ${what}`);
}

/**
 * Whether `e` is a PmemError (with `code`, if given). Decided by shape, not
 * by `instanceof`: an error made by another copy of this package, or in
 * another realm, is one too.
 */
export function isPmemError(e: unknown, code?: PmemErrorCode): e is PmemError {
  if (typeof e !== 'object' || e === null) return false;
  const { name, code: got } = e as { name?: unknown; code?: unknown };
  return name === 'PmemError' && typeof got === 'string' && (code === undefined || got === code);
}

/**
 * A Node.js system error (an `fs` call's EMFILE or EIO, say) as a
 * PmemError: ERR_PMEM_NO_SPACE for ENOSPC and EDQUOT, ERR_PMEM_IO for any
 * other, with its errno (positive, as the native layer gives it), syscall
 * and path. Anything else is returned as it is.
 */
export function fromSystemError(e: unknown): unknown {
  // By shape, as isPmemError: an error of another realm (a vm context) is one too.
  if (typeof e !== 'object' || e === null || isPmemError(e)) return e;
  const { code, errno, syscall, path, message } = e as NodeJS.ErrnoException;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code) || typeof errno !== 'number' || typeof message !== 'string') return e;
  // Node words it "EMFILE: too many open files, open '/a/b'".
  const what = /^E[A-Z0-9]+: ([^,]+)/.exec(message)?.[1] ?? code;
  const text = `${syscall ?? 'a system call'} failed${path === undefined ? '' : ` for '${path}'`}: ${what} (${code})`;
  const details: PmemErrorDetails = { errno: Math.abs(errno), syscall, path };
  return new PmemError(code === 'ENOSPC' || code === 'EDQUOT' ? 'ERR_PMEM_NO_SPACE' : 'ERR_PMEM_IO', text, details);
}

binding.setErrorClass(PmemError);
