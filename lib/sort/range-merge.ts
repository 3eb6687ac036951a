// One key range of a parallel final merge (see partition.ts): its part of
// every run merged into its own byte range of the output file, on
// whichever thread was given it.
import { PmemError } from '../core/errors';
import { FileSink, merge, noSpace } from './merge';
import type { Partition } from './partition';
import type { RecordOrder } from './records';
import { DramSource, PmemSource, type RunMaps, type RunSource } from './sources';

export interface RangeJob extends Partition {
  /** The output file the ranges are written into. */
  partial: string;
  mergeBuffers: 'pmem' | 'dram';
  /** With PMem merge buffers: whether the runs are read in place (readsInPlace), or through windows (RunMaps.windows). */
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
 * are read in place through `maps`, the thread's mappings of them, or
 * through windows `maps` keeps for the thread (see readsInPlace).
 * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_CORRUPT (the range's output
 *   is not the size of its records)
 */
export function mergeRange(job: RangeJob, order: RecordOrder, arena: Buffer | null, maps: RunMaps): number {
  if (job.mergeBuffers === 'dram' && arena === null) throw new Error('a DRAM merge range on a thread without run buffers');
  const sources: RunSource[] = [];
  const sink = new FileSink(job.partial, job.outputOffset, job.sinkBytes, false);
  try {
    const windows = job.mergeBuffers === 'dram' ? arena as Buffer
      : job.inPlace ? null : maps.windows(job.sourceBytes * job.spans.filter((s) => s.end > s.start).length);
    for (const s of job.spans) {
      if (s.end <= s.start) continue;
      // A source whose length is the span's end stops there.
      sources.push(windows === null
        ? new PmemSource(s.path, s.end, s.start, order, job.sourceBytes, maps)
        : new DramSource(s.path, s.end, s.start, order, windows.subarray(sources.length * job.sourceBytes, (sources.length + 1) * job.sourceBytes)));
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
