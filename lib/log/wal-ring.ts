// Where the write-ahead log's records go in its circular data area, written
// once for every walk over it: appends place records (a single one, and
// each of a batch), and read, truncate and recovery step from record to
// record. A wrong step in one copy of this arithmetic is a record written
// where recovery does not look, so there is only this one.
import { align8 } from '../core/args';
import { MAX_PAYLOAD, RECORD_HEADER } from './wal-record';

/**
 * The ring: `size` bytes from region offset `start`. Positions are ring
 * offsets, multiples of 8, below `size`.
 *
 * A record never crosses the ring's end. One that would is placed at 0, and
 * the bytes it skips are a pad: a pad record when they can hold a header,
 * else a gap that every walk steps over. A record that ends exactly at the
 * end leaves the next position at 0.
 */
export class Ring {
  /** Largest payload one record may carry: half the ring, less a header. */
  readonly maxRecord: number;

  constructor(readonly start: number, readonly size: number) {
    this.maxRecord = Math.min(MAX_PAYLOAD, Math.floor(size / 2) - RECORD_HEADER);
  }

  /** Bytes a record with a `len`-byte payload occupies: header and payload, 8-aligned. */
  static span(len: number): number {
    return align8(RECORD_HEADER + len);
  }

  /** True when `span` bytes from `pos` would cross the ring's end. */
  crosses(pos: number, span: number): boolean {
    return pos + span > this.size;
  }

  /**
   * Places a record of `span` bytes with the tail at `pos`: returns the pad,
   * the bytes skipped at the ring's end before it goes at 0, or 0 when it
   * goes at `pos`.
   */
  padBefore(pos: number, span: number): number {
    return this.crosses(pos, span) ? this.size - pos : 0;
  }

  /** The position `bytes` after `pos`: 0 when they end exactly at the ring's end. */
  next(pos: number, bytes: number): number {
    const n = pos + bytes;
    return n === this.size ? 0 : n;
  }

  /** Bytes from `pos` to the ring's end when they are too few for a record header (a gap), else 0. */
  gap(pos: number): number {
    const room = this.size - pos;
    return room < RECORD_HEADER ? room : 0;
  }

  /** Bytes the record at `pos` occupies: a pad runs to the ring's end. */
  extent(pos: number, isPad: boolean, len: number): number {
    return isPad ? this.size - pos : Ring.span(len);
  }
}
