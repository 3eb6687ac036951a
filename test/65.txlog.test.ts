import { crc32c, openMapping, TxLog } from '../lib';
import { HeaderWriter, MODE_REDO, TX_LOG_HEADER } from '../lib/log/txlog-format';
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

// A 4096-byte log: the retire line, then two slots of 1984 bytes.
const SLOT1 = 64 + 1984;

test('recovery redoes the committed transactions that were not retired, in order, and retires them', () => {
  const { m, log } = setup('tx-redo');
  log.run((tx) => tx.write(8192, Buffer.from('old!')));
  log.run((tx) => {
    tx.write(8192, Buffer.from('new!'));
    tx.write(8200, Buffer.from('more'));
  });
  expect(m.buffer.readBigUInt64LE(0)).toBe(0n); // the retire is lazy
  // Lose the in-place writes by hand, as a crash before the next fence could.
  m.buffer.fill(0, 8192, 8204);
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 2 }); // open redid both and retired them
  expect(m.buffer.toString('utf8', 8192, 8204)).toBe('new!\0\0\0\0more');
  expect(m.buffer.readBigUInt64LE(0)).toBe(2n);
  m.close();
});

test('a record that fails its checksum is ignored: the run before it is redone', () => {
  const { m, log } = setup('tx-torn');
  log.run((tx) => tx.write(8192, Buffer.from('old!'))); // seq 1, slot 1
  log.run((tx) => tx.write(8192, Buffer.from('new!'))); // seq 2, slot 0
  m.buffer[64 + 32 + 16] ^= 1; // a byte of seq 2's entry: as if the crash came before its commit fence
  m.buffer.write('????', 8192);
  const r = TxLog.open(m, LOG);
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('old!');
  expect(m.buffer.readBigUInt64LE(0)).toBe(1n);
  r.run((tx) => tx.write(8192, Buffer.from('next'))); // seq 2 again
  expect(r.recover()).toEqual({ action: 'redo', seq: 2 });
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('next');
  m.close();
});

test('checkpoint retires the log: recovery then leaves direct writes alone', () => {
  const { m, log } = setup('tx-checkpoint');
  log.run((tx) => tx.write(8192, Buffer.from('txn!')));
  log.checkpoint();
  expect(m.buffer.readBigUInt64LE(0)).toBe(1n);
  log.checkpoint(); // nothing since: no fence, nothing written
  m.buffer.write('mine', 8192);
  m.persist(8192, 4);
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 1 });
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('mine');
  expect(() => log.run(() => log.checkpoint())).toThrow(/running/);
  m.close();
});

test('undoUpdate writes in place and retires; recovery rolls back one that was not retired', () => {
  const { m, log } = setup('undo');
  log.undoUpdate(8192, Buffer.alloc(200, 1));
  log.undoUpdate(8192, Buffer.alloc(200, 2));
  expect(m.buffer[8391]).toBe(2);
  expect(m.buffer.readBigUInt64LE(0)).toBe(2n);
  m.buffer.writeBigUInt64LE(1n, 0); // the retire of update 2 lost
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 2 });
  expect(m.buffer.subarray(8192, 8392).every((x) => x === 1)).toBe(true);
  m.close();
});

test('bad ranges, a full log and a corrupt commit word', () => {
  const { m, log } = setup('tx-bad');
  expect(() => log.run((tx) => tx.write(100, Buffer.from('on the log')))).toThrow(/overlaps/);
  expect(() => log.run((tx) => tx.write(16380, Buffer.alloc(5)))).toThrow(RangeError);
  expect(() => log.run((tx) => tx.write(8192, 'str' as never))).toThrow(TypeError);
  expect(() => log.run((tx) => tx.write(8192, Buffer.alloc(log.capacity + 1)))).toThrow(/a transaction holds at most 1936 \(txlog\.capacity\)/);
  expect(() => log.undoUpdate(-1, Buffer.alloc(1))).toThrow(RangeError);
  expect(() => log.undoUpdate(8192, Buffer.alloc(log.capacity + 8))).toThrow(/needs \d+ bytes of log/);
  expect(m.buffer[8192]).toBe(0);
  expect(() => log.run(null as never)).toThrow(TypeError);
  expect(() => TxLog.format(m, { offset: 10, size: 4096 })).toThrow(RangeError);
  expect(() => TxLog.format(m, { offset: 0, size: 64 })).toThrow(RangeError);
  expect(() => TxLog.format(m, { offset: 0, size: 1 << 20 })).toThrow(RangeError);
  log.run((tx) => tx.write(8192, Buffer.from('x'))); // seq 1, slot 1
  m.buffer.writeBigUInt64LE(3n, SLOT1 + 8); // a sequence number that no longer matches the checksum
  const again = TxLog.open(m, LOG);
  expect(again.recover()).toEqual({ action: 'none', seq: 0 });
  again.run((tx) => tx.write(8192, Buffer.from('y'))); // seq 1 again, slot 1
  m.buffer.writeBigUInt64LE(2n, SLOT1 + 8); // a whole record in the wrong slot is none either
  m.buffer.writeUInt32LE(crc32c(m.buffer, SLOT1 + 4, 28 + 24), SLOT1);
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 0 });
  m.close();
});

test('a region without the log, and an undo update not retired before a later record, are ERR_PMEM_CORRUPT', () => {
  const m = openMapping(tmpFile('tx-corrupt'), { size: 16384, create: true });
  expectPmemError(() => TxLog.open(m, LOG), 'ERR_PMEM_CORRUPT');
  const log = TxLog.format(m, LOG);
  log.undoUpdate(8192, Buffer.from('a')); // seq 1, retired
  log.run((tx) => tx.write(8192, Buffer.from('b'))); // seq 2
  m.buffer.writeBigUInt64LE(0n, 0);
  expectPmemError(() => TxLog.open(m, LOG), 'ERR_PMEM_CORRUPT');
  m.buffer.writeUInt32LE(1, 12); // the previous layout's version
  m.buffer.writeBigUInt64LE(2n, 0);
  expectPmemError(() => TxLog.open(m, LOG), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('a log opened with another size than it was formatted with is ERR_PMEM_CORRUPT, and left as it was', () => {
  const m = openMapping(tmpFile('tx-size'), { size: 16384, create: true });
  const log = TxLog.format(m, LOG);
  log.run((tx) => tx.write(8192, Buffer.from('committed'))); // seq 1, in slot 1 at 64 + 1984
  m.buffer.fill(0, 8192, 8201); // as if the in-place write had not reached the media
  m.buffer.fill(0xee, 4096, 8192); // the caller's bytes after the log
  const before = Buffer.from(m.buffer);
  for (const size of [8192, 2048]) {
    expectPmemError(() => TxLog.open(m, { offset: 0, size }), 'ERR_PMEM_CORRUPT');
    expect(Buffer.compare(m.buffer, before)).toBe(0);
  }
  // The size it was formatted with redoes the run.
  expect(TxLog.open(m, LOG).recover().seq).toBe(1);
  expect(m.buffer.toString('utf8', 8192, 8201)).toBe('committed');
  // A log formatted before the size was recorded (zero there) opens with the size given.
  m.buffer.writeBigUInt64LE(0n, 16);
  expect(TxLog.open(m, LOG).capacity).toBe(log.capacity);
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

test('record and entry headers hold the low and high words of values past 2^32, on aligned and unaligned bytes', () => {
  // Unaligned bytes take writeUInt32LE, aligned ones u32 stores: the same bytes.
  const aligned = Buffer.alloc(64);
  const unaligned = Buffer.alloc(65).subarray(1);
  const seq = 2 ** 33 + 3;
  const offset = 2 ** 40 + 12345;
  const n = 2 ** 32 + 16;
  for (const b of [aligned, unaligned]) {
    const h = new HeaderWriter();
    h.record(b, 0, seq, MODE_REDO, 2, n);
    h.entry(b, TX_LOG_HEADER, offset, 300);
    expect(b.readUInt32LE(4)).toBe(2); // count
    expect(b.readBigUInt64LE(8)).toBe(BigInt(seq));
    expect(b.readBigUInt64LE(16)).toBe(BigInt(n));
    expect(b.readUInt32LE(24)).toBe(MODE_REDO);
    expect(b.readBigUInt64LE(TX_LOG_HEADER)).toBe(BigInt(offset));
    expect(b.readUInt32LE(TX_LOG_HEADER + 8)).toBe(300);
  }
  expect(unaligned.equals(aligned)).toBe(true);
});
