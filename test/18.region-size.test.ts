// A structure on a Region writes through the Region's bytes as one Buffer,
// so a Mapping over 4 GiB holds none: each says so at format or open, with
// advice a caller can follow (not "use view()", which no structure takes).
import * as fs from 'node:fs';

import { AppendList, KVStore, openMapping, SharedAppendList, Superblock, TxLog, Wal } from '../lib';
import { tmpFile } from './helpers';

const FIVE_GIB = 5 * 2 ** 30;
const MESSAGE = `a ${FIVE_GIB}-byte mapping is larger than a structure's Region can be (4 GiB, one Buffer): give each structure a file of its own, or a mapping of at most 4 GiB`;

test('every structure refuses a Mapping over 4 GiB at format and open, with what to do instead', () => {
  const file = tmpFile('five-gib');
  // Sparse: the file takes no memory; nothing is written to it.
  const m = openMapping(file, { size: FIVE_GIB, create: true, sparse: true });
  try {
    expect(m.view(FIVE_GIB - 16, 16).length).toBe(16); // views still work
    for (const open of [
      () => Superblock.format(m, { offset: 0, capacity: 64 }),
      () => Superblock.open(m, { offset: 0, capacity: 64 }),
      () => AppendList.format(m, 0),
      () => SharedAppendList.format(m, 0),
      () => TxLog.format(m, { offset: 0, size: 4096 }),
      () => Wal.format(m, { offset: 0 }),
      () => Wal.open(m),
      () => KVStore.openRegion(m, { create: true }),
    ]) {
      expect(open).toThrow(new RangeError(MESSAGE));
    }
    expect(fs.statSync(file).blocks).toBe(0);
  } finally {
    m.close();
    fs.rmSync(file, { force: true });
  }
});
