import { openMapping, TxLog, type TxWriter } from '../lib';
import { tmpFile } from './helpers';

const LOG = { offset: 0, size: 4096 };

function setup(name: string) {
  const m = openMapping(tmpFile(name), { size: 16384, create: true });
  return { m, log: TxLog.format(m, LOG) };
}

test('run returns what fn returns, with or without writes, after the commit', () => {
  const { m, log } = setup('tx-result');
  const one: number = log.run((tx) => {
    tx.write(8192, Buffer.from('one!'));
    return 7;
  });
  expect(one).toBe(7);
  const many = log.run((tx) => {
    tx.write(8192, Buffer.from('two!'));
    tx.write(12288, Buffer.from('more'));
    return { moved: 2 };
  });
  expect(many).toEqual({ moved: 2 });
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('two!');
  expect(log.run(() => 'nothing written')).toBe('nothing written');
  expect(log.run((tx: TxWriter) => tx.write(8192, Buffer.from('void')))).toBeUndefined();
  // The value is returned once the writes are committed: a reopen finds them.
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 3 });
  expect(m.buffer.toString('utf8', 8192, 8196)).toBe('void');
  m.close();
});

test('a promise from fn is still refused, and nothing is written', () => {
  const { m, log } = setup('tx-result-promise');
  expect(() => log.run(async (tx) => tx.write(8192, Buffer.from('late')))).toThrow(/synchronous/);
  expect(m.buffer[8192]).toBe(0);
  expect(TxLog.open(m, LOG).recover()).toEqual({ action: 'none', seq: 0 });
  m.close();
});

test('the writes that do not fit are refused with the figure .capacity and the docs give', () => {
  const { m, log } = setup('tx-capacity');
  // docs/api.md: two slots of floor((size - 64) / 2 / 64) * 64 bytes; capacity is a slot less 48.
  const slot = Math.floor((LOG.size - 64) / 2 / 64) * 64;
  expect(log.capacity).toBe(slot - 48);
  // One write of capacity bytes fits; one byte more does not.
  log.run((tx) => tx.write(8192, Buffer.alloc(log.capacity, 1)));
  const message = `a transaction holds at most ${log.capacity} (txlog.capacity)`;
  expect(() => log.run((tx) => tx.write(8192, Buffer.alloc(log.capacity + 1)))).toThrow(
    `the writes need ${log.capacity + 8} bytes of log (payloads padded to 8, and 16 per write after the first); ${message}`,
  );
  // Two writes: the second costs its padded length and 16 more.
  const half = log.capacity / 2;
  expect(() =>
    log.run((tx) => {
      tx.write(8192, Buffer.alloc(half));
      tx.write(12288, Buffer.alloc(half));
    }),
  ).toThrow(`the writes need ${log.capacity + 16} bytes of log`);
  log.run((tx) => {
    tx.write(8192, Buffer.alloc(half - 8));
    tx.write(12288, Buffer.alloc(half - 8));
  });
  expect(() => log.undoUpdate(8192, Buffer.alloc(log.capacity + 1))).toThrow(
    `the update needs ${log.capacity + 8} bytes of log; an update holds at most ${log.capacity} (txlog.capacity)`,
  );
  log.undoUpdate(8192, Buffer.alloc(log.capacity, 2));
  expect(m.buffer[8192 + log.capacity - 1]).toBe(2);
  m.close();
});
