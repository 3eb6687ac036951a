// What a file is, for `pmem info` and `pmem check`: read from its first
// bytes, without mapping or recovering it, plus the durability of its mount.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { isDaxMount, mountEntries, type MountEntry } from '../core/location';
import { identifyFd, isDevDax, type Identity } from '../core/identify';

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
  durability?: 'dax' | 'msync' | 'msync (tmpfs: DRAM, lost at power failure)';
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
  try {
    id = identifyFd(fd, st.size);
  } catch (e) {
    return { ...info, kind: 'unreadable', reason: (e as NodeJS.ErrnoException).code ?? String(e) };
  } finally {
    fs.closeSync(fd);
  }
  if (id.kind === 'kv' || id.kind === 'wal' || id.kind === 'objpool' || id.kind === 'cache' || id.kind === 'journal') {
    info.kind = id.kind;
    if (id.format !== undefined) info.format = id.format;
  }
  return info;
}

/** Why a file of the kernel's views (kind 'not storage') cannot be used. */
export function notStorage(i: FileInfo): string {
  return `${i.file} is on ${i.fsType}, which holds the kernel's views, not storage`;
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
  return {
    mount: best.point,
    fsType: best.fsType,
    durability: isDaxMount(best) ? 'dax' : best.fsType === 'tmpfs' ? 'msync (tmpfs: DRAM, lost at power failure)' : 'msync',
  };
}
