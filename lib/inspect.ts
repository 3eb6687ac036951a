// What a file is, for `pmem info` and `pmem check`: read from its first
// bytes, without mapping or recovering it, plus the durability of its mount.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { isDaxMount, mountEntries, type MountEntry } from './location';
import { Superblock } from './superblock';

export type FileKind = 'kv' | 'wal' | 'objpool' | 'mapping' | 'devdax' | 'missing' | 'not a file';

export interface FileInfo {
  file: string;
  kind: FileKind;
  /** Format magic and version, e.g. "PKV1 v1"; absent for plain mappings. */
  format?: string;
  size?: number;
  mount?: string;
  fsType?: string;
  /** How stores to the file become durable on its mount. */
  durability?: 'dax' | 'msync' | 'msync (tmpfs: DRAM, lost at power failure)';
}

const PAYLOAD_KINDS: Record<number, [FileKind, string]> = {
  0x31564b50: ['kv', 'PKV1'],
  0x4c415750: ['wal', 'PWAL'],
};

export function inspect(file: string, mounts: MountEntry[] = mountEntries()): FileInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return { file, kind: 'missing' };
  }
  if (st.isCharacterDevice()) return { file, kind: 'devdax', ...mountOf(file, mounts), durability: 'dax' };
  if (!st.isFile()) return { file, kind: 'not a file', ...mountOf(file, mounts) };
  const head = Buffer.alloc(4096);
  const fd = fs.openSync(file, 'r');
  let n = 0;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const info: FileInfo = { file, kind: 'mapping', size: st.size, ...mountOf(file, mounts) };
  if (n >= 12 && head.toString('latin1', 0, 8) === 'PMEMOBJ\0') {
    info.kind = 'objpool';
    info.format = `PMEMOBJ v${head.readUInt32LE(8)}`;
    return info;
  }
  // KV stores and WALs start with a superblock whose two replicas (payload
  // capacity up to 64) begin at 0 and 128; the payload starts 64 bytes in.
  for (const replica of [0, 128]) {
    if (n < replica + 72 || head.readUInt32LE(replica) !== Superblock.MAGIC) continue;
    const kind = PAYLOAD_KINDS[head.readUInt32LE(replica + 64)];
    if (kind !== undefined) {
      info.kind = kind[0];
      info.format = `${kind[1]} v${head.readUInt32LE(replica + 68)}`;
      break;
    }
  }
  return info;
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
