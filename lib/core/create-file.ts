// Making a new file for a structure: formatted under a temporary name beside
// it and published whole, so that a crash never leaves a half-formatted file
// under the user's name (docs/formats.md, "Identifying and creating a file").
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binding, type NativeLock } from './binding';
import { isPmemError, PmemError, type PmemErrorCode } from './errors';
import { openMapping, type Mapping } from './mapping';

/** What a new file needs: its size, and how to write an empty structure over it. */
export interface NewFile {
  /** Bytes of the new file. */
  size: number;
  /** Writes an empty structure over the new file's mapping; durable when it returns. */
  format(m: Mapping): void;
}

/**
 * Makes a new file at `file`: formats it under a temporary name in the same
 * directory, makes it durable, then publishes it with link() (for a missing
 * file: fails if another creator published first) or rename() over the
 * empty file whose lock `emptyFd` holds (the caller releases it). A crash at
 * any point leaves `file` missing (or empty) or whole, never a
 * half-formatted file under its name. The lock is taken on the new inode
 * before it has a name, so it is held from the moment the file appears.
 * A symbolic link stays a link: an empty file it names is replaced at the
 * link's target, and a link to nothing is refused (ERR_PMEM_NOT_FOUND).
 * Returns null when another creator won, or the file changed under the lock.
 */
export function createFile(file: string, o: NewFile, emptyFd: number): { lock: NativeLock; mapping: Mapping } | null {
  refuseDirectoryName(file);
  // The name the new file is published under. rename() replaces a link
  // itself, not the file it names: over an empty file reached through a
  // link, the new file goes where the link points, beside its target (a
  // rename cannot cross filesystems).
  const at = emptyFd < 0 ? file : linkTarget(file);
  if (at === null) return null;
  // link() never follows a link: one to nothing would make it fail as if
  // another creator had won. It is refused, and never replaced.
  const to = emptyFd < 0 ? danglingLink(file) : null;
  if (to !== null) {
    throw new PmemError('ERR_PMEM_NOT_FOUND',
      `cannot create '${file}': it is a symbolic link to '${to}', which does not exist; nothing was created`, { path: file });
  }
  const dir = new DirEntries(path.dirname(at));
  try {
    return createIn(dir, at, file, o, emptyFd);
  } finally {
    dir.close();
  }
}

/** createFile's work, with the temporary file in `dir`, beside `at`. */
function createIn(dir: DirEntries, at: string, file: string, o: NewFile, emptyFd: number): { lock: NativeLock; mapping: Mapping } | null {
  const name = tmpName(at);
  let tmp = path.join(dir.dir, name); // named in messages when it cannot be reached
  let lock: NativeLock;
  try {
    tmp = dir.path(name);
    lock = binding.lockFile(tmp, true, true);
  } catch (e) {
    throw refusedInDirectory(e, tmp, file, dir.dir);
  }
  removeLeftovers(at, tmp);
  const fd = lock.fd;
  let mapping: Mapping | undefined;
  let kept = false; // the lock and mapping are the caller's once returned
  try {
    mapping = openMapping(tmp, { size: o.size, create: true });
    o.format(mapping);
    // The file's size and blocks durable before the name that publishes it.
    fs.fsyncSync(fd);
    if (emptyFd < 0) {
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
        throw e;
      }
    } else {
      // The empty file under the lock must still be the one at `at`.
      const now = fs.lstatSync(at);
      const locked = fs.fstatSync(emptyFd);
      if (!now.isFile() || now.ino !== locked.ino || now.dev !== locked.dev || now.size !== 0) return null;
      takeOwnerAndMode(fd, locked, file);
      fs.renameSync(tmp, at);
    }
    mapping.renamed(file);
    syncDir(at);
    kept = true;
    return { lock, mapping };
  } catch (e) {
    throw namingFile(e, tmp, file);
  } finally {
    if (!kept) {
      mapping?.close();
      lock.release();
    }
    fs.rmSync(tmp, { force: true });
  }
}

/** How long a temporary file goes unchanged before an unlocked one counts as a crashed creator's. */
export const LEFTOVER_MS = 60_000;

/**
 * Removes the temporary files (`.NAME.RANDOM.creating`, tmpNameBeside) that
 * creators of `file` killed or crashed part way left beside it: each is as
 * large as the structure (on /dev/shm, that much memory). One is removed
 * only when it is a regular file, nobody holds a lock on it (a creator
 * holds its exclusive flock from just after making it until it is
 * published; libpmemobj holds one while it lays a pool out), and it has
 * not changed for LEFTOVER_MS (a creator between making the file and
 * locking it, or before libpmemobj opens it, has just made or sized it).
 * Taken under the lock, so that no creator can take it meanwhile. `own`,
 * the caller's own temporary file, is left. Best effort: a directory that
 * cannot be read, or a file that cannot be opened, is left as it is.
 */
export function removeLeftovers(file: string, own?: string): void {
  const dir = new DirEntries(path.dirname(file));
  try {
    removeLeftoversIn(dir, path.basename(file), own === undefined ? undefined : path.basename(own));
  } finally {
    dir.close();
  }
}

function removeLeftoversIn(dir: DirEntries, base: string, own: string | undefined): void {
  const prefix = `.${tmpStem(base)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir.dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.creating$/.test(name.slice(prefix.length))) continue;
    if (name === own) continue;
    try {
      const p = dir.path(name);
      // A link, FIFO or device under such a name is not a creator's: never opened.
      if (!fs.lstatSync(p).isFile()) continue;
      const lock = binding.lockFile(p, true, false);
      try {
        const held = fs.fstatSync(lock.fd);
        const now = fs.lstatSync(p);
        if (now.ino === held.ino && now.dev === held.dev && held.isFile() && Date.now() - held.mtimeMs > LEFTOVER_MS) fs.unlinkSync(p);
      } finally {
        lock.release();
      }
    } catch {
      // Locked by a live creator, gone meanwhile, or not ours to open: left.
    }
  }
}

/**
 * A new name for the directory of `file`, for a file made whole before it
 * is given `file`'s name: `.NAME.RANDOM.creating`, which no open ever takes
 * for the structure (docs/formats.md, "Identifying and creating a file").
 * A name only: reach it through a DirEntries of that directory.
 */
export function tmpName(file: string): string {
  return `.${tmpStem(path.basename(file))}.${randomBytes(6).toString('hex')}.creating`;
}

/** Bytes in the longest path open(2) takes, its NUL included (Linux's PATH_MAX). */
const PATH_MAX = 4096;

/**
 * Paths to names in one directory that open(2) takes. A temporary name is
 * 23 bytes longer than the file's, so beside a file whose path is within
 * 23 bytes of PATH_MAX, DIR/NAME is too long (ENAMETOOLONG) though the file's
 * own path is not: such a name is reached through a descriptor of the
 * directory, as /proc/self/fd/N/NAME, which close() closes. The caller
 * closes it in a finally: nothing keeps it past the call that made it.
 */
export class DirEntries {
  readonly dir: string;
  #fd = -1;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** A path to `name` in the directory. */
  path(name: string): string {
    const whole = path.join(this.dir, name);
    if (Buffer.byteLength(whole) < PATH_MAX) return whole;
    if (this.#fd < 0) this.#fd = fs.openSync(this.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    return `/proc/self/fd/${this.#fd}/${name}`;
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Refuses, before anything is made for it, a path that ends in '/': it
 * names a directory, and no file is ever made under that name (the link
 * that publishes the new file would fail with ENOENT, a message about
 * nothing the caller did).
 * @throws PmemError ERR_PMEM_INVALID, as a directory given to openMapping
 */
export function refuseDirectoryName(file: string): void {
  if (file.endsWith('/')) {
    throw new PmemError('ERR_PMEM_INVALID', `cannot create '${file}': a path that ends in '/' names a directory; nothing was created`, { path: file });
  }
}

/**
 * Refuses, before anything is made for it, a path longer than any open(2)
 * takes: the link that publishes a new file would refuse it only after
 * the file was built under its temporary name.
 * @throws PmemError ERR_PMEM_INVALID, as pathTooLong
 */
export function refuseTooLong(file: string): void {
  if (Buffer.byteLength(file) >= PATH_MAX) throw pathTooLong(file, { code: 'ENAMETOOLONG' }) as PmemError;
}

/**
 * `e` as the refusal of a path the system takes as too long (ENAMETOOLONG:
 * as a whole, or a name in it), whatever call met it; null for any other
 * error. Its own code, as a symbolic link loop's: no open of it can ever
 * succeed.
 */
export function pathTooLong(file: string, e: unknown): PmemError | null {
  const err = e as NodeJS.ErrnoException | undefined;
  if (err?.code !== 'ENAMETOOLONG' && !(isPmemError(e) && e.errno === 36)) return null;
  return new PmemError('ERR_PMEM_INVALID',
    `'${file}' is too long a path (ENAMETOOLONG): ${Buffer.byteLength(file)} bytes, where the system takes at most ${PATH_MAX - 1}, and at most 255 in each name`,
    { path: file, errno: 36, ...(err?.syscall === undefined ? {} : { syscall: err.syscall }) });
}

/**
 * The new file takes the empty file's place, and with it the empty file's
 * owner, group and permission bits, set on it before it has the name: a
 * file its user made private (0600, say) stays private, whatever the umask
 * gave the new one. An empty file with other names (hard links) is refused:
 * they would go on naming the empty file. Extended attributes and ACLs are
 * not copied.
 * @throws PmemError ERR_PMEM_INVALID (hard links); ERR_PMEM_ACCESS (the
 *   empty file is another user's: giveOwnerAndMode)
 */
function takeOwnerAndMode(fd: number, empty: fs.Stats, file: string): void {
  if (empty.nlink > 1) {
    throw new PmemError('ERR_PMEM_INVALID',
      `cannot create '${file}' over the empty file there: it has ${empty.nlink} names (hard links), which would go on naming the empty file; nothing was created`, { path: file });
  }
  giveOwnerAndMode(fd, empty, `cannot create '${file}' over the empty file there`, file);
}

/**
 * Gives the file open at `fd` the owner, group and permission bits of
 * `like` (a file it is about to replace), so that a private file stays
 * private whatever the umask gave the new one.
 * @throws PmemError ERR_PMEM_ACCESS when the owner or group cannot be given
 *   (`like` is another user's, or of a group this user is not in):
 *   `refused` starts its message
 */
export function giveOwnerAndMode(fd: number, like: fs.Stats, refused: string, file: string): void {
  const mine = fs.fstatSync(fd);
  // chown first: it clears the set-user-ID and set-group-ID bits, which the
  // chmod after it puts back.
  if (mine.uid !== like.uid || mine.gid !== like.gid) {
    try {
      fs.fchownSync(fd, like.uid, like.gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
      throw new PmemError('ERR_PMEM_ACCESS', `${refused}: it belongs to user ${like.uid} and group ${like.gid}, `
        + `which this process (user ${mine.uid}) cannot give the new file; nothing was changed`, { path: file, errno: 1, syscall: 'fchown' });
    }
  }
  fs.fchmodSync(fd, like.mode & 0o7777);
}

/**
 * An error raised while a new file is made names its temporary file, which
 * is removed before the caller sees the error: it names the caller's path
 * instead, in its message, its stack and its `path`. A system call's error
 * from node:fs becomes a PmemError too.
 */
export function namingFile(e: unknown, tmp: string, file: string): unknown {
  if (!isPmemError(e)) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code !== 'string' || typeof err.errno !== 'number') return e;
    const code: PmemErrorCode =
      err.code === 'ENOSPC' || err.code === 'EDQUOT'
        ? 'ERR_PMEM_NO_SPACE'
        : err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS'
          ? 'ERR_PMEM_ACCESS'
          : 'ERR_PMEM_IO';
    return new PmemError(code, `cannot create '${file}': ${err.syscall ?? 'a system call'} failed: ${err.code}`, {
      path: file,
      errno: Math.abs(err.errno),
      syscall: err.syscall,
    });
  }
  const message = e.message.split(tmp).join(file);
  if (message !== e.message) {
    if (e.stack !== undefined) e.stack = e.stack.split(e.message).join(message);
    e.message = message;
  }
  if (e.path === tmp) e.path = file;
  return e;
}

/**
 * The temporary file could not be made: the error says that the directory
 * it was made in (the file's, or its link target's) refused a new file (a
 * missing directory, or one like /proc that holds no new files), not that
 * `file` itself failed to open, which may exist.
 */
function refusedInDirectory(e: unknown, tmp: string, file: string, dir: string): unknown {
  // Not the directory's fault: a name too long is the file's (tmpStem cuts
  // the temporary name to what the file's would fit in).
  const tooLong = pathTooLong(file, e);
  if (tooLong !== null) return tooLong;
  if (!isPmemError(e) || e.path !== tmp) return namingFile(e, tmp, file);
  return refusedIn(file, dir, e);
}

/**
 * "cannot create 'file': no new file can be made in 'dir': " and the reason
 * `e` ends with (after its last ": "), with e's errno and syscall, and its
 * code unless `code` is given.
 */
export function refusedIn(file: string, dir: string, e: PmemError, code: PmemErrorCode = e.code): PmemError {
  const colon = e.message.lastIndexOf(': ');
  const reason = colon < 0 ? e.message : e.message.slice(colon + 2);
  return new PmemError(code, `cannot create '${file}': no new file can be made in '${dir}': ${reason}`, {
    path: file,
    ...(e.errno === undefined ? {} : { errno: e.errno }),
    ...(e.syscall === undefined ? {} : { syscall: e.syscall }),
  });
}

/**
 * The part of a temporary name taken from the file's: the name itself, or
 * for a name too long to bear the 22 bytes added around it (a name is at
 * most 255 bytes), its first 200 bytes' worth of whole characters.
 */
function tmpStem(name: string): string {
  if (Buffer.byteLength(name) <= 255 - 23) return name;
  let stem = '';
  for (const ch of name) {
    if (Buffer.byteLength(stem + ch) > 200) break;
    stem += ch;
  }
  return stem;
}

/**
 * The file `file` names: itself, or when it is a symbolic link, the path it
 * resolves to. null when it cannot be resolved now (it changed since it was
 * opened): the caller opens again.
 */
function linkTarget(file: string): string | null {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? fs.realpathSync(file) : file;
  } catch {
    return null;
  }
}

/** What `file` points to when it is a symbolic link that resolves to nothing, else null. */
function danglingLink(file: string): string | null {
  let to: string;
  try {
    to = fs.readlinkSync(file);
  } catch {
    return null; // not a link (or gone)
  }
  try {
    fs.statSync(file);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? to : null;
  }
}

/** Makes the directory entry of `file` durable. */
export function syncDir(file: string): void {
  const d = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(d);
  } finally {
    fs.closeSync(d);
  }
}
