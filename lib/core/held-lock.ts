// Whether another open holds a file's exclusive lock, asked without taking
// any lock: a KVStore reader bounds its recovery by the published tail only
// when a writer is live (lib/kv/follow.ts), and a sort tells a running
// sort's files from an interrupted one's (lib/sort/lock.ts). And whether
// that writer is of this version (writerMarked).
import * as fs from 'node:fs';

import { binding } from './binding';

/**
 * Whether a process holds an exclusive flock on the file at `path`, or
 * open as `fd` (a writer's lock), read from /proc/locks. Trying the lock would collide with
 * a writer opening at that moment, which would then fail; reading the
 * kernel's list takes nothing. When the list cannot be read, a writer is
 * assumed: the reader then stops at the published tail.
 */
export function writerHolds(path: string, fd?: number): boolean {
  let st: fs.BigIntStats;
  let text: string;
  try {
    // The file open as `fd` when given (a reader's own: the path may name another file by now).
    st = fd === undefined ? fs.statSync(path, { bigint: true }) : fs.fstatSync(fd, { bigint: true });
    text = fs.readFileSync('/proc/locks', 'latin1');
  } catch {
    return true;
  }
  // Linux dev_t: minor in bits 0..7 and 20..31, major in bits 8..19.
  const major = (st.dev >> 8n) & 0xfffn;
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & 0xfff00n);
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 8558 00:1b:30558 0 EOF"; a waiter's line has "->" after the number.
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[3] !== 'WRITE' || f.length < 6) continue;
    const id = f[5].split(':');
    if (id.length !== 3) continue;
    if (BigInt(`0x${id[0]}`) === major && BigInt(`0x${id[1]}`) === minor && BigInt(id[2]) === st.ino) return true;
  }
  return false;
}

/**
 * Whether the exclusive lock on the file open as `fd` was taken by this
 * version's lockFile, which takes a mark beside its flock
 * (native/core/filelock.cc). A writer of an earlier version holds the
 * flock and no mark. True where the mark cannot be asked for.
 */
export function writerMarked(fd: number): boolean {
  return binding.writerMarked(fd);
}
