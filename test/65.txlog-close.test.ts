// TxLog.close(): what it refuses afterwards, what it leaves on the media
// (the retire, durable), and what it leaves alone (the caller's region).
import { openMapping, type Region, TxLog } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectPmemError, tmpFile } from './helpers';

const LOG = { offset: 0, size: 4096 };

/** A Region over `inner` that counts its fences. */
function counting(inner: Region): Region & { drains: number } {
  const r = {
    drains: 0,
    get bytes() {
      return inner.bytes;
    },
    length: inner.length,
    granularity: inner.granularity,
    flush: (offset: number, length: number) => inner.flush(offset, length),
    drain: () => {
      r.drains++;
      inner.drain();
    },
    persist: (offset: number, length: number) => {
      inner.flush(offset, length);
      r.drain();
    },
  };
  return r;
}

test('after close every method throws ERR_PMEM_CLOSED; closing twice does nothing; the region stays open', () => {
  const m = openMapping(tmpFile('txc-closed'), { size: 16384, create: true });
  const log = TxLog.format(m, LOG);
  let leaked: { write(o: number, d: Uint8Array): void } | undefined;
  log.run((tx) => {
    leaked = tx;
    tx.write(8192, Buffer.from('kept'));
  });
  expect(log.closed).toBe(false);
  log.close();
  expect(log.closed).toBe(true);
  log.close();
  log[Symbol.dispose]();
  expectPmemError(() => log.run((tx) => tx.write(8192, Buffer.from('x'))), 'ERR_PMEM_CLOSED');
  expectPmemError(() => log.run(() => 1), 'ERR_PMEM_CLOSED');
  expectPmemError(() => log.undoUpdate(8192, Buffer.from('x')), 'ERR_PMEM_CLOSED');
  expectPmemError(() => log.checkpoint(), 'ERR_PMEM_CLOSED');
  expectPmemError(() => log.recover(), 'ERR_PMEM_CLOSED');
  expectPmemError(() => log.capacity, 'ERR_PMEM_CLOSED');
  expect(() => log.run(null as never)).toThrow(/transaction log is closed/);
  expect(() => leaked!.write(8192, Buffer.from('late'))).toThrow(/ended/);
  // Nothing was written by the refused calls, and the mapping is the caller's.
  expect(m.closed).toBe(false);
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('kept');
  m.buffer.write('mine', 12288);
  m.persist(12288, 4);
  m.close();
});

test('close inside a transaction\'s function is refused, and the log stays open', () => {
  const m = openMapping(tmpFile('txc-inside'), { size: 16384, create: true });
  const log = TxLog.format(m, LOG);
  expect(() => log.run((tx) => {
    tx.write(8192, Buffer.from('never'));
    log.close();
  })).toThrow(/running/);
  expect(log.closed).toBe(false);
  expect(m.buffer[8192]).toBe(0);
  log.run((tx) => tx.write(8192, Buffer.from('then')));
  log.close();
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('then');
  m.close();
});

test('a region closed first: close() writes nothing and does not throw; the log is closed', () => {
  const m = openMapping(tmpFile('txc-region-first'), { size: 16384, create: true });
  const log = TxLog.format(m, LOG);
  log.run((tx) => tx.write(8192, Buffer.from('run')));
  m.close();
  log.close();
  expect(log.closed).toBe(true);
  expectPmemError(() => log.checkpoint(), 'ERR_PMEM_CLOSED');
});

test('close retires the log durably: a reopen sees every committed transaction and has nothing to redo, read-only too', () => {
  const file = tmpFile('txc-reopen');
  let m = openMapping(file, { size: 16384, create: true });
  const log = TxLog.format(m, LOG);
  log.run((tx) => tx.write(8192, Buffer.from('one')));
  log.undoUpdate(9000, Buffer.from('two'));
  log.run((tx) => {
    tx.write(10000, Buffer.from('three'));
    tx.write(12000, Buffer.from('four'));
  });
  log.run((tx) => tx.write(8192, Buffer.from('ONE')));
  expect(m.buffer.readBigUInt64LE(0)).toBe(2n); // lazy: the undo update's retire, not the runs after it
  log.close();
  expect(m.buffer.readBigUInt64LE(0)).toBe(4n);
  m.close();
  // Without close() a read-only open of this log would have to redo runs 3
  // and 4, and would refuse with ERR_PMEM_READONLY.
  const ro = openMapping(file, { readOnly: true });
  const again = TxLog.open(ro, LOG);
  expect(again.recover()).toEqual({ action: 'none', seq: 4 });
  expect(ro.buffer.toString('utf8', 8192, 8195)).toBe('ONE');
  expect(ro.buffer.toString('utf8', 9000, 9003)).toBe('two');
  expect(ro.buffer.toString('utf8', 10000, 10005)).toBe('three');
  expect(ro.buffer.toString('utf8', 12000, 12004)).toBe('four');
  again.close(); // nothing to write on a read-only region
  ro.close();
  m = openMapping(file);
  const w = TxLog.open(m, LOG);
  w.run((tx) => tx.write(8192, Buffer.from('five'))); // seq 5 goes on from the retired 4
  expect(w.recover()).toEqual({ action: 'redo', seq: 5 });
  w.close();
  m.close();
});

test('the control: without close a run is left unretired, and a read-only open refuses it', () => {
  const file = tmpFile('txc-control');
  const m = openMapping(file, { size: 16384, create: true });
  TxLog.format(m, LOG).run((tx) => tx.write(8192, Buffer.from('one')));
  m.close();
  const ro = openMapping(file, { readOnly: true });
  expectPmemError(() => TxLog.open(ro, LOG), 'ERR_PMEM_READONLY');
  ro.close();
});

test('on the crash simulator, close leaves nothing dirty and the retire on the media', () => {
  for (const mode of ['adr', 'page'] as const) {
    const sim = new CrashSim(16384, { mode });
    const log = TxLog.format(sim, LOG);
    log.run((tx) => tx.write(8192, Buffer.alloc(100, 1)));
    log.run((tx) => {
      tx.write(8192, Buffer.alloc(50, 2));
      tx.write(12000, Buffer.alloc(300, 3));
    });
    expect(sim.persisted().readBigUInt64LE(0)).toBe(0n);
    log.close();
    expect([mode, sim.dirtyUnits()]).toEqual([mode, 0]);
    const image = sim.persisted();
    expect(image.readBigUInt64LE(0)).toBe(2n);
    expect(image.subarray(8192, 8242).every((x) => x === 2)).toBe(true);
    expect(image.subarray(8242, 8292).every((x) => x === 1)).toBe(true);
    expect(image.subarray(12000, 12300).every((x) => x === 3)).toBe(true);
  }
});

test('close costs two fences after a run, one after a checkpoint, none when retired', () => {
  const sim = new CrashSim(16384);
  const r = counting(sim);
  const cases: Array<[string, (log: TxLog) => void, number]> = [
    ['a run', (log) => log.run((tx) => tx.write(8192, Buffer.from('x'))), 2],
    ['a run and a checkpoint', (log) => {
      log.run((tx) => tx.write(8192, Buffer.from('y')));
      log.checkpoint();
    }, 1],
    ['an undo update (retired durably)', (log) => log.undoUpdate(8192, Buffer.from('z')), 0],
    ['nothing', () => undefined, 0],
  ];
  for (const [what, before, fences] of cases) {
    const log = TxLog.format(r, LOG);
    before(log);
    r.drains = 0;
    log.close();
    expect([what, r.drains]).toEqual([what, fences]);
    expect(sim.dirtyUnits()).toBe(0);
  }
});
