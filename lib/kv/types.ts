// The public option and result types of the KVStore API (lib/kv/store.ts).
import type { KVData } from './args';

export type { KVData } from './args';

export interface KVOpenOptions {
  /** With `create`: bytes of a new file (default 64 MiB); an existing file keeps its size. */
  size?: number;
  /** Create and format the file if it is missing or empty. */
  create?: boolean;
  /** Refuse every write; take no lock, and follow a writer's log beside it (in any process or thread). */
  readOnly?: boolean;
  /** The file grows online up to this many bytes (default: its size; at most 4 GiB). */
  maxSize?: number;
  /** With `create`: bytes per segment, a power of two from 1 KiB to 64 MiB (default 4 MiB). */
  segmentSize?: number;
}

export interface KVRegionOptions {
  /** Format the region if it holds no store. */
  create?: boolean;
  readOnly?: boolean;
  segmentSize?: number;
}

export type KVBatchOp = { type: 'put'; key: KVData; value: KVData } | { type: 'del'; key: KVData };

export interface KVRangeOptions {
  gt?: KVData;
  gte?: KVData;
  lt?: KVData;
  lte?: KVData;
  /** Only keys that start with these bytes. */
  prefix?: KVData;
  reverse?: boolean;
  limit?: number;
  /** 'utf8' yields keys and values as strings (default 'buffer'). */
  encoding?: 'buffer' | 'utf8';
}

export interface KVRecovery {
  /** Milliseconds the last open's recovery took. */
  ms: number;
  segments: number;
  records: number;
  /** Bytes after the last valid record of each segment that were not all zero. */
  discardedBytes: number;
}

export interface KVStats {
  count: number;
  /** Bytes of current entries (entry header, key, value). */
  liveBytes: number;
  /** Bytes written to used segments that are not live: overwritten and deleted entries, tombstones, headers. */
  deadBytes: number;
  fileBytes: number;
  segmentSize: number;
  segments: { total: number; used: number; free: number };
  /** Bytes of DRAM the index holds: its hash table, and the sorted key array once a range scan built it. */
  indexBytes: number;
  recovery: KVRecovery;
  /** A read-only store opened by path: how it has followed the writer's log. */
  reader?: KVReaderStats;
}

export interface KVReaderStats {
  /** Calls that found the published tail moved and replayed records. */
  catchUps: number;
  /** Records replayed since open. */
  replayed: number;
  /** Reads done again because a segment was freed while they ran. */
  retries: number;
  /** Index rebuilds: the reader fell behind a compaction that freed a segment it had not read yet. */
  resyncs: number;
  /**
   * Index rebuilds done by following the log from its oldest segment,
   * because compaction freed a segment during every full scan.
   */
  followed: number;
  /** Keys removed because compaction freed the segment that held their deletion before the reader read it. */
  dropped: number;
  /** Mappings of the file after the writer grew it. */
  remaps: number;
  /**
   * Calls that took the reader's pin, holding the writer's paced cleaning
   * back, after frees had sent a read (or a round of a catch-up) round
   * again twice (docs/durability.md, "A reader that keeps meeting frees").
   */
  pins: number;
}
