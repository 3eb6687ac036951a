import { daxMounts, defaultLocation } from '../lib';

const mounts = [
  'proc /proc proc rw,nosuid 0 0',
  'tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0',
  '/dev/pmem0 /mnt/pmem\\040one ext4 rw,relatime,dax=always 0 0',
  '/dev/pmem1 /mnt/pmem1 xfs rw,dax 0 0',
].join('\n');

test('PMEM_DIR comes first', () => {
  expect(defaultLocation({ PMEM_DIR: '/data/pm' }, mounts)).toEqual({ dir: '/data/pm', source: 'PMEM_DIR', emulated: false });
});

test('then the first fs-dax mount, unescaped', () => {
  expect(daxMounts(mounts)).toEqual(['/mnt/pmem one', '/mnt/pmem1']);
  expect(defaultLocation({}, mounts)).toEqual({ dir: '/mnt/pmem one', source: 'dax-mount', emulated: false });
});

test('then /dev/shm/pmem, marked emulated', () => {
  expect(defaultLocation({}, 'tmpfs /dev/shm tmpfs rw 0 0\n')).toEqual({ dir: '/dev/shm/pmem', source: 'emulated', emulated: true });
});
