// Whether two paths a caller gave name one file: the question a pair of
// files that must be two (a store and its journal) asks before either is
// opened or made.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Symbolic links followed from a missing name, at most (as the kernel's MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * Whether `a` and `b` name one file: the same file by two names (a
 * symbolic or hard link, `.` and `..`), or, where no file is there yet,
 * the same name once the links on the way are followed (a link to a
 * missing file names the file it would make).
 */
export function sameFile(a: string, b: string): boolean {
  const x = target(a);
  const y = target(b);
  if (x.st !== null && y.st !== null) return x.st.dev === y.st.dev && x.st.ino === y.st.ino;
  return x.st === null && y.st === null && x.name === y.name;
}

/** The file `p` names (its stat), or, when there is none, the absolute name it would be made under. */
function target(p: string): { st: fs.Stats | null; name: string } {
  let name = path.resolve(p);
  for (let links = 0; ; links++) {
    try {
      return { st: fs.statSync(name), name };
    } catch {
      // missing, or behind a link to nothing: follow it below
    }
    try {
      name = path.join(fs.realpathSync(path.dirname(name)), path.basename(name));
    } catch {
      return { st: null, name }; // its directory is missing too
    }
    let to: string;
    try {
      to = fs.readlinkSync(name);
    } catch {
      return { st: null, name }; // not a link: the name itself
    }
    if (links >= MAX_LINKS) return { st: null, name };
    name = path.resolve(path.dirname(name), to);
  }
}
