import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DefaultLocation {
  /** The directory files go into. */
  dir: string;
  /** Why this directory was chosen. */
  source: 'PMEM_DIR' | 'dax-mount' | 'emulated';
  /** True for /dev/shm: emulated persistent memory, lost at power failure. */
  emulated: boolean;
}

export interface MountEntry {
  device: string;
  point: string;
  fsType: string;
  options: string[];
}

/** The entries of /proc/mounts (or of `text` in its format), mount points unescaped. */
export function mountEntries(text = readMounts()): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    // /proc/mounts escapes spaces and the like as octal.
    const point = f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    entries.push({ device: f[0], point, fsType: f[2], options: f[3].split(',') });
  }
  return entries;
}

/** Whether a mount's options turn DAX on (dax, dax=always). */
export function isDaxMount(m: MountEntry): boolean {
  return m.options.includes('dax') || m.options.includes('dax=always');
}

/** Mount points with DAX on, from /proc/mounts. */
export function daxMounts(mounts = readMounts()): string[] {
  return mountEntries(mounts).filter(isDaxMount).map((m) => m.point);
}

function readMounts(): string {
  try {
    return fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return '';
  }
}

/**
 * Where the demo, the CLI and the benches put their files, in order of
 * preference: $PMEM_DIR; the first fs-dax mount in /proc/mounts;
 * /dev/shm/pmem (emulated, not safe against power failure).
 */
export function defaultLocation(env: NodeJS.ProcessEnv = process.env, mounts?: string): DefaultLocation {
  if (env.PMEM_DIR) return { dir: path.resolve(env.PMEM_DIR), source: 'PMEM_DIR', emulated: false };
  const dax = daxMounts(mounts);
  if (dax.length > 0) return { dir: dax[0], source: 'dax-mount', emulated: false };
  return { dir: '/dev/shm/pmem', source: 'emulated', emulated: true };
}

export const EMULATED_BANNER =
  'NOTE: no persistent memory found; using /dev/shm/pmem, which is emulated persistent memory\n' +
  '      in DRAM. Its data survives a process crash but NOT a power failure or reboot.\n' +
  '      Set PMEM_DIR or mount an fs-dax filesystem to use real persistent memory.';
