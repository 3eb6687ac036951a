// externalSort's options: their types, defaults and checks.
import * as os from 'node:os';

import { checkBoolean, checkIndex, checkOptions, checkPath, typeName } from '../core/args';
import type { RecordFormat, SortKey } from './records';

export interface SortProgress {
  /** 'runs': forming runs (bytes of input); 'pass': an intermediate merge pass; 'merge': the final merge (bytes of output). */
  phase: 'runs' | 'pass' | 'merge';
  done: number;
  total: number;
}

/** What a published checkpoint says, given to `onCheckpoint` once it is durable. */
export interface SortCheckpointInfo {
  phase: 'runs' | 'merge' | 'done';
  generation: number;
  runs: number;
  inputOffset: number;
  outputBytes: number;
}

export interface SortOptions {
  /** The DRAM budget in bytes for runs and merge buffers. Default 64 MiB; at least 64 KiB. */
  memory?: number;
  /** The directory for the run files and the checkpoint (on PMem). Default: `<output>.pmem-sort`, removed at the end. */
  pmem?: string;
  /** Key fields, as `-k` gives them; text only. Default: the whole line. */
  keys?: SortKey[];
  /**
   * The field separator (`-t`): one byte, as a one-character ASCII string
   * ('\t', ':') or a one-byte Uint8Array (any byte: Buffer.from([0xa7])).
   * Default: blanks.
   */
  separator?: string | Uint8Array;
  /** Compare keys as numbers (`-n`); text only. */
  numeric?: boolean;
  reverse?: boolean;
  /** Output only the first of records with equal keys. */
  unique?: boolean;
  /** Records with equal keys keep their input order. */
  stable?: boolean;
  /** Fixed-size binary records of this many bytes (gensort: 100). Default: text lines. */
  recordSize?: number;
  /** Binary records: the key's offset in the record. Default 0. */
  keyOffset?: number;
  /** Binary records: the key's length. Default 10, or the record size if smaller. */
  keyLength?: number;
  /**
   * 'pmem' (default): one pass merges every run, read in place from PMem
   * (a run is its own merge buffer). Where the `pmem` directory is not
   * persistent memory (its files live in the page cache), the runs are read
   * with pread(2) through windows that share a quarter of the budget, still
   * all at once: mapped page-cache pages would cost the same DRAM, and page
   * table work besides. 'dram': each run is read through a DRAM window cut
   * from the run buffers' input chunk (40% of the budget), and at most as
   * many runs as it holds windows of up to 1 MiB are merged at once (more
   * passes).
   */
  mergeBuffers?: 'pmem' | 'dram';
  /**
   * Threads that form runs (GNU sort's `--parallel`), the budget split
   * between them: 1..8. Default: the CPUs (os.availableParallelism), at
   * most 8, and with PMem merge buffers fewer when more threads would form
   * more runs (smaller ones) than one thread can merge through windows of
   * 256 KiB within the budget (16 KiB in a quarter of it, read with pread:
   * see `mergeBuffers`). Fewer are used when the budget gives a thread less
   * than 32 KiB. The final merge runs on as many of them as give each run
   * such a window. The output is the same for any number.
   */
  parallel?: number;
  /** Continue the sort a checkpoint in `pmem` describes; without one, start. */
  resume?: boolean;
  /** Publish a checkpoint after this many bytes of merge output. Default 64 MiB. */
  checkpointBytes?: number;
  onProgress?(progress: SortProgress): void;
  onCheckpoint?(info: SortCheckpointInfo): void;
}

export interface SortResult {
  records: number;
  inputBytes: number;
  outputBytes: number;
  /** Runs formed from the input. */
  runs: number;
  /** Merge passes (1 when every run was merged at once; 0 for an empty input). */
  mergePasses: number;
  /** Bytes written to runs and intermediate merges (not the output). */
  tempBytesWritten: number;
  /** The process's peak resident set, in bytes (getrusage). */
  peakRss: number;
  /** Whether the sort continued from a checkpoint. */
  resumed: boolean;
  /** Threads the sort ran on, the calling one included (see `parallel`). */
  threads: number;
  /** Key ranges this call's final merge was cut into, one per thread at a time (1: merged on one thread; 0: no final merge in this call). */
  mergeRanges: number;
  /**
   * How the merge reads the runs: 'in place' through their mappings (PMem
   * merge buffers on persistent memory: DAX, or PMEM_IS_PMEM_FORCE), or
   * 'pread' into DRAM windows (DRAM merge buffers, or runs on a file the
   * page cache holds; see `mergeBuffers`).
   */
  mergeReads: 'in place' | 'pread';
}

export interface Checked {
  format: RecordFormat;
  memory: number;
  pmem: string | undefined;
  mergeBuffers: 'pmem' | 'dram';
  parallel: number;
  /** `parallel` was not given: the sort may form runs on fewer threads (see SortOptions.parallel). */
  autoParallel: boolean;
  resume: boolean;
  checkpointBytes: number;
  onProgress?: (progress: SortProgress) => void;
  onCheckpoint?: (info: SortCheckpointInfo) => void;
}

export const MIN_MEMORY = 64 * 1024;
/** The most threads a sort uses (GNU sort's limit too). */
export const MAX_THREADS = 8;
/** A run's input chunk (40% of the budget) is one Buffer: at most 2 GiB. */
export const MAX_MEMORY = 4 * 1024 ** 3;
const KEYS = ['memory', 'pmem', 'keys', 'separator', 'numeric', 'reverse', 'unique', 'stable', 'recordSize', 'keyOffset',
  'keyLength', 'mergeBuffers', 'parallel', 'resume', 'checkpointBytes', 'onProgress', 'onCheckpoint'];
const KEY_KEYS = ['field', 'char', 'endField', 'endChar'];

function positive(v: unknown, name: string): number {
  const n = checkIndex(v, name);
  if (n === 0) throw new RangeError(`${name} must be at least 1, got 0`);
  return n;
}

/**
 * The options' values, each read once (a getter or a Proxy runs once per
 * name), into a plain object the checks and the sort then read: a value
 * that answered one thing to its check cannot answer another to the sort.
 */
function readOnce(options: unknown, keys: readonly string[], name: string): Record<string, unknown> {
  if (options === null || typeof options !== 'object') throw new TypeError(`${name} must be an object`);
  // An array's own methods (keys, say) would be read as options.
  if (Array.isArray(options)) throw new TypeError(`${name} must be an object, not an array`);
  const given = checkOptions(options, keys);
  const o: Record<string, unknown> = {};
  for (const k of keys) o[k] = given[k];
  return o;
}

function checkKey(k: unknown, i: number): Required<SortKey> {
  const o = readOnce(k, KEY_KEYS, `keys[${i}]`);
  return {
    field: positive(o.field, `keys[${i}].field`),
    char: o.char === undefined ? 1 : positive(o.char, `keys[${i}].char`),
    endField: o.endField === undefined ? 0 : positive(o.endField, `keys[${i}].endField`),
    endChar: o.endChar === undefined ? 0 : checkIndex(o.endChar, `keys[${i}].endChar`),
  };
}

/** @throws TypeError, RangeError */
export function checkSortOptions(options: unknown): Checked {
  const o = readOnce(options, KEYS, 'options');
  const bool = (name: string): boolean => (o[name] === undefined ? false : checkBoolean(o[name], name));
  const memory = o.memory === undefined ? 64 * 1024 * 1024 : checkIndex(o.memory, 'memory');
  if (memory < MIN_MEMORY || memory > MAX_MEMORY) throw new RangeError(`memory must be ${MIN_MEMORY}..${MAX_MEMORY} bytes, got ${memory}`);
  if (o.pmem !== undefined && (typeof o.pmem !== 'string' || o.pmem.length === 0)) throw new TypeError('pmem must be a directory path');
  if (o.pmem !== undefined) checkPath(o.pmem, 'pmem');
  if (o.keys !== undefined && !Array.isArray(o.keys)) throw new TypeError('keys must be an array');
  // Its length and each element read once, by index: not through the
  // array's own `map`, which may be anything.
  const given = (o.keys ?? []) as unknown[];
  const keys: Array<Required<SortKey>> = [];
  for (let i = 0, n = given.length; i < n; i++) keys.push(checkKey(given[i], i));
  let separator = -1;
  if (o.separator !== undefined) {
    const given = o.separator as unknown;
    if (given instanceof Uint8Array) {
      if (given.length !== 1 || given[0] === 10) throw new RangeError(`separator must be one byte other than a newline, got ${given.length} bytes`);
      separator = given[0];
    } else if (typeof given === 'string') {
      // A string is UTF-8, as the input's lines are: a character past ASCII
      // is two bytes or more there ('é' is C3 A9), never the one byte its
      // code would name. Any byte can be given as a one-byte Uint8Array.
      if (given.length !== 1 || given === '\n' || given.charCodeAt(0) >= 0x80) {
        const bytes = Buffer.byteLength(given);
        throw new RangeError(`separator must be one byte other than a newline, got ${JSON.stringify(given)}`
          + (given.length === 1 && given.charCodeAt(0) >= 0x80 ? ` (${bytes} bytes in UTF-8; a byte past ASCII is given as a one-byte Uint8Array)` : ''));
      }
      separator = given.charCodeAt(0);
    } else throw new TypeError('separator must be a string or a Uint8Array');
  }
  const recordSize = o.recordSize === undefined ? 0 : positive(o.recordSize, 'recordSize');
  const keyOffset = o.keyOffset === undefined ? 0 : checkIndex(o.keyOffset, 'keyOffset');
  const keyLength = o.keyLength === undefined ? Math.min(10, recordSize) : positive(o.keyLength, 'keyLength');
  const numeric = bool('numeric');
  if (recordSize > 0) {
    if (keys.length > 0 || separator >= 0 || numeric) throw new TypeError('keys, separator and numeric apply to text records, not to recordSize');
    if (keyOffset + keyLength > recordSize) throw new RangeError(`the key [${keyOffset}, +${keyLength}) does not fit a ${recordSize}-byte record`);
    if (recordSize > memory / 4) throw new RangeError(`a ${recordSize}-byte record does not fit a quarter of the ${memory}-byte memory budget`);
  } else if (o.keyOffset !== undefined || o.keyLength !== undefined) {
    throw new TypeError('keyOffset and keyLength apply to binary records (recordSize)');
  }
  const mergeBuffers = o.mergeBuffers === undefined ? 'pmem' : o.mergeBuffers;
  if (typeof mergeBuffers !== 'string') throw new TypeError(`mergeBuffers must be 'pmem' or 'dram', got ${typeName(mergeBuffers)}`);
  if (mergeBuffers !== 'pmem' && mergeBuffers !== 'dram') throw new RangeError(`mergeBuffers must be 'pmem' or 'dram', got ${mergeBuffers}`);
  const parallel = o.parallel === undefined ? Math.min(MAX_THREADS, os.availableParallelism()) : positive(o.parallel, 'parallel');
  if (parallel > MAX_THREADS) throw new RangeError(`parallel must be 1..${MAX_THREADS}, got ${parallel}`);
  const checkpointBytes = o.checkpointBytes === undefined ? 64 * 1024 * 1024 : positive(o.checkpointBytes, 'checkpointBytes');
  for (const name of ['onProgress', 'onCheckpoint']) {
    if (o[name] !== undefined && typeof o[name] !== 'function') throw new TypeError(`${name} must be a function`);
  }
  return {
    format: { recordSize, keyOffset, keyLength, keys, separator, numeric, reverse: bool('reverse'), stable: bool('stable'), unique: bool('unique') },
    memory,
    pmem: o.pmem as string | undefined,
    mergeBuffers,
    parallel,
    autoParallel: o.parallel === undefined,
    resume: bool('resume'),
    checkpointBytes,
    onProgress: o.onProgress as Checked['onProgress'],
    onCheckpoint: o.onCheckpoint as Checked['onCheckpoint'],
  };
}

/**
 * A `-k` key as GNU sort writes it: `F[.C][,F[.C]]`. Ordering letters
 * (`-k2n`) are not accepted: give numeric/reverse for the whole sort.
 * @throws TypeError for a spec that is not a string, RangeError
 */
export function parseKey(spec: string): SortKey {
  // A number or an object would be read through its String(): 2 as '2'.
  if (typeof spec !== 'string') throw new TypeError(`a key spec must be a string, got ${typeName(spec)}`);
  const m = /^(\d+)(?:\.(\d+))?(?:,(\d+)(?:\.(\d+))?)?$/.exec(spec);
  if (m === null) throw new RangeError(`a key is F[.C][,F[.C]] (fields and characters from 1), got '${spec}'`);
  const key: SortKey = { field: Number(m[1]) };
  if (m[2] !== undefined) key.char = Number(m[2]);
  if (m[3] !== undefined) key.endField = Number(m[3]);
  if (m[4] !== undefined) key.endChar = Number(m[4]);
  if (key.field === 0 || key.char === 0 || key.endField === 0) throw new RangeError(`field and character numbers start at 1, got '${spec}'`);
  for (const n of [key.field, key.char, key.endField, key.endChar]) {
    if (n !== undefined && !Number.isSafeInteger(n)) throw new RangeError(`field and character numbers are at most ${Number.MAX_SAFE_INTEGER}, got '${spec}'`);
  }
  return key;
}
