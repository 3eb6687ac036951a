// A sort's job: the input opened once (the one descriptor the sort reads
// and checks, from start to end), the output's path and the pmem
// directory resolved, and each checked apart from the others and from
// another sort's files before anything is made; before the output is
// published, the input checked unchanged (checkUnchanged).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { fromSystemError, PmemError } from '../core/errors';
import { CHECKPOINT_MAGIC } from './checkpoint';
import { sortWorkIn } from './lock';
import type { Checked } from './options';
import { RecordOrder } from './records';
import { inputChanged } from './runs';
import { CHECKPOINT_FILE, MADE_FILE, RUN_NAME } from './work';

/** A sort's paths, its input's descriptor and description, and its options: what prepare() fixed. */
export interface Job {
  o: Checked;
  input: string;
  output: string;
  /** The temporary output, renamed to `output` when complete. */
  partial: string;
  dir: string;
  /** Whether `dir` is removed at the end (when empty): the default one, or one this call made. */
  ownDir: boolean;
  /**
   * The input, open for reading from the start of the sort to its end: the
   * file the sort reads is the one it checks (checkUnchanged), whatever
   * the path names meanwhile.
   */
  inputFd: number;
  /** The input's size when the sort started (inputId.size), as a number. */
  inputSize: number;
  /** Who the input is and what it held when the sort started (one fstat), as the checkpoint describes it. */
  inputId: InputId;
  order: RecordOrder;
  /**
   * Whether the merge reads the runs in place (readsInPlace of the
   * checkpoint's mapping, which is in the same directory); false until the
   * checkpoint is open.
   */
  inPlace: boolean;
}

/**
 * What identifies the input, from one fstat of its descriptor: its size and
 * modification time, which a user can set back (`touch -r`, `cp -p`,
 * `rsync -t`, `tar x` all do), and what no user can: the file itself
 * (device and inode: a file renamed over the input's path is another) and
 * its change time (ctime), which every write and every change of its
 * metadata moves, a `utimes` that sets the modification time back
 * included. Times in nanoseconds and the device and inode as decimal
 * strings, from a bigint fstat: exact, whatever their size (an inode of
 * overlayfs with xino has its high bits set, past 2^53). On a filesystem
 * whose inode numbers do not survive a remount (some FUSE and network
 * ones), or a device whose number changes across a reboot, a resume is
 * refused although the input is the same: the safe side.
 */
export interface InputId {
  size: number;
  mtimeNs: string;
  dev: string;
  ino: string;
  ctimeNs: string;
}

/** The InputId of `st`. */
export function inputIdOf(st: fs.BigIntStats): InputId {
  return { size: Number(st.size), mtimeNs: String(st.mtimeNs), dev: String(st.dev), ino: String(st.ino), ctimeNs: String(st.ctimeNs) };
}

/**
 * The job of a sort of `input` into `output`: the input open for reading
 * (the caller closes `inputFd` when the sort ends), its InputId taken
 * once, and the paths resolved and checked.
 * @throws PmemError ERR_PMEM_NOT_FOUND, ERR_PMEM_ACCESS, ERR_PMEM_INVALID,
 *   ERR_PMEM_LOCKED (externalSort says which for what)
 */
export function prepare(input: string, output: string, o: Checked): Job {
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch (e) {
    throw cannotRead(input, e);
  }
  if (!st.isFile()) throw new PmemError('ERR_PMEM_INVALID', `${input} is not a regular file`, { path: input });
  // Opened once the path's stat says a regular file: the open of a FIFO would wait for a writer.
  let fd: number;
  try {
    fd = fs.openSync(input, 'r');
  } catch (e) {
    throw cannotRead(input, e);
  }
  try {
    return prepareOpen(input, output, o, fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** prepare(), with the input open as `fd` (a regular file when the path was stat'ed). */
function prepareOpen(input: string, output: string, o: Checked, fd: number): Job {
  // The size and times of the file open, which may not be the one stat'ed
  // (the path replaced between): from here on, the sort's one view of it.
  const st = fs.fstatSync(fd, { bigint: true });
  if (!st.isFile()) throw new PmemError('ERR_PMEM_INVALID', `${input} is not a regular file`, { path: input });
  const id = inputIdOf(st);
  // The sort reads the size the input has now. A file that holds more than
  // its size says (one of /proc, whose size is 0, or one still being written)
  // would be sorted in part, and the output would say nothing of the rest.
  // (One that grows after this is refused before its output is published: checkUnchanged.)
  if (readsPast(fd, id.size)) {
    throw new PmemError('ERR_PMEM_INVALID', `${input} holds more than its size (${id.size} bytes) says: a file of /proc, or one still being written`, { path: input });
  }
  const absIn = fs.realpathSync(input);
  const absOut = outputPath(output);
  let outSt: fs.Stats | undefined;
  try {
    outSt = fs.statSync(absOut);
  } catch {
    outSt = undefined;
  }
  if (absOut === absIn || (outSt !== undefined && sameFile(outSt, st))) {
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is the input: a resumable sort needs its input until it ends`, { path: output });
  }
  const rs = o.format.recordSize;
  if (rs > 0 && id.size % rs !== 0) {
    throw new PmemError('ERR_PMEM_INVALID', `${input} holds ${id.size} bytes, not a whole number of ${rs}-byte records`, { path: input });
  }
  const partial = beside(absOut, '.pmem-sort-partial');
  if (outSt !== undefined) checkReplaceable(output, outSt, partial);
  // The partial output is emptied as the sort starts, and removed when it
  // fails past any resume: were it the input (by its name, a hard link or a
  // symbolic link), the input would be lost.
  if (canonical(partial) === absIn || sameFileAs(partial, st)) {
    throw new PmemError('ERR_PMEM_INVALID', `the partial output ${partial} is the input ${input}: the sort empties that file first and writes its output there; give the output another name`, { path: partial });
  }
  const dir = path.resolve(o.pmem ?? beside(absOut, '.pmem-sort'));
  checkApart(dir, [['output', absOut], ['partial output', partial], ['input', absIn]]);
  checkOthersWork([['output', absOut], ['partial output', partial]]);
  return {
    o, input: absIn, output: absOut, partial, dir, ownDir: o.pmem === undefined, inPlace: false,
    inputFd: fd, inputSize: id.size, inputId: id, order: new RecordOrder(o.format),
  };
}

/** The most bytes a name in a directory may have (NAME_MAX). */
const NAME_MAX = 255;

/**
 * The path of a file of the sort's beside `file`: its name and `suffix`;
 * for a name too long to bear the suffix, its first whole characters up to
 * 200 bytes, '-', 16 hex digits of the name's SHA-256, and the suffix. The
 * same for the same output, so a resume finds it.
 */
function beside(file: string, suffix: string): string {
  const name = path.basename(file);
  if (Buffer.byteLength(name + suffix) <= NAME_MAX) return file + suffix;
  let stem = '';
  for (const ch of name) {
    if (Buffer.byteLength(stem + ch) > 200) break;
    stem += ch;
  }
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return path.join(path.dirname(file), `${stem}-${hash}${suffix}`);
}

/** Whether `file` names (following links) the file `st` describes. */
function sameFileAs(file: string, st: fs.Stats | fs.BigIntStats): boolean {
  try {
    return sameFile(fs.statSync(file), st);
  } catch {
    return false;
  }
}

/** Whether two stats describe the same file (device and inode), compared as bigints: exact past 2^53. */
function sameFile(a: fs.Stats | fs.BigIntStats, b: fs.Stats | fs.BigIntStats): boolean {
  return BigInt(a.dev) === BigInt(b.dev) && BigInt(a.ino) === BigInt(b.ino);
}

/** A path with its directory's symbolic links resolved (the path itself need not exist). */
function canonical(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return p;
    }
  }
}

/**
 * Refuses a pmem directory that is one of the sort's files, or holds one of
 * them under a name of its own: the sort would replace or remove it. The
 * output named `checkpoint` there, say, was renamed into place and then
 * removed with the checkpoint, and the sort reported success; an output on
 * the directory's own path was refused only by the last rename, after the
 * whole sort.
 * @throws PmemError ERR_PMEM_INVALID
 */
function checkApart(dir: string, files: ReadonlyArray<readonly [string, string]>): void {
  const d = canonical(dir);
  for (const [what, file] of files) {
    const f = canonical(file);
    if (f === d) throw new PmemError('ERR_PMEM_INVALID', `the pmem directory ${dir} is the ${what}: give the sort a directory of its own`, { path: dir });
    const name = path.basename(f);
    if (path.dirname(f) === d && (name === CHECKPOINT_FILE || name === MADE_FILE || RUN_NAME.test(name))) {
      throw new PmemError('ERR_PMEM_INVALID',
        `the ${what} ${file} has the name of one of the sort's own files in its pmem directory ${dir} (checkpoint, made-by-sort, run-N), which the sort replaces and removes: give it another name or the sort another directory`,
        { path: file });
    }
  }
}

/**
 * Refuses an output (or partial output) named as one of another sort's
 * files (checkpoint, made-by-sort, run-N) in that sort's pmem directory:
 * renamed over a run, it was read by the other sort as the run, which it
 * then found short (ERR_PMEM_CORRUPT) or merged into its own output, and
 * removed with its work, while this sort reported success. The directory
 * is another sort's when its checkpoint is one (sortWorkIn): locked by a
 * sort that runs (ERR_PMEM_LOCKED), or left by one that was interrupted
 * and is resumed from it (ERR_PMEM_INVALID: its resume needs these files).
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_INVALID
 */
function checkOthersWork(files: ReadonlyArray<readonly [string, string]>): void {
  for (const [what, file] of files) {
    const f = canonical(file);
    const name = path.basename(f);
    if (name !== CHECKPOINT_FILE && name !== MADE_FILE && !RUN_NAME.test(name)) continue;
    const dir = path.dirname(f);
    const work = sortWorkIn(dir, CHECKPOINT_FILE, CHECKPOINT_MAGIC);
    if (work === 'running') {
      throw new PmemError('ERR_PMEM_LOCKED', `the ${what} ${file} is one of the files of another sort, which is using the pmem directory ${dir}: give it another name`, { path: file });
    }
    if (work === 'stopped') {
      throw new PmemError('ERR_PMEM_INVALID',
        `the ${what} ${file} is one of the files of an unfinished sort in the pmem directory ${dir}, which its resume needs: give it another name, or resume or remove that sort`,
        { path: file });
    }
  }
}

/**
 * The path the sorted output is renamed to, absolute. The output is a
 * regular file: one that exists is replaced whole when the sort is done. A
 * symbolic link is followed, so that the file it names is replaced and the
 * link stays; a device, FIFO, socket or directory is refused (renaming over
 * one would replace it, /dev/null for every program). A new output's
 * directory must exist.
 * @throws PmemError ERR_PMEM_INVALID, ERR_PMEM_NOT_FOUND, ERR_PMEM_ACCESS
 */
function outputPath(output: string): string {
  // A name that ends in '/' (or '/.', '/..') names a directory, which
  // path.resolve would drop: `out/` would be made a file `out`, and
  // `file.txt/` would replace file.txt.
  if (/(^|\/)(\.\.?)?$/.test(output) && !fs.existsSync(output)) {
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} names a directory: the sort writes a regular file`, { path: output });
  }
  let at = path.resolve(output);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(at);
  } catch (e) {
    // A new file, in a directory that must be there: a misspelt directory
    // is refused, not made (the default pmem directory beside the output
    // would make it, and its parents, and leave them).
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotReach(output, e);
    const dir = path.dirname(at);
    let parent: fs.Stats;
    try {
      parent = fs.statSync(dir);
    } catch (e2) {
      throw cannotReach(output, e2);
    }
    if (!parent.isDirectory()) throw new PmemError('ERR_PMEM_INVALID', `the output ${output}: ${dir} is not a directory`, { path: output });
    return at;
  }
  if (st.isSymbolicLink()) {
    try {
      at = fs.realpathSync(at);
      st = fs.statSync(at);
    } catch {
      throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is a symbolic link to nothing: give the file it should name`, { path: output });
    }
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is ${kind}: the sort writes a regular file and renames it into place`, { path: output });
  }
  return at;
}

/**
 * An output that exists is replaced by a new file with its owner, group
 * and permission bits (publishOutput), before any work: one with other
 * names (hard links) is refused, as they would go on naming the old
 * contents; so is one whose owner or group this user cannot give a file
 * (another user's), which would otherwise become this user's. The one
 * other name it may have is its partial output's: a publish that stopped
 * between its link and its unlink leaves both, the resume removes one.
 * @throws PmemError ERR_PMEM_INVALID, ERR_PMEM_ACCESS
 */
function checkReplaceable(output: string, st: fs.Stats, partial: string): void {
  if (st.nlink > 1 && !(st.nlink === 2 && sameFileAs(partial, st))) {
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} has ${st.nlink} names (hard links): the sort renames a new file into place, `
      + 'and the other names would go on naming the old contents; remove them, or sort into another file', { path: output });
  }
  const uid = process.geteuid?.();
  if (uid === undefined || uid === 0) return;
  const groups = [process.getegid?.(), ...(process.getgroups?.() ?? [])];
  if (st.uid !== uid || !groups.includes(st.gid)) {
    throw new PmemError('ERR_PMEM_ACCESS', `the output ${output} belongs to user ${st.uid} and group ${st.gid}: the sort renames a new file into place, `
      + `which this user (${uid}) cannot give that owner; sort into another file`, { path: output });
  }
}

/** Why a path's directory cannot be reached: it is missing, not a directory, or not searchable. */
function cannotReach(file: string, e: unknown): PmemError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PmemError('ERR_PMEM_NOT_FOUND', `the directory of ${file} does not exist`, { path: file });
  if (code === 'EACCES' || code === 'EPERM') return new PmemError('ERR_PMEM_ACCESS', `cannot reach ${file}: ${code}`, { path: file });
  return new PmemError('ERR_PMEM_INVALID', `cannot reach ${file}: ${code ?? String(e)}`, { path: file });
}

/** The input's stat or open failed: no permission, no such file, or another failure (EMFILE, ELOOP, ...: ERR_PMEM_IO). */
function cannotRead(file: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new PmemError('ERR_PMEM_ACCESS', `cannot read ${file}: ${code}`, { path: file });
  if (code === 'ENOENT' || code === 'ENOTDIR') return new PmemError('ERR_PMEM_NOT_FOUND', `cannot read ${file}: ${code}`, { path: file });
  return fromSystemError(e);
}

/** Whether a read of the file open as `fd` at `size` returns data. */
function readsPast(fd: number, size: number): boolean {
  return fs.readSync(fd, Buffer.alloc(1), 0, 1, size) > 0;
}

/**
 * Refuses to publish an output of an input that changed after the sort
 * started: its InputId is not what the one fstat of prepare() found (and,
 * on a resume, what the checkpoint describes, which the resume matched: the
 * two checks agree). The size catches an input that grew, whose new bytes
 * the output would lack (the sort reads the size it started with), or
 * shrank after its last read; the modification time, one rewritten in
 * place; the change time, one rewritten with its modification time set
 * back. The device and inode of an open descriptor do not change on a
 * local filesystem: compared all the same, as the checkpoint's are. The
 * change time also moves with the file's mode, owner and links (a chmod, a
 * hard link made, a rename), which change none of the bytes sorted: such
 * an input is refused too, since its ctime cannot tell that from a write.
 * A rewrite within the filesystem's timestamp granularity (a clock tick)
 * of the input's last change before the start is not seen.
 * @throws PmemError ERR_PMEM_INVALID (a dead end: finish.ts, abandonWork)
 */
export function checkUnchanged(job: Job): void {
  const now = inputIdOf(fs.fstatSync(job.inputFd, { bigint: true }));
  const was = job.inputId;
  if (now.size > was.size) {
    throw inputChanged(`the input grew while it was sorted (${now.size} bytes, of which the sort read ${was.size})`, job.input);
  }
  if (now.size < was.size) throw inputChanged(`the input shrank while it was sorted (${now.size} of ${was.size} bytes)`, job.input);
  if (now.mtimeNs !== was.mtimeNs) {
    throw inputChanged(`the input changed while it was sorted (its modification time moved, its size of ${now.size} bytes did not)`, job.input);
  }
  if (now.dev !== was.dev || now.ino !== was.ino) {
    throw inputChanged(`the input changed while it was sorted (its device and inode were ${was.dev}:${was.ino}, now ${now.dev}:${now.ino})`, job.input);
  }
  if (now.ctimeNs !== was.ctimeNs) {
    throw inputChanged(`the input changed while it was sorted (its change time moved, its size of ${now.size} bytes and modification time did not: `
      + 'written with its modification time set back, or its mode, owner or links changed)', job.input);
  }
}
