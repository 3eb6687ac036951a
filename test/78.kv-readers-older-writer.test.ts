// A read-only KVStore beside a writer of an earlier version of pmem. Such a
// writer publishes no tail and counts no frees for readers: a reader beside
// it read records as they were rewritten, and took keys for missing and
// other keys' values for theirs. Its lock is a flock LOCK_EX and nothing
// else; this version's exclusive lockFile also holds a mark beside it
// (native/core/filelock.cc), and a reader that finds the flock without the
// mark refuses to open (lib/kv/follow.ts). The earlier writer is played by
// util-linux's flock(1), which takes that lock and no other, as it did.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

import { binding } from '../lib/core/binding';
import * as heldLock from '../lib/core/held-lock';
import { KVStore } from '../lib/kv/store';
import { expectBuilt, fails, pmem } from './cli-helpers';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

/** A process holding the file's flock LOCK_EX, as a writer of an earlier version did, until killed. */
async function olderWriterLock(file: string): Promise<ChildProcess> {
  const child = spawn('flock', ['--exclusive', '--nonblock', '--no-fork', file, '-c', 'echo locked; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`flock exited (${code}) before it held the lock`)));
    child.stdout!.once('data', () => resolve());
  });
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }
  });
}

/** A store of 100 keys, closed. */
function store(name: string): string {
  const file = tmpFile(name);
  const w = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  for (let i = 0; i < 100; i++) w.put(`k${i}`, `v${i}`);
  w.close();
  return file;
}

describe('a read-only open beside a writer of an earlier version', () => {
  beforeAll(() => expectBuilt(['kv/follow', 'core/held-lock', 'cli/main']));

  test('is refused with ERR_PMEM_LOCKED, naming the earlier writer; once it has gone, the open reads the store', async () => {
    const file = store('older-writer.kv');
    const older = await olderWriterLock(file);
    try {
      expectPmemError(() => KVStore.open(file, { readOnly: true }), 'ERR_PMEM_LOCKED');
      expect(() => KVStore.open(file, { readOnly: true })).toThrow(/is open for writing by an earlier version of pmem, whose writer publishes nothing a reader can follow/);
      // The file is as it was: the refusal wrote nothing.
      expect(fs.statSync(file).size).toBe(1 << 20);
    } finally {
      await stop(older);
    }
    const r = KVStore.open(file, { readOnly: true });
    try {
      expect(r.count).toBe(100);
      expect(r.getString('k42')).toBe('v42');
    } finally {
      r.close();
    }
  });

  test('a writer of this version that closes or dies at the look is not one: its flock outlives its mark for a moment', () => {
    const file = store('older-writer-closing.kv');
    // The flock seen, then no mark: the writer's descriptor was closing
    // (the kernel drops its open file description locks before its flock),
    // or it was killed between the two looks. At the next look the flock is
    // gone too. Refused at once, a reader's get threw ERR_PMEM_LOCKED
    // beside a writer that was killed (test/79).
    const holds = jest.spyOn(heldLock, 'writerHolds').mockReturnValueOnce(true);
    const marked = jest.spyOn(heldLock, 'writerMarked').mockReturnValueOnce(false);
    try {
      const r = KVStore.open(file, { readOnly: true });
      try {
        expect(r.count).toBe(100);
        expect(r.getString('k42')).toBe('v42');
      } finally {
        r.close();
      }
      expect(marked).toHaveBeenCalledTimes(1);
      expect(holds.mock.calls.length).toBeGreaterThanOrEqual(2);
    } finally {
      holds.mockRestore();
      marked.mockRestore();
    }
  });

  test('pmem kv get beside it fails with the same refusal (exit 3), not a misread', async () => {
    const file = store('older-writer-cli.kv');
    const older = await olderWriterLock(file);
    try {
      fails(pmem(['kv', file, 'get', 'k7']), 3, 'earlier version of pmem');
    } finally {
      await stop(older);
    }
    const ok = pmem(['kv', file, 'get', 'k7']);
    expect([ok.code, ok.out]).toEqual([0, ['v7']]);
  });

  test("this version's writer holds the mark, in another process or in the reader's own, and its reader opens beside it", async () => {
    const file = store('marked-writer.kv');
    const w = KVStore.open(file);
    const fd = fs.openSync(file, 'r');
    try {
      expect(binding.writerMarked(fd)).toBe(true);
      const r = KVStore.open(file, { readOnly: true });
      try {
        w.put('k1', 'new');
        expect(r.getString('k1')).toBe('new');
      } finally {
        r.close();
      }
    } finally {
      w.close();
    }
    // Closed, the writer's mark is gone with its descriptor; the flock of
    // an earlier writer is no mark.
    try {
      expect(binding.writerMarked(fd)).toBe(false);
      const older = await olderWriterLock(file);
      try {
        expect(binding.writerMarked(fd)).toBe(false);
      } finally {
        await stop(older);
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  test('writerMarked refuses what is not a descriptor, and a closed one', () => {
    expectThrowName(() => binding.writerMarked('3' as never), 'TypeError');
    expectThrowName(() => binding.writerMarked(-1), 'RangeError');
    expectThrowName(() => binding.writerMarked(1.5), 'RangeError');
    const fd = fs.openSync(tmpFile('marked-closed'), 'w');
    fs.closeSync(fd);
    expectPmemError(() => binding.writerMarked(fd), 'ERR_PMEM_IO');
    expect(() => binding.writerMarked(fd)).toThrow(/of the writer's mark failed/);
  });
});
