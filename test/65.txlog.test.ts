import { openMapping, TxLog } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

const LOG = { offset: 0, size: 4096 };

function setup(name: string) {
  const m = openMapping(tmpFile(name), { size: 16384, create: true });
  return { m, log: TxLog.format(m, LOG) };
}

test('a redo transaction applies every write, durably', () => {
  const { m, log } = setup('tx');
  log.run((tx) => {
    tx.write(8192, Buffer.from('alpha'));
    tx.write(12000, Buffer.alloc(300, 7));
  });
  expect(m.buffer.toString('utf8', 8192, 8197)).toBe('alpha');
  expect(m.buffer.subarray(12000, 12300).every((x) => x === 7)).toBe(true);
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 1 });
  m.close();
});

test('a throwing function writes nothing and rethrows; a promise is refused', () => {
  const { m, log } = setup('tx-throw');
  expect(() =>
    log.run((tx) => {
      tx.write(8192, Buffer.from('never'));
      throw new Error('changed my mind');
    }),
  ).toThrow('changed my mind');
  expect(m.buffer[8192]).toBe(0);
  expect(() => log.run((async (tx: { write(o: number, d: Uint8Array): void }) => tx.write(8192, Buffer.from('x'))) as never)).toThrow(TypeError);
  expect(m.buffer[8192]).toBe(0);
  let leaked: { write(o: number, d: Uint8Array): void } | undefined;
  log.run((tx) => {
    leaked = tx;
  });
  expect(() => leaked!.write(8192, Buffer.from('late'))).toThrow(/ended/);
  m.close();
});

test('recovery redoes a committed transaction that was not applied', () => {
  const { m, log } = setup('tx-redo');
  log.run((tx) => tx.write(8192, Buffer.from('old!')));
  log.run((tx) => tx.write(8192, Buffer.from('new!')));
  // Roll the data back by hand and mark the commit word committed-not-applied (2·seq).
  m.buffer.write('old!', 8192);
  m.buffer.writeBigUInt64LE(4n, 0);
  expect(TxLog.open(m, LOG) && m.buffer.toString('utf8', 8192, 8196)).toBe('new!');
  expect(m.buffer.readBigUInt64LE(0)).toBe(5n);
  m.close();
});

test('recovery undoes a logged transaction that never committed', () => {
  const { m, log } = setup('tx-undo');
  log.run((tx) => tx.write(8192, Buffer.from('old!')));
  log.run((tx) => tx.write(8192, Buffer.from('new!')));
  m.buffer.writeBigUInt64LE(3n, 0); // the commit word before transaction 2 committed
  const r = TxLog.open(m, LOG);
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('old!');
  r.run((tx) => tx.write(8192, Buffer.from('next')));
  expect(m.buffer.readBigUInt64LE(0)).toBe(7n); // seq 3, resolved
  m.close();
});

test('undoUpdate writes in place; recovery rolls back an uncommitted one', () => {
  const { m, log } = setup('undo');
  log.undoUpdate(8192, Buffer.alloc(200, 1));
  log.undoUpdate(8192, Buffer.alloc(200, 2));
  expect(m.buffer[8391]).toBe(2);
  m.buffer.writeBigUInt64LE(3n, 0); // commit record of update 2 lost
  TxLog.open(m, LOG);
  expect(m.buffer.subarray(8192, 8392).every((x) => x === 1)).toBe(true);
  m.close();
});

test('bad ranges, a full log and a corrupt commit word', () => {
  const { m, log } = setup('tx-bad');
  expect(() => log.run((tx) => tx.write(100, Buffer.from('on the log')))).toThrow(/overlaps/);
  expect(() => log.run((tx) => tx.write(16380, Buffer.alloc(5)))).toThrow(RangeError);
  expect(() => log.run((tx) => tx.write(8192, 'str' as never))).toThrow(TypeError);
  expect(() => log.run((tx) => tx.write(8192, Buffer.alloc(log.capacity)))).toThrow(/log/);
  expect(() => log.undoUpdate(-1, Buffer.alloc(1))).toThrow(RangeError);
  expect(() => log.undoUpdate(8192, Buffer.alloc(log.capacity + 8))).toThrow(/needs \d+ bytes of log/);
  expect(m.buffer[8192]).toBe(0);
  expect(() => log.run(null as never)).toThrow(TypeError);
  expect(() => TxLog.format(m, { offset: 10, size: 4096 })).toThrow(RangeError);
  expect(() => TxLog.format(m, { offset: 0, size: 64 })).toThrow(RangeError);
  expect(() => TxLog.format(m, { offset: 0, size: 1 << 20 })).toThrow(RangeError);
  log.run((tx) => tx.write(8192, Buffer.from('x')));
  m.buffer.writeBigUInt64LE(0n, 0); // commit word far behind the log
  m.buffer.writeBigUInt64LE(5n, 64 + 8); // and a log seq that no longer matches its checksum
  expect(TxLog.open(m, LOG).recover().action).toBe('none');
  m.close();
});

test('a log two transactions ahead of its commit word is ERR_PMEM_CORRUPT', () => {
  const { m, log } = setup('tx-ahead');
  log.run((tx) => tx.write(8192, Buffer.from('a')));
  log.run((tx) => tx.write(8192, Buffer.from('b')));
  log.run((tx) => tx.write(8192, Buffer.from('c')));
  m.buffer.writeBigUInt64LE(3n, 0); // seq 1 resolved, log holds seq 3
  expectPmemError(() => TxLog.open(m, LOG), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('transactions do not nest, and an undo update waits for the running one', () => {
  const { m, log } = setup('tx-nest');
  expect(() => log.run(() => log.run(() => undefined))).toThrow(/do not nest/);
  expect(() => log.run(() => log.undoUpdate(8192, Buffer.from('x')))).toThrow(/running/);
  expect(m.buffer[8192]).toBe(0);
  // The log is usable afterwards, and a write caught inside fn leaves the others.
  log.run((tx) => {
    tx.write(8192, Buffer.from('kept'));
    expect(() => tx.write(8192, Buffer.alloc(log.capacity))).toThrow(/log/);
  });
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('kept');
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 1 });
  m.close();
});
