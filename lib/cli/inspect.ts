// What a file is, for `pmem info` and `pmem check`: read from its first
// bytes, without mapping or recovering it, plus the durability of its mount.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { isDaxMount, mountEntries, type MountEntry } from '../core/location';
import { identifyFd, isDevDax, type Identity } from '../core/identify';
import { readHeaderBytes } from '../kv/log-open';
import { DATA_START } from '../kv/format';
import { pathText } from './text';

export type FileKind =
  'kv' | 'wal' | 'objpool' | 'cache' | 'journal' | 'mapping' | 'devdax' | 'missing' | 'not a file' | 'not storage' | 'unreadable';

/**
 * Filesystems whose files are the kernel's views, not storage (/proc,
 * /sys, ...): such a file has no blocks to map or persist, whatever its size.
 */
const NOT_STORAGE = new Set([
  'proc', 'sysfs', 'debugfs', 'tracefs', 'securityfs', 'cgroup', 'cgroup2', 'configfs', 'efivarfs', 'pstore', 'bpf',
  'fusectl', 'devpts', 'mqueue', 'binfmt_misc', 'nsfs', 'rpc_pipefs', 'autofs',
]);

export interface FileInfo {
  file: string;
  kind: FileKind;
  /** Why a file of kind 'unreadable' could not be opened for reading: its errno code, e.g. "EACCES". */
  reason?: string;
  /** Format magic and version, e.g. "PKV1 v1"; absent for plain mappings. */
  format?: string;
  size?: number;
  mount?: string;
  fsType?: string;
  /** How stores to the file become durable on its mount. */
  durability?: 'dax' | 'msync' | 'msync (tmpfs: DRAM, lost at power failure)' | typeof FORCED;
  /** A KV store: the length its superblock records (bytes 16..23 of the payload); 0 when none is (an older store). */
  recordedLength?: number;
  /**
   * A KV store: the file's size against `recordedLength`. 'ok': at least as
   * long; 'short': shorter, so every open and `pmem check` refuse it; 'not
   * recorded': an older store, whose cut cannot be told; 'unreadable': its
   * superblock could not be read (`lengthNote` says why).
   */
  lengthCheck?: 'ok' | 'short' | 'not recorded' | 'unreadable';
  /** What `lengthCheck` means for this file, in a sentence; absent when it is 'ok'. */
  lengthNote?: string;
}

export function inspect(file: string, mounts: MountEntry[] = mountEntries()): FileInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A path through a directory that cannot be searched (EACCES), a link
    // loop (ELOOP), a name too long: not a missing file.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { file, kind: 'missing' };
    return { file, kind: 'unreadable', reason: code ?? String(e) };
  }
  if (isDevDax(st)) return { file, kind: 'devdax', ...mountOf(file, mounts), durability: 'dax' };
  if (!st.isFile()) return { file, kind: 'not a file', ...mountOf(file, mounts) };
  const mount = mountOf(file, mounts);
  if (mount.fsType !== undefined && NOT_STORAGE.has(mount.fsType)) {
    return { file, kind: 'not storage', size: st.size, mount: mount.mount, fsType: mount.fsType };
  }
  const info: FileInfo = { file, kind: 'mapping', size: st.size, ...mount };
  // The classifier the open paths use (lib/core/identify.ts), on bytes
  // read here: a file that cannot be read is said to be so, not taken
  // for one of no known format.
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return { ...info, kind: 'unreadable', reason: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
  let id: Identity;
  let head: Buffer | undefined;
  try {
    id = identifyFd(fd, st.size);
    if (id.kind === 'kv') head = readHead(fd, Math.min(st.size, DATA_START));
  } catch (e) {
    return { ...info, kind: 'unreadable', reason: (e as NodeJS.ErrnoException).code ?? String(e) };
  } finally {
    fs.closeSync(fd);
  }
  if (id.kind === 'kv' || id.kind === 'wal' || id.kind === 'objpool' || id.kind === 'cache' || id.kind === 'journal') {
    info.kind = id.kind;
    if (id.format !== undefined) info.format = id.format;
  }
  if (head !== undefined) Object.assign(info, lengthOf(head, st.size));
  return info;
}

/** The first `n` bytes of the file open as `fd` (fewer if it ends first). */
function readHead(fd: number, n: number): Buffer {
  const head = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = fs.readSync(fd, head, got, n - got, got);
    if (k === 0) break;
    got += k;
  }
  return head.subarray(0, got);
}

/**
 * The length a KV store's superblock records, against the file's `size`:
 * the check every open makes (lib/kv/log-open.ts, refuseShort), made here
 * without opening the store.
 */
function lengthOf(head: Buffer, size: number): Pick<FileInfo, 'recordedLength' | 'lengthCheck' | 'lengthNote'> {
  let recorded: number;
  try {
    recorded = readHeaderBytes(head).length;
  } catch (e) {
    return { lengthCheck: 'unreadable', lengthNote: `the store's superblock cannot be read: ${(e as Error).message}` };
  }
  if (recorded === 0) {
    return {
      recordedLength: 0, lengthCheck: 'not recorded',
      lengthNote: 'the store records no length (written before stores recorded one): a file cut short cannot be told',
    };
  }
  if (size < recorded) {
    return {
      recordedLength: recorded, lengthCheck: 'short',
      lengthNote: `the file is ${size} bytes, shorter than the ${recorded}-byte store it holds: it was cut short, and every open refuses it`,
    };
  }
  return { recordedLength: recorded, lengthCheck: 'ok' };
}

/** Why a file of the kernel's views (kind 'not storage') cannot be used. */
export function notStorage(i: FileInfo): string {
  return `${pathText(i.file)} is on ${i.fsType}, which holds the kernel's views, not storage`;
}

/**
 * The files a command is given, refused when one is of the kernel's views
 * (/proc, /sys, ...): opened as a store, such a file would be taken for an
 * empty one and the error would be about making a new file beside it.
 */
export function refuseKernelViews(files: ReadonlyArray<string | undefined>, refuse: (why: string) => Error): void {
  for (const file of files) {
    if (file === undefined) continue;
    const i = inspect(file);
    if (i.kind === 'not storage') throw refuse(notStorage(i));
  }
}

/** The mount holding `file`: the longest mount point that prefixes its real path. */
function mountOf(file: string, mounts: MountEntry[]): Pick<FileInfo, 'mount' | 'fsType' | 'durability'> {
  let real = path.resolve(file);
  try {
    real = fs.realpathSync(file);
  } catch {
    /* keep the resolved path */
  }
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.point === '/' || real === m.point || real.startsWith(m.point + '/');
    if (inside && (best === undefined || m.point.length >= best.point.length)) best = m;
  }
  if (best === undefined) return {};
  // What the library does on this file in this process's environment:
  // libpmem takes any file as pmem under PMEM_IS_PMEM_FORCE=1, and then
  // flushes with CLWB and never calls msync.
  const dax = isDaxMount(best);
  return {
    mount: best.point,
    fsType: best.fsType,
    durability: dax ? 'dax' : process.env.PMEM_IS_PMEM_FORCE === '1' ? FORCED : best.fsType === 'tmpfs' ? 'msync (tmpfs: DRAM, lost at power failure)' : 'msync',
  };
}

/** A file off DAX under PMEM_IS_PMEM_FORCE=1: nothing reaches its storage but the kernel's own writeback. */
const FORCED = 'forced (PMEM_IS_PMEM_FORCE=1: CLWB+SFENCE, no msync; not power-fail safe)';
