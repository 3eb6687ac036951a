// The sort's durable progress: a small structure on a Region. It names the
// runs written so far, how much input they hold, and the merge's position
// (each run's cursor and the output's length), so that a killed sort
// resumes from its last checkpoint. Format in docs/formats.md ("External
// sort checkpoint"), protocol in docs/durability.md.
import { binding } from '../core/binding';
import { checkOpen, PmemError } from '../core/errors';
import { store64, type Region } from '../core/region';

const MAGIC = 'PMEMSORT';
/** The checkpoint file's first 8 bytes, by which another sort's pmem directory is known (job.ts, checkOthersWork). */
export const CHECKPOINT_MAGIC = MAGIC;
const VERSION = 1;
/** The header: magic, version, maxRuns, the job's length and checksum, the job. */
const HEADER = 4096;
const JOB_AT = 64;
export const MAX_JOB = HEADER - JOB_AT;
/** The publishing word: the generation of the current slot (slot = generation % 2); 0 before the first publish. */
const CURRENT_AT = HEADER;
const SLOTS_AT = HEADER + 64;
/** A slot's fixed fields; its run table follows. */
const SLOT_FIXED = 128;
const RUN_ENTRY = 24;
const U32 = 2 ** 32;

export type SortPhase = 'runs' | 'merge' | 'done';
const PHASES: readonly SortPhase[] = ['runs', 'merge', 'done'];

export interface RunEntry {
  /** The run file's number (`run-<id>`). */
  id: number;
  /** Bytes of records in it. */
  length: number;
  /** The merge's position in it: the start of its next record not yet output. */
  cursor: number;
}

/** What one checkpoint holds. */
export interface SortState {
  phase: SortPhase;
  /** Input bytes already in runs. */
  inputOffset: number;
  /** Records read from the input so far. */
  records: number;
  /** The run id the next run file takes. */
  nextRunId: number;
  /** The runs, in input order (ties between runs go to the earlier). */
  runs: RunEntry[];
  /** Merge passes finished (a pass merges every run once). */
  passes: number;
  /** Of the runs, the first `passDone` are outputs of the current pass. */
  passDone: number;
  /** Bytes of the final output durable in the temporary output file. */
  outputBytes: number;
  /** The length of the last record in those bytes (for `unique` across a resume); 0 when none. */
  lastLength: number;
  /** Bytes written to runs and intermediate merges so far. */
  tempBytes: number;
  /** Runs formed from the input. */
  formedRuns: number;
}

const get64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * U32;
const put64 = (b: Buffer, at: number, v: number): void => {
  b.writeUInt32LE(v % U32, at);
  b.writeUInt32LE(Math.floor(v / U32), at + 4);
};

/** The region size a checkpoint of at most `maxRuns` runs needs. */
export function checkpointSize(maxRuns: number): number {
  return SLOTS_AT + 2 * slotSize(maxRuns);
}

function slotSize(maxRuns: number): number {
  return Math.ceil((SLOT_FIXED + maxRuns * RUN_ENTRY) / 64) * 64;
}

/**
 * The checkpoint on a Region. Publishing writes the slot that is not
 * current and persists it, then stores its generation in the current word
 * with one aligned 8-byte store and persists that: a crash at any moment
 * leaves the last published state or the new one, never a mix.
 */
export class Checkpoint {
  readonly region: Region;
  readonly job: string;
  readonly maxRuns: number;
  #generation: number;

  private constructor(region: Region, job: string, maxRuns: number, generation: number) {
    this.region = region;
    this.job = job;
    this.maxRuns = maxRuns;
    this.#generation = generation;
  }

  /** The generation of the last published state. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Formats `region` for a sort described by `job` and publishes `state` as
   * its first checkpoint: durable when it returns.
   * @throws RangeError when the region is too small or the job too long
   */
  static create(region: Region, job: string, maxRuns: number, state: SortState): Checkpoint {
    const jobBytes = Buffer.from(job, 'utf8');
    if (jobBytes.length > MAX_JOB) throw new RangeError(`the sort's description takes ${jobBytes.length} bytes, more than ${MAX_JOB}`);
    if (region.length < checkpointSize(maxRuns)) throw new RangeError(`a checkpoint of ${maxRuns} runs needs ${checkpointSize(maxRuns)} bytes`);
    const b = region.bytes;
    // The current word first: until the first publish it says "nothing
    // published", whatever the bytes before held.
    store64(b, CURRENT_AT, 0);
    b.fill(0, 0, HEADER);
    b.write(MAGIC, 0, 'latin1');
    b.writeUInt32LE(VERSION, 8);
    b.writeUInt32LE(maxRuns, 12);
    b.writeUInt32LE(jobBytes.length, 16);
    b.writeUInt32LE(binding.crc32c(jobBytes, 0, jobBytes.length, 0), 20);
    jobBytes.copy(b, JOB_AT);
    // Header and the zeroed current word durable before any slot can be
    // named current: a recovered generation always has its header.
    region.persist(0, HEADER + 8);
    const cp = new Checkpoint(region, job, maxRuns, 0);
    cp.publish(state);
    return cp;
  }

  /**
   * Whether `region` is a checkpoint that a crash left before its first
   * publish: long enough for the slots, its current word 0, and its header
   * either this format's or still all zero (a new file is zero-filled, and
   * the magic, an aligned 8-byte store, is all there or not at all). Such a
   * file named nothing; anything else that `recover()` finds no state in is
   * not one the sort may remove.
   */
  static unpublished(region: Region): boolean {
    checkOpen(region, 'sort checkpoint');
    const b = region.bytes;
    if (region.length < SLOTS_AT || get64(b, CURRENT_AT) !== 0) return false;
    if (b.toString('latin1', 0, 8) === MAGIC) return true;
    for (let i = 0; i < HEADER; i++) if (b[i] !== 0) return false;
    return true;
  }

  /**
   * `recover()`: reads the last published state. Returns null for a region
   * that holds no published checkpoint (never formatted, or a crash before
   * the first publish completed). Writes nothing.
   * @throws PmemError ERR_PMEM_CORRUPT when the header or the current slot fails its checks
   */
  static recover(region: Region): { checkpoint: Checkpoint; state: SortState } | null {
    checkOpen(region, 'sort checkpoint');
    const b = region.bytes;
    if (region.length < SLOTS_AT || b.toString('latin1', 0, 8) !== MAGIC) return null;
    const generation = get64(b, CURRENT_AT);
    if (generation === 0) return null;
    const corrupt = (why: string) => new PmemError('ERR_PMEM_CORRUPT', `sort checkpoint: ${why}`);
    if (b.readUInt32LE(8) !== VERSION) throw corrupt(`version ${b.readUInt32LE(8)}, expected ${VERSION}`);
    const maxRuns = b.readUInt32LE(12);
    const jobLength = b.readUInt32LE(16);
    if (jobLength > MAX_JOB || region.length < checkpointSize(maxRuns)) throw corrupt('the header does not fit the region');
    if (binding.crc32c(b, JOB_AT, jobLength, 0) !== b.readUInt32LE(20)) throw corrupt('the header fails its checksum');
    const job = b.toString('utf8', JOB_AT, JOB_AT + jobLength);
    const at = SLOTS_AT + (generation % 2) * slotSize(maxRuns);
    if (get64(b, at) !== generation) throw corrupt(`the current slot holds generation ${get64(b, at)}, not ${generation}`);
    const runCount = b.readUInt32LE(at + 16);
    if (runCount > maxRuns) throw corrupt(`${runCount} runs, at most ${maxRuns}`);
    const end = at + SLOT_FIXED + runCount * RUN_ENTRY;
    if (binding.crc32c(b, at + 16, end - at - 16, generation % U32) !== b.readUInt32LE(at + 8)) {
      throw corrupt(`generation ${generation} fails its checksum`);
    }
    const phase = PHASES[b.readUInt32LE(at + 20)];
    if (phase === undefined) throw corrupt(`unknown phase ${b.readUInt32LE(at + 20)}`);
    const runs: RunEntry[] = [];
    for (let i = 0; i < runCount; i++) {
      const e = at + SLOT_FIXED + i * RUN_ENTRY;
      runs.push({ id: get64(b, e), length: get64(b, e + 8), cursor: get64(b, e + 16) });
    }
    const state: SortState = {
      phase,
      inputOffset: get64(b, at + 24),
      records: get64(b, at + 32),
      nextRunId: get64(b, at + 40),
      passes: get64(b, at + 48),
      passDone: get64(b, at + 56),
      outputBytes: get64(b, at + 64),
      lastLength: get64(b, at + 72),
      tempBytes: get64(b, at + 80),
      formedRuns: get64(b, at + 88),
      runs,
    };
    return { checkpoint: new Checkpoint(region, job, maxRuns, generation), state };
  }

  /**
   * Makes `state` the checkpoint: durable when it returns. Whatever else the
   * state names (run files, output bytes) must be durable before the call.
   * @throws RangeError when it holds more than maxRuns runs
   */
  publish(state: SortState): void {
    checkOpen(this.region, 'sort checkpoint');
    if (state.runs.length > this.maxRuns) throw new RangeError(`${state.runs.length} runs, at most ${this.maxRuns}`);
    const generation = this.#generation + 1;
    const b = this.region.bytes;
    const at = SLOTS_AT + (generation % 2) * slotSize(this.maxRuns);
    // The slot that is not current: a crash while it is written leaves the
    // current one as it was.
    put64(b, at, generation);
    b.writeUInt32LE(state.runs.length, at + 16);
    b.writeUInt32LE(PHASES.indexOf(state.phase), at + 20);
    put64(b, at + 24, state.inputOffset);
    put64(b, at + 32, state.records);
    put64(b, at + 40, state.nextRunId);
    put64(b, at + 48, state.passes);
    put64(b, at + 56, state.passDone);
    put64(b, at + 64, state.outputBytes);
    put64(b, at + 72, state.lastLength);
    put64(b, at + 80, state.tempBytes);
    put64(b, at + 88, state.formedRuns);
    for (let i = 0; i < state.runs.length; i++) {
      const e = at + SLOT_FIXED + i * RUN_ENTRY;
      put64(b, e, state.runs[i].id);
      put64(b, e + 8, state.runs[i].length);
      put64(b, e + 16, state.runs[i].cursor);
    }
    const end = at + SLOT_FIXED + state.runs.length * RUN_ENTRY;
    // The checksum, seeded with the generation, catches damage; a slot left
    // from two generations ago never passes for the current one because
    // recovery also checks the slot's generation against the current word.
    b.writeUInt32LE(binding.crc32c(b, at + 16, end - at - 16, generation % U32), at + 8);
    // The slot durable before it is named: otherwise a crash after the
    // current word reached the media could name a slot still half in cache.
    this.region.persist(at, end - at);
    // The publishing store: one aligned 8-byte store names the new slot.
    store64(b, CURRENT_AT, generation);
    // Durable before publish returns: the caller acknowledges progress (and
    // deletes run files the old state named) only after this.
    this.region.persist(CURRENT_AT, 8);
    this.#generation = generation;
  }
}
