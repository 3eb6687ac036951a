// Flushes that do nothing, counted the way pmemcheck counts them: a flush
// of a line that holds what it held when it was last written back (nothing
// was stored to it since) is wasted. And fences: a TxLog run has one.
// Counted through a Region that keeps, per line, the bytes of its last
// write-back; it has no sealRecord, so records are sealed in the generic
// form, which flushes every line of a record.
import { type Region, TxLog, Wal } from '../lib';

const LINE = 64;

class CountingRegion implements Region {
  readonly bytes: Buffer;
  readonly length: number;
  readonly granularity = 'cache-line' as const;
  /** Each line's bytes as last written back. */
  readonly #clean: Buffer;
  lineFlushes = 0;
  wasted = 0;
  drains = 0;
  /** Lines flushed, in order, since the counts were last reset. */
  lines: number[] = [];

  constructor(size: number) {
    this.bytes = Buffer.alloc(size);
    this.#clean = Buffer.alloc(size);
    this.length = size;
  }

  flush(offset: number, length: number): void {
    if (length === 0) return;
    for (let line = Math.floor(offset / LINE); line < Math.ceil((offset + length) / LINE); line++) {
      const at = line * LINE;
      this.lineFlushes++;
      this.lines.push(line);
      if (this.bytes.compare(this.#clean, at, at + LINE, at, at + LINE) === 0) this.wasted++;
      else this.bytes.copy(this.#clean, at, at, at + LINE);
    }
  }

  drain(): void {
    this.drains++;
  }

  persist(offset: number, length: number): void {
    this.flush(offset, length);
    this.drain();
  }

  reset(): void {
    this.lineFlushes = 0;
    this.wasted = 0;
    this.drains = 0;
    this.lines = [];
  }
}

const linesOf = (ranges: Array<[number, number]>): Set<number> => {
  const s = new Set<number>();
  for (const [off, len] of ranges) for (let l = Math.floor(off / LINE); l < Math.ceil((off + len) / LINE); l++) s.add(l);
  return s;
};

describe('TxLog.run', () => {
  // Two targets share a line, one spans three lines, one crosses a line boundary.
  const TARGETS: Array<[number, number]> = [
    [8192, 8],
    [8200, 16],
    [8400, 150],
    [9080, 40],
  ];

  test('one fence per run; each line of the record and of the targets flushed once; none wasted', () => {
    const r = new CountingRegion(16384);
    const log = TxLog.format(r, { offset: 0, size: 8192 });
    for (let round = 1; round <= 4; round++) {
      r.reset();
      log.run((tx) => TARGETS.forEach(([off, len], i) => tx.write(off, Buffer.alloc(len, round * 16 + i))));
      expect(r.drains).toBe(1);
      expect(r.wasted).toBe(0);
      // The record: a 32-byte header and, per target, 16 bytes and the new bytes padded to 8.
      const record = 32 + TARGETS.reduce((n, [, len]) => n + 16 + Math.ceil(len / 8) * 8, 0);
      const targetLines = linesOf(TARGETS).size;
      expect(r.lineFlushes).toBe(Math.ceil(record / LINE) + targetLines);
      expect(new Set(r.lines).size).toBe(r.lines.length);
    }
  });

  test('a checkpoint is one fence and one line; a second one nothing', () => {
    const r = new CountingRegion(16384);
    const log = TxLog.format(r, { offset: 0, size: 8192 });
    log.run((tx) => tx.write(8192, Buffer.alloc(8, 1)));
    r.reset();
    log.checkpoint();
    expect([r.drains, r.lineFlushes, r.wasted]).toEqual([1, 1, 0]);
    log.checkpoint();
    expect([r.drains, r.lineFlushes]).toEqual([1, 1]);
  });
});

describe('Wal', () => {
  // Bytes that differ from those of every other record at every position:
  // a line stored with the bytes it already held would count as not stored.
  const record = (i: number, len: number): Buffer => Buffer.from(Array.from({ length: len }, (_, k) => (i * 131 + k * 17 + Math.floor(k / 256)) % 256));

  test('batches mixing records sealed alone (>= 2 KiB) with short ones, wrapping with pad records: no flush wasted', () => {
    const r = new CountingRegion(64 * 1024);
    const wal = Wal.format(r);
    // Lengths not multiples of 8, so records end inside lines and are padded.
    const shapes = [
      [100, 3001, 3003, 101, 2500],
      [2049, 2051],
      [57, 2900, 13, 13, 13, 4099],
    ];
    let wasted = 0;
    let pads = 0;
    for (let round = 0; round < 60; round++) {
      const lens = shapes[round % shapes.length];
      const bytes = lens.reduce((n, len) => n + Math.ceil((32 + len) / 8) * 8, 0);
      const { used, dataSize } = wal.stats;
      if (used + bytes + 4096 > dataSize) wal.checkpoint();
      const before = wal.nextLsn;
      r.reset();
      wal.appendBatch(lens.map((len, i) => record(round * 10 + i, len)));
      expect(r.drains).toBe(1);
      wasted += r.wasted;
      const after = [...wal.read(before)];
      expect(after.map((x) => x.data.length)).toEqual(lens);
      if (wal.stats.used - used > bytes) pads++;
    }
    expect(pads).toBeGreaterThan(0); // the batches wrapped over pad records
    expect(wasted).toBe(0);
  });

  test('single appends wrapping with pad records: no flush wasted', () => {
    const r = new CountingRegion(32 * 1024);
    const wal = Wal.format(r);
    let wasted = 0;
    for (let i = 0; i < 200; i++) {
      if (wal.stats.used + 4096 > wal.stats.dataSize) wal.checkpoint();
      r.reset();
      wal.append(record(i, [700, 2500, 33][i % 3]));
      expect(r.drains).toBe(1);
      wasted += r.wasted;
    }
    expect(wasted).toBe(0);
  });
});
