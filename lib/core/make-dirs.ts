// A directory made with its missing parents. Node's recursive mkdir
// (`fs.mkdirSync(dir, { recursive: true })`) never returns where mkdir(2)
// says ENOENT although the parent exists (a new name in /proc): it makes
// the parent again and retries, forever.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * `fs.mkdirSync(dir, { recursive: true })`, one level at a time, so that
 * mkdir's own error (ENOENT in /proc, EROFS, EACCES, ENOTDIR) is thrown,
 * with the level that failed as its `path`.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (let i = missing.length - 1; i >= 0; i--) fs.mkdirSync(missing[i]);
  // An existing `dir` that is not a directory: mkdir's own error (EEXIST),
  // as the recursive form gives.
  if (missing.length === 0 && !fs.statSync(at).isDirectory()) fs.mkdirSync(at);
}
