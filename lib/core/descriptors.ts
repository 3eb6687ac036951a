// The file descriptors this process may still open: its soft
// RLIMIT_NOFILE less those it holds, both read from /proc (Node has no
// getrlimit). A structure that opens one file per part (the sort's runs)
// sizes itself by it instead of failing with EMFILE part way.
import * as fs from 'node:fs';

/** The soft limit on open files, from /proc/self/limits; Infinity when unlimited or not told. */
export function openFilesLimit(): number {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/limits', 'latin1');
  } catch {
    return Infinity;
  }
  // "Max open files            1024                 524288               files"
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 0 ? n : Infinity;
}

/** Descriptors open in this process now (every thread's: they share one table); 0 when /proc does not tell. */
export function openFiles(): number {
  try {
    // The directory's own descriptor, open while it is read, is listed too.
    return Math.max(0, fs.readdirSync('/proc/self/fd').length - 1);
  } catch {
    return 0;
  }
}

/** How many more files this process may open now: Infinity when the limit is not known. */
export function descriptorsLeft(): number {
  const limit = openFilesLimit();
  return limit === Infinity ? Infinity : Math.max(0, limit - openFiles());
}
