// One worker thread of a parallel sort (run formation, or the final
// merge's key ranges), driven synchronously from
// the main thread (externalSort blocks its caller): a job goes out through
// a MessagePort, and the main thread sleeps on a shared counter
// (Atomics.wait) until the worker has put its answer in the port's queue.
// A worker that stops without answering (its heap limit, say) cannot tell
// the main thread, whose event loop is blocked: the main thread wakes now
// and then to look for the worker's thread in /proc/self/task.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

import { PmemError, type PmemErrorCode } from '../core/errors';
import type { RangeJob } from './range-merge';
import type { RecordFormat } from './records';
import type { RunBuffers } from './runs';

/** What a worker is started with. */
export interface RunThreadData {
  /** The whole budget's run buffers (shared), and which of `parts` parts is the worker's; null for merging only. */
  input: SharedArrayBuffer | null;
  records: SharedArrayBuffer | null;
  part: number;
  parts: number;
  format: RecordFormat;
  port: MessagePort;
  /**
   * Two words: [0] a counter the worker adds 1 to after each answer; [1]
   * the worker's thread id, stored when it starts (-1 when /proc cannot tell).
   */
  done: SharedArrayBuffer;
}

/** How long the main thread sleeps before it looks whether a silent worker's thread is still there. */
const LIVENESS_MS = 1000;

/** The thread ids of this process, or null where /proc cannot tell them. */
function taskIds(): Set<number> | null {
  try {
    return new Set(fs.readdirSync('/proc/self/task').map(Number));
  } catch {
    return null;
  }
}

/** Whether a thread of this process is there: true when /proc cannot tell. */
function taskAlive(tid: number): boolean {
  try {
    fs.statSync(`/proc/self/task/${tid}`);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** A run split into the worker's part of the buffers: sort it and write it to `runPath`. */
export interface RunJob {
  kind: 'run';
  offset: number;
  consumed: number;
  records: number;
  runPath: string;
}

/** An error as it crosses threads: enough to throw it again as the same class with the same code. */
export interface ThreadError {
  name: string;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export function errorOf(e: unknown): ThreadError {
  const x = e as Partial<ThreadError> & Error;
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const out: ThreadError = { name: x.name, message: x.message };
  for (const k of ['code', 'errno', 'syscall', 'path'] as const) {
    if (x[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = x[k];
  }
  return out;
}

/** The error a worker reported, as the main thread would have thrown it: a PmemError stays one, with its code. */
function rethrown(t: ThreadError): Error {
  if (t.name === 'PmemError' && t.code !== undefined) {
    return new PmemError(t.code as PmemErrorCode, t.message, { errno: t.errno, syscall: t.syscall, path: t.path });
  }
  const E = t.name === 'TypeError' ? TypeError : t.name === 'RangeError' ? RangeError : Error;
  const e = new E(t.message) as Error & Partial<ThreadError>;
  for (const k of ['code', 'errno', 'syscall', 'path'] as const) {
    if (t[k] !== undefined) (e as unknown as Record<string, unknown>)[k] = t[k];
  }
  return e;
}

/** The compiled worker: beside this file in dist/, or in dist/ when this file runs as TypeScript. */
function workerPath(): string {
  const beside = path.join(__dirname, 'run-worker.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'sort', 'run-worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error('cannot find run-worker.js; build the package first (bash scripts/setup.sh)');
}

export class RunThread {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #done: Int32Array;
  /** Answers read so far. */
  #answers = 0;
  /** Jobs handed to the worker and not yet answered: it takes them in order, one at a time. */
  #pending = 0;
  /** Threads that appeared while the worker was started: its own, until it stores its id. */
  readonly #started: number[] | null;

  /**
   * Starts a worker that sorts runs in part `part` of `parts` of `whole`
   * (buffers over shared memory), or, without buffers, merges ranges.
   */
  constructor(whole: RunBuffers | null, part: number, parts: number, format: RecordFormat) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const done = new SharedArrayBuffer(8);
    this.#done = new Int32Array(done);
    const data: RunThreadData = {
      input: whole === null ? null : whole.input.buffer as SharedArrayBuffer,
      records: whole === null ? null : whole.records.buffer as SharedArrayBuffer,
      part, parts, format, port: port2, done,
    };
    // A small young generation: the worker makes little garbage, and its
    // heap counts in the process RSS the budget bounds.
    // `new Worker` starts the worker's thread before it returns: the
    // threads that appear across it are the worker's (and rarely another's).
    const before = taskIds();
    this.#worker = new Worker(workerPath(), { workerData: data, transferList: [port2], resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    const after = taskIds();
    this.#started = before === null || after === null ? null : [...after].filter((t) => !before.has(t));
    // A worker that stops emits 'error' on the event loop, once the sort
    // has given it back; `wait` has already thrown for it then.
    this.#worker.on('error', () => {});
    // The sort waits for its workers synchronously: they must not keep the
    // process alive after it, nor be waited for by the event loop.
    this.#worker.unref();
  }

  /** Jobs handed out and not yet answered. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Hands the worker a run split into its part, or a merge range; `wait`
   * gives its answer. A job handed out while the worker holds another
   * waits in its queue, and is answered after it.
   */
  start(job: RunJob | ({ kind: 'range' } & RangeJob) | { kind: 'close' }): void {
    this.#port.postMessage(job);
    this.#pending++;
  }

  /**
   * Blocks until the worker answers the first job it holds, and returns the
   * run file's length (the run is durable), or the length of a merge
   * range's last record (its bytes are written).
   * @throws what sorting or writing the run threw in the worker, as the
   *   same class with the same code
   * @throws PmemError ERR_PMEM_NO_MEMORY when the worker's thread stopped
   *   without answering
   */
  wait(): number {
    for (;;) {
      const a = this.poll();
      if (a !== undefined) return a;
      // Sleeps until the worker's counter passes the answers read, or for
      // LIVENESS_MS: the time only sets how often a silent worker is looked
      // for, never whether its answer is waited for.
      if (Atomics.wait(this.#done, 0, this.#answers, LIVENESS_MS) === 'timed-out' && !this.alive()) {
        // An answer sent just before the thread ended is still in the queue.
        const last = this.poll();
        if (last !== undefined) return last;
        this.#pending = 0;
        throw new PmemError('ERR_PMEM_NO_MEMORY',
          'a sort worker thread stopped without answering (a worker thread stops so when it reaches its heap limit)');
      }
    }
  }

  /**
   * Whether the worker's thread is still there: true while it runs, and
   * whenever /proc cannot tell (the sort then waits as long as it takes).
   */
  alive(): boolean {
    const tid = this.threadId();
    if (tid > 0) return taskAlive(tid);
    if (tid < 0 || this.#started === null || this.#started.length === 0) return true;
    // Not started yet, or stopped before it could say which thread it is.
    return this.#started.some(taskAlive);
  }

  /** The worker's thread id once it has stored it: 0 before, -1 where /proc cannot tell. */
  threadId(): number {
    return Atomics.load(this.#done, 1);
  }

  /** Stops the worker at once: the answer to a job it holds is lost, and `wait` throws. */
  terminate(): void {
    void this.#worker.terminate();
  }

  /** The answer to the first job the worker holds when it has answered (as `wait`), else undefined. */
  poll(): number | undefined {
    const m = receiveMessageOnPort(this.#port);
    if (m === undefined) return undefined;
    this.#answers++;
    this.#pending--;
    const a = m.message as { value?: number; error?: ThreadError };
    if (a.error !== undefined) throw rethrown(a.error);
    return a.value as number;
  }

  /** Waits for the jobs the worker holds, if any, and drops their answers (the caller is already failing). */
  settle(): void {
    while (this.#pending > 0) {
      try {
        this.wait();
      } catch {
        // Already failing: the first error is the one thrown.
      }
    }
  }

  /** Stops the worker, after the job it holds; the runs it mapped are unmapped first. */
  close(): void {
    this.settle();
    try {
      // Unmapped before close returns (terminate is not waited for): the
      // sort removes the run files next, and a file still mapped keeps its space.
      this.start({ kind: 'close' });
      this.wait();
    } catch {
      // A worker that stopped (wait threw) has unmapped everything with its thread.
    }
    this.#port.close();
    void this.#worker.terminate();
  }
}

/**
 * The worker threads of one sort, besides the main thread: started once,
 * for its run formation and its final merge, and stopped when it ends.
 * With run buffers (for run formation), worker i sorts in part i of
 * `threads`, and the main thread in the last part.
 */
export class SortThreads {
  readonly workers: RunThread[] = [];
  readonly buffers: RunBuffers | null;

  constructor(buffers: RunBuffers | null, threads: number, format: RecordFormat) {
    this.buffers = buffers;
    try {
      for (let i = 0; i + 1 < threads; i++) this.workers.push(new RunThread(buffers, i, threads, format));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The threads, the main one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** After an error: waits for every job still held, dropping their answers. */
  settle(): void {
    for (const w of this.workers) w.settle();
  }

  close(): void {
    for (const w of this.workers) w.close();
  }
}
