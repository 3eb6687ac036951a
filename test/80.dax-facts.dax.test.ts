// Runs only inside the DAX guest (npm run test:dax, PMEM_DAX_MOUNT set):
// the facts that a /dev/shm run can never show.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { defaultLocation, openMapping } from '../lib';

const mount = process.env.PMEM_DAX_MOUNT as string;

function smapsFlags(file: string): string[] {
  // /proc/self/smaps: each mapping's header line names the file; its VmFlags
  // line follows. "sf" is a synchronous page fault mapping: MAP_SYNC.
  const lines = fs.readFileSync('/proc/self/smaps', 'utf8').split('\n');
  const at = lines.findIndex((l) => l.endsWith(` ${file}`));
  if (at < 0) throw new Error(`${file} is not mapped`);
  const flags = lines.slice(at + 1).find((l) => l.startsWith('VmFlags:'));
  return (flags ?? '').replace('VmFlags:', '').trim().split(/\s+/);
}

test('the mount is fs-dax', () => {
  const entry = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mount);
  expect(entry).toBeDefined();
  expect(entry!.split(' ')[3].split(',')).toEqual(expect.arrayContaining(['dax=always']));
  expect(defaultLocation({}).dir).toBe(mount);
});

test('libpmem sees pmem without PMEM_IS_PMEM_FORCE, at cache-line granularity, with MAP_SYNC', () => {
  expect(process.env.PMEM_IS_PMEM_FORCE).toBeUndefined();
  const file = path.join(mount, `facts-${process.pid}`);
  const m = openMapping(file, { size: 1 << 20, create: true });
  try {
    expect(m.isPmem).toBe(true);
    expect(m.granularity).toBe('cache-line');
    expect(m.mode).toBe('dax');
    expect(smapsFlags(file)).toContain('sf');
    m.buffer.write('on real DAX', 0);
    m.persist(0, 11);
    m.deepFlush(0, 11);
  } finally {
    m.close();
  }
  const again = openMapping(file);
  expect(again.buffer.toString('utf8', 0, 11)).toBe('on real DAX');
  again.close();
});

const devdax = process.env.PMEM_DEVDAX;
(devdax ? test : test.skip)('a devdax device maps whole with pmem_map_file', () => {
  const m = openMapping(devdax as string);
  expect(m.isPmem).toBe(true);
  expect(m.length).toBeGreaterThan(0);
  m.buffer.writeUInt32LE(0xfeedbeef, 4096);
  m.persist(4096, 4);
  expect(m.buffer.readUInt32LE(4096)).toBe(0xfeedbeef);
  m.close();
});
