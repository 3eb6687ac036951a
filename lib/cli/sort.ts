// `pmem sort`: externalSort on the command line, with GNU sort's letters
// for keys and orderings. See `pmem help sort`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { bytes, lostBytes, refuseLostPath, typedBytes, wholeNumber } from './args';
import { cannotUse, EXIT, messageOf, Out, reasonOf, usage } from './exit';
import { escapeText, pathText } from './text';
import { Progress } from './progress';
import { ownerGone, ownerLine } from '../core/owner';
import { externalSort } from '../sort/sort';
import { checkSortOptions, parseKey, type SortOptions, type SortProgress } from '../sort/options';
import type { SortKey } from '../sort/records';

const FLAGS: Record<string, keyof SortOptions> = { '-n': 'numeric', '-r': 'reverse', '-u': 'unique', '-s': 'stable', '--resume': 'resume' };
const VALUES = new Set(['-o', '-k', '-t', '-S', '--memory', '--pmem', '--record-size', '--key-offset', '--key-length', '--merge-buffers', '--parallel']);

/** Runs `pmem sort` with the arguments after "sort"; resolves to its exit code. */
export async function sortCommand(argv: string[], out: Out): Promise<number> {
  const options: SortOptions = {};
  const keys: SortKey[] = [];
  const files: string[] = [];
  let output: string | undefined;
  // The -t given, as the one latin1 character of its byte.
  let tabGiven: string | undefined;
  let verbose = false;
  let json = false;
  // The option each of the library's names came from, for its messages.
  const names: Record<string, string> = { ...OPTION_NAMES };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '--') {
      files.push(...argv.slice(i + 1));
      break;
    }
    // Letters run together as GNU sort (getopt) takes them: flags first,
    // then at most one letter that takes a value, which is the rest of the
    // argument or the next one: -nr, -k2,2, -t:, -nk2,2, -rt: -k2, -no out.
    if (/^-[^-]/.test(a)) {
      let j = 1;
      while (j < a.length && FLAGS[`-${a[j]}`] !== undefined) options[FLAGS[`-${a[j++]}`] as 'numeric'] = true;
      if (j === a.length) continue;
      if (j > 1) {
        if (!/[oktS]/.test(a[j])) throw usage(`unknown sort option letter '${a[j]}' in ${a}`);
        a = `-${a.slice(j)}`;
      }
    }
    let v: string | undefined;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    } else if (/^-[oktS]./.test(a)) {
      v = a.slice(2);
      a = a.slice(0, 2);
    }
    if (VALUES.has(a)) {
      if (v === undefined) {
        if (++i >= argv.length) throw usage(`${a} needs a value`);
        v = argv[i];
      }
    } else if (v !== undefined) throw usage(`${a} takes no value`);
    switch (a) {
      case '-o':
        // As GNU sort: the same output twice is one; two are refused.
        if (output !== undefined && output !== v) throw usage(`multiple output files specified: -o ${pathText(output)} and -o ${pathText(v as string)}`);
        output = v;
        break;
      case '-k':
        try {
          keys.push(parseKey(v as string));
        } catch (e) {
          // parseKey's message has the value; the option is named here.
          throw usage(`-k: ${(e as Error).message}`);
        }
        break;
      case '-t': {
        // One byte that is not UTF-8 (\xa7, say) arrives as U+FFFD: the byte
        // typed, from /proc/self/cmdline, is the tab, as GNU sort takes it
        // in the C locale (and the API, as the one latin1 byte).
        const typed = lostBytes(v as string) ? typedBytes(v as string) : undefined;
        if (typed !== undefined && typed.length === 1) v = String.fromCharCode(typed[0]);
        else if (typed !== undefined) throw usage(`-t takes one byte; '${escapeText(typed)}' is ${typed.length} bytes (a multi-character tab)`);
        // Otherwise the command line arrives decoded from UTF-8: a character
        // past ASCII was two or more bytes there, and GNU sort refuses it as
        // a multi-character tab.
        else if (v !== undefined && v.length === 1 && v.charCodeAt(0) >= 0x80) {
          throw usage(`-t takes one byte; '${v}' is ${Buffer.byteLength(v)} bytes (a multi-character tab)`);
        }
        // `-t '\0'`, as GNU sort takes it: the NUL byte, which no argument
        // can hold.
        const tab = v === '\\0' ? '\0' : v;
        // As GNU sort: the same tab twice is one; two are refused.
        if (tabGiven !== undefined && tabGiven !== tab) {
          throw usage(`incompatible tabs: -t '${escapeText(Buffer.from(tabGiven, 'latin1'))}' and -t '${escapeText(Buffer.from(tab as string, 'latin1'))}'`);
        }
        tabGiven = tab;
        // A byte past ASCII goes to the library as that one byte (a string is UTF-8 there).
        options.separator = tab !== undefined && tab.length === 1 && tab.charCodeAt(0) >= 0x80 ? Buffer.from(tab, 'latin1') : tab;
        break;
      }
      case '-S':
      case '--memory':
        options.memory = bytes(v as string, a);
        names.memory = a;
        break;
      case '--pmem': options.pmem = v; break;
      case '--record-size': options.recordSize = wholeNumber(v as string, a); break;
      case '--key-offset': options.keyOffset = wholeNumber(v as string, a); break;
      case '--key-length': options.keyLength = wholeNumber(v as string, a); break;
      case '--parallel': options.parallel = wholeNumber(v as string, a); break;
      case '--merge-buffers':
        if (v !== 'pmem' && v !== 'dram') throw usage(`--merge-buffers takes pmem or dram, got '${v}'`);
        options.mergeBuffers = v;
        break;
      case '--verbose': verbose = true; break;
      case '--json': json = true; break;
      default:
        if (FLAGS[a] !== undefined) options[FLAGS[a] as 'numeric'] = true;
        else if (a.startsWith('-') && a !== '-') throw usage(`unknown sort option ${a}`);
        else files.push(a);
    }
  }
  if (files.length !== 1) throw usage('sort takes one input file');
  if (files[0] === '') throw usage('the input file is an empty string');
  if (output === '') throw usage('the output (-o) is an empty string');
  if (options.pmem === '') throw usage('--pmem is an empty string');
  refuseLostPath('the input file', files[0]);
  refuseLostPath('the output (-o)', output);
  refuseLostPath('--pmem', options.pmem);
  // The sort renames its output into place: /dev/stdout would be a link to
  // a pipe, which no file replaces, or to the file stdout was sent to, which
  // it would replace (a log appended to, say). It is stdout, as `-o -` is.
  const toStdout = output === undefined || output === '-' || STDOUT_NAMES.has(output);
  // /dev/stdin that is not a regular file (a pipe) is stdin, as `-` is: the
  // sort reads only a regular file. (One redirected from a file is that
  // file, which a resume can read again.)
  const fromStdin = files[0] === '-' || (STDIN_NAMES.has(files[0]) && !stdinIsFile());
  // So is a FIFO (a named pipe, a shell's <(cmd)): read once, to its end.
  const fifo = !fromStdin && isFifo(files[0]);
  if (toStdout && json) throw usage('--json writes the counters to stdout: give the output with -o FILE');
  if (toStdout && options.resume === true) throw usage('--resume continues a sort into a file: give it with -o FILE');
  if (fromStdin && options.resume === true) throw usage('--resume continues the sort of a file: stdin cannot be read again');
  if (fifo && options.resume === true) throw usage(`--resume continues the sort of a file: ${pathText(files[0])} is a FIFO, which cannot be read again`);
  if (keys.length > 0) options.keys = keys;
  checkOptions(options, output, toStdout, names);
  const bar = new PhaseBar();
  options.onProgress = (p) => bar.update(p);
  // From stdin, or to stdout: the sort reads and writes files in a
  // directory of its own (beside the --pmem directory, else beside the
  // output, else in the system's temporary one): stdin copied there first,
  // the output copied to stdout once whole; then removed with the runs.
  const near = options.pmem !== undefined ? path.dirname(path.resolve(options.pmem)) : toStdout ? os.tmpdir() : path.dirname(path.resolve(output as string));
  let tmp: string | null = null;
  if (toStdout || fromStdin || fifo) {
    for (const left of removeLeftBehind(near)) process.stderr.write(`pmem sort: removed ${pathText(left.dir)}, left by a sort that was killed (pid ${left.pid})\n`);
    try {
      tmp = fs.mkdtempSync(path.join(near, TEMP_PREFIX));
    } catch (e) {
      throw cannotUse(`cannot make a directory in ${pathText(near)} for the sort's files: ${reasonOf(e)}`);
    }
  }
  let result;
  try {
    if (tmp !== null) {
      // Named for the next sort beside it: a kill leaves the directory, and its owner gone.
      try {
        fs.writeFileSync(path.join(tmp, OWNER_FILE), ownerLine());
      } catch (e) {
        throw cannotUse(`cannot write in ${pathText(tmp)}: ${reasonOf(e)}`);
      }
    }
    const input = fromStdin || fifo ? path.join(tmp as string, 'input') : files[0];
    if (fromStdin) await copyIn(input, stdinStream(), 'stdin');
    else if (fifo) await copyIn(input, fs.createReadStream(files[0]), pathText(files[0]));
    const file = toStdout ? path.join(tmp as string, 'sorted') : output as string;
    try {
      result = externalSort(input, file, options);
      bar.finish();
    } finally {
      bar.stop(); // a sort that failed: its phase did not reach 100%
    }
    if (toStdout) await copyOut(file, out);
  } finally {
    if (tmp !== null) fs.rmSync(tmp, { recursive: true, force: true });
  }
  const counters = {
    records: result.records, inputBytes: result.inputBytes, outputBytes: result.outputBytes, runs: result.runs,
    mergePasses: result.mergePasses, tempBytesWritten: result.tempBytesWritten, peakRss: result.peakRss, resumed: result.resumed,
    threads: result.threads, mergeRanges: result.mergeRanges, mergeReads: result.mergeReads,
  };
  if (verbose) {
    process.stderr.write(`pmem sort: ${counters.records} records, ${counters.runs} runs, ${counters.mergePasses} merge pass(es), ` +
      `${counters.tempBytesWritten} bytes to temporary space (${(counters.tempBytesWritten / Math.max(1, counters.inputBytes)).toFixed(2)}x the input), ` +
      `peak RSS ${(counters.peakRss / 2 ** 20).toFixed(1)} MiB, ${counters.threads} thread(s), ` +
      `final merge in ${counters.mergeRanges} key range(s), runs read ${counters.mergeReads}${counters.resumed ? ', resumed from a checkpoint' : ''}\n`);
  }
  if (json) out.line(JSON.stringify(counters));
  return EXIT.OK;
}

/** The names of stdin that are read as `-` when stdin is not a regular file. */
const STDIN_NAMES = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

function isFifo(file: string): boolean {
  try {
    return fs.statSync(file).isFIFO();
  } catch {
    return false; // the sort says why it cannot read it
  }
}

function stdinIsFile(): boolean {
  try {
    return fs.fstatSync(0).isFile();
  } catch {
    return false;
  }
}

/** The names of stdout that `-o` takes as stdout. */
const STDOUT_NAMES = new Set(['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1']);

const TEMP_PREFIX = 'pmem-sort-';
/** The file in a sort's own directory that names the process using it (core/owner.ts). */
const OWNER_FILE = 'owner';

/**
 * Removes the directories that sorts from stdin or to stdout made in `near`
 * and left when they were killed (a synchronous sort cannot clean up on a
 * signal): those whose owner file names a process of this host that is
 * gone. A directory without one (just made, or not a sort's), another
 * user's, or a link is left as it is.
 */
function removeLeftBehind(near: string): Array<{ dir: string; pid: string }> {
  const removed: Array<{ dir: string; pid: string }> = [];
  let names: string[];
  try {
    names = fs.readdirSync(near);
  } catch {
    return removed; // mkdtemp says why
  }
  const uid = process.geteuid?.();
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX) || name.length !== TEMP_PREFIX.length + 6) continue;
    const dir = path.join(near, name);
    try {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      const owner = fs.readFileSync(path.join(dir, OWNER_FILE), 'latin1');
      if (!ownerGone(owner)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push({ dir, pid: owner.split(' ')[1] });
    } catch {
      // Gone already (another sort removed it), or no owner file: not ours to remove.
    }
  }
  return removed;
}

/**
 * Stdin (or a FIFO: `what` names it), to its end, into a new file at
 * `file`. One that cannot be read fails the command (exit 3), so that it is
 * never sorted as an empty input.
 */
async function copyIn(file: string, source: AsyncIterable<unknown>, what: string): Promise<void> {
  const fd = fs.openSync(file, 'wx');
  try {
    const chunks = source[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = await chunks.next();
      } catch (e) {
        throw cannotUse(`cannot read ${what}: ${messageOf(e)}`);
      }
      if (next.done === true) break;
      const b = next.value as Buffer;
      try {
        for (let at = 0; at < b.length;) at += fs.writeSync(fd, b, at, b.length - at);
      } catch (e) {
        throw cannotUse(`cannot copy ${what} to ${pathText(file)}: ${reasonOf(e)}`);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Stdin as a stream. Node streams it when it is a file, a character
 * device, a pipe, a socket or a terminal; of another kind (a directory, a
 * block device) it gives an empty stream. Such a stdin is read through a
 * stream of its descriptor instead: read(2) says why a directory cannot be
 * read (EISDIR), and a block device is read.
 */
function stdinStream(): AsyncIterable<unknown> {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(0);
  } catch (e) {
    throw cannotUse(`cannot read stdin: ${messageOf(e)}`);
  }
  if (st.isDirectory() || st.isBlockDevice()) return fs.createReadStream('', { fd: 0, autoClose: false });
  return process.stdin;
}

/** The file's bytes to stdout, a MiB at a time, each once stdout took the one before. */
async function copyOut(file: string, out: Out): Promise<void> {
  const fd = fs.openSync(file, 'r');
  try {
    for (;;) {
      // A buffer per write: a write that stdout queues keeps the one it was given.
      const b = Buffer.allocUnsafe(1024 * 1024);
      const n = fs.readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      out.bytes(b.subarray(0, n));
      if (out.full) await out.drained();
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The options as the library names them, and as `pmem sort` does. */
const OPTION_NAMES: Record<string, string> = {
  memory: '--memory', recordSize: '--record-size', keyOffset: '--key-offset', keyLength: '--key-length', parallel: '--parallel',
  separator: '-t', mergeBuffers: '--merge-buffers', pmem: '--pmem',
};

/**
 * The options checked as a whole before anything is made or read (stdin
 * included): what the library refuses is a usage error (exit 2), said with
 * the options' names on the command line (`names`).
 */
function checkOptions(options: SortOptions, output: string | undefined, toStdout: boolean, names: Record<string, string>): void {
  if (options.recordSize !== undefined && (options.keys !== undefined || options.separator !== undefined || options.numeric === true)) {
    throw usage('-k, -t and -n apply to text records, not to --record-size');
  }
  if (options.recordSize === undefined && (options.keyOffset !== undefined || options.keyLength !== undefined)) {
    throw usage('--key-offset and --key-length apply to binary records (--record-size)');
  }
  // The sort would make its directory at the output's path, and fail only
  // when it renames the output over it.
  if (options.pmem !== undefined && !toStdout && path.resolve(options.pmem) === path.resolve(output as string)) {
    throw usage(`--pmem ${pathText(options.pmem)} is the output ${pathText(output as string)}: give the sort a directory of its own`);
  }
  try {
    checkSortOptions(options);
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    // "parallel must be at least 1" -> "--parallel must be at least 1"
    const lead = /^(\w+) /.exec(e.message)?.[1];
    throw usage(lead !== undefined && names[lead] !== undefined ? names[lead] + e.message.slice(lead.length) : e.message);
  }
}

/** One progress bar per phase (runs, passes, merge), in bytes with an ETA. */
class PhaseBar {
  #bar: Progress | null = null;
  #phase = '';
  #done = 0;

  update(p: SortProgress): void {
    if (p.phase !== this.#phase) {
      this.#bar?.finish();
      this.#bar = new Progress(p.phase === 'runs' ? 'sort: runs ' : p.phase === 'pass' ? 'sort: pass ' : 'sort: merge', p.total, process.stderr, p.phase !== 'pass');
      this.#phase = p.phase;
      this.#done = 0;
    }
    this.#bar!.tick(p.done - this.#done);
    this.#done = p.done;
  }

  finish(): void {
    this.#bar?.finish();
  }

  stop(): void {
    this.#bar?.stop();
  }
}
