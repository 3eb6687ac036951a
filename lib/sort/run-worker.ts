// A worker thread of a parallel sort (see run-thread.ts): sorts and writes
// the runs the main thread read and split into this thread's part of the
// shared run buffers, or merges key ranges of the final merge, one job at
// a time, and answers each with its result or the error that stopped it;
// a 'close' job unmaps the runs its ranges read.
import * as fs from 'node:fs';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

import { mergeRange, type RangeJob } from './range-merge';
import { RecordOrder, type RecordFormat } from './records';
import { RunBuffers, sortRun, type SplitRun } from './runs';
import { RunMaps } from './sources';
import { errorOf, type RunJob, type RunThreadData } from './run-thread';

/** This thread's id ("<pid>/task/<tid>"), or -1 where /proc cannot tell it. */
function threadId(): number {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : -1;
  } catch {
    return -1;
  }
}

function serve(data: RunThreadData): void {
  // First: the main thread looks for this thread by its id while it waits.
  Atomics.store(new Int32Array(data.done), 1, threadId());
  const bufs = data.input === null || data.records === null ? null
    : new RunBuffers(Buffer.from(data.input), new Uint32Array(data.records)).part(data.part, data.parts);
  const order = new RecordOrder(data.format as RecordFormat);
  /** The runs this thread's merge ranges read, each mapped once until the 'close' job. */
  const maps = new RunMaps();
  const port: MessagePort = data.port;
  const done = new Int32Array(data.done);
  const answer = (message: unknown): void => {
    port.postMessage(message);
    // The answer is in the port's queue before the main thread, woken
    // here, reads it (receiveMessageOnPort).
    Atomics.add(done, 0, 1);
    Atomics.notify(done, 0);
  };
  process.on('uncaughtException', (e) => answer({ error: errorOf(e) }));
  port.on('message', (job: RunJob | ({ kind: 'range' } & RangeJob) | { kind: 'close' }) => {
    try {
      if (job.kind === 'close') {
        maps.close();
        answer({ value: 0 });
        return;
      }
      if (job.kind === 'range') {
        answer({ value: mergeRange(job, order, bufs === null ? null : bufs.input, maps) });
        return;
      }
      if (bufs === null) throw new Error('a run for a thread without run buffers');
      const split: SplitRun = { consumed: job.consumed, records: job.records };
      answer({ value: sortRun(split, job.offset, bufs, order, job.runPath) });
    } catch (e) {
      answer({ error: errorOf(e) });
    }
  });
}

if (parentPort !== null) serve(workerData as RunThreadData);
