// One key range of a parallel final merge (see partition.ts): its part of
// every run merged into its own byte range of the output file, on
// whichever thread was given it.
import { PmemError } from '../core/errors';
import { FileSink, merge, noSpace } from './merge';
import type { Partition } from './partition';
import type { RecordOrder } from './records';
import { DramSource, PmemSource, readWindows, type RunMaps, type RunSource } from './sources';

export interface RangeJob extends Partition {
  /** The runs' files, in the order of `starts` and `ends`. */
  paths: string[];
  /** The output file the ranges are written into. */
  partial: string;
  mergeBuffers: 'pmem' | 'dram';
  /** With PMem merge buffers: whether the runs are read in place (readsInPlace), or through windows cut from the arena (readWindows). */
  inPlace: boolean;
  /** A PMem source's mapping window, or a source's window in its arena. */
  sourceBytes: number;
  sinkBytes: number;
}

/**
 * Merges the range into its bytes of the output file (written, not yet
 * durable: the caller syncs the file before a checkpoint counts them).
 * Returns the length of its last record (0 when it has none). With DRAM
 * merge buffers, the sources' windows are cut from `arena`, the thread's
 * part of the run buffers' input chunk; with PMem merge buffers, the runs
 * are read in place through `maps`, the thread's mappings of them, or with
 * pread through windows cut from `arena` (see readsInPlace).
 * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_CORRUPT (the range's output
 *   is not the size of its records)
 */
export function mergeRange(job: RangeJob, order: RecordOrder, arena: Buffer | null, maps: RunMaps): number {
  if ((job.mergeBuffers === 'dram' || !job.inPlace) && arena === null) throw new Error('a merge range through DRAM windows on a thread without run buffers');
  const sources: RunSource[] = [];
  const sink = new FileSink(job.partial, job.outputOffset, maps.sinkBuffer(job.sinkBytes), false);
  try {
    const { starts, ends } = job;
    let parts = 0;
    for (let i = 0; i < starts.length; i++) if (ends[i] > starts[i]) parts++;
    const windows = job.mergeBuffers === 'dram' ? arena as Buffer
      : job.inPlace ? null : readWindows(arena as Buffer, job.sourceBytes * parts);
    for (let i = 0; i < starts.length; i++) {
      if (ends[i] <= starts[i]) continue;
      // A source whose length is its part's end stops there.
      sources.push(windows === null
        ? new PmemSource(job.paths[i], ends[i], starts[i], order, job.sourceBytes, maps)
        : new DramSource(job.paths[i], ends[i], starts[i], order, windows.subarray(sources.length * job.sourceBytes, (sources.length + 1) * job.sourceBytes)));
    }
    const lastLength = merge(sources, sink, order, { every: Infinity, checkpoint: () => {} });
    sink.flush();
    if (sink.length - job.outputOffset !== job.bytes) {
      throw new PmemError('ERR_PMEM_CORRUPT', `a merge range wrote ${sink.length - job.outputOffset} bytes of its ${job.bytes}`, { path: job.partial });
    }
    return lastLength;
  } catch (e) {
    throw noSpace(e, job.partial);
  } finally {
    for (const s of sources) s.close();
    sink.close();
  }
}
