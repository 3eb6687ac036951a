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

/** Mount points with DAX on, from /proc/mounts (dax, dax=always). */
export function daxMounts(mounts = readMounts()): string[] {
  const found: string[] = [];
  for (const line of mounts.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 4) continue;
    const options = fields[3].split(',');
    if (options.includes('dax') || options.includes('dax=always')) {
      // /proc/mounts escapes spaces and the like as octal.
      found.push(fields[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
    }
  }
  return found;
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
