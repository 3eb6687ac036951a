// A reader's pin (lib/kv/pin.ts; docs/durability.md, "A reader that keeps
// meeting frees"). A reader whose read meets a free of the writer's cleaning
// on every attempt would read again without end; after two attempts in vain
// it holds its pin, and the writer's paced cleaning frees nothing until the
// read returns. The writer runs inside the reader's read, so that each
// attempt meets a free as it would beside a writer faster than the reader:
// the order is forced, not timed.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binding } from '../lib/core/binding';
import { openMapping } from '../lib/core/mapping';
import { KvFollower } from '../lib/kv/follow';
import type { KvLog } from '../lib/kv/log';
import { PublishedWords } from '../lib/kv/published';
import { KVStore } from '../lib/kv/store';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

/** A store at its largest (no growth: a write pays for cleaning) of 64 segments of 4 KiB. */
const STORE = { create: true, size: 256 * 1024, maxSize: 256 * 1024, segmentSize: 4096 };
const VALUE = 'v'.repeat(100);
/** The look at the pin, as the writer's cleaning makes it. */
const pinHeldNow = binding.pinHeld.bind(binding);

/** Attempts after which the writer stops freeing inside the read, so that a read that never ends does. */
const ATTEMPTS = 12;
/** Puts an attempt makes at most while it waits for a free or for the writer to put one off. */
const PUTS = 2000;

/** A writer whose overwrites of 200 keys keep its cleaning freeing segments. */
function busyStore(file: string): { w: KVStore; put: () => void } {
  const w = KVStore.open(file, STORE);
  let n = 0;
  const put = (): void => {
    w.put(`k${n % 200}`, `${n}${VALUE}`);
    n++;
  };
  // Past the point where the store is full of dead entries and cleans as it goes.
  for (let i = 0; i < 20000; i++) put();
  return { w, put };
}

interface Run {
  attempts: number;
  /** Attempts during which the writer freed a segment. */
  freed: number;
  /** Attempts during which the writer's cleaning found the pin held and put its free off. */
  putOff: number;
  pins: number;
  retries: number;
  value: unknown;
}

/**
 * One read of a missing key by a reader of `file`, during each attempt of
 * which the writer puts until it frees a segment or puts a free off (up to
 * ATTEMPTS attempts). `pinHeld` is what the writer's look at the pin runs.
 */
function readAgainstFrees(file: string, w: { put: () => void }, pinHeld: (fd: number) => boolean): Run {
  const words = new PublishedWords(openMapping(file, { readOnly: true }).bytes);
  const f = new KvFollower(file, fs.openSync(file, 'r'), openMapping(file, { readOnly: true }));
  const run: Run = { attempts: 0, freed: 0, putOff: 0, pins: 0, retries: 0, value: null };
  const real = binding.pinHeld;
  let putOff = 0;
  binding.pinHeld = (fd: number): boolean => {
    const held = pinHeld(fd);
    if (held) putOff++;
    return held;
  };
  try {
    run.value = f.read((log: KvLog) => {
      run.attempts++;
      if (run.attempts <= ATTEMPTS) {
        const frees = words.frees();
        const before = putOff;
        for (let i = 0; i < PUTS && words.frees() === frees && putOff === before; i++) w.put();
        if (words.frees() !== frees) run.freed++;
        if (putOff !== before) run.putOff++;
      }
      return log.index.get('missing');
    });
  } finally {
    binding.pinHeld = real;
  }
  run.pins = f.stats.pins;
  run.retries = f.stats.retries;
  f.close();
  return run;
}

describe('a reader that meets a free on every attempt', () => {
  test('holds its pin after two attempts in vain, and its read ends', () => {
    const file = tmpFile('pin-ends.kv');
    const { w, put } = busyStore(file);
    const run = readAgainstFrees(file, { put }, pinHeldNow);
    // The first two attempts met a free each; the third ran pinned: the
    // writer put its free off, and the read returned (a miss, as it is).
    expect(run).toEqual({ attempts: 3, freed: 2, putOff: 1, pins: 1, retries: 2, value: undefined });
    // The pin went with the read: the free put off is made by the next writes.
    const fd = fs.openSync(file, 'r');
    try {
      expect(binding.pinHeld(fd)).toBe(false);
    } finally {
      fs.closeSync(fd);
    }
    const words = new PublishedWords(openMapping(file, { readOnly: true }).bytes);
    const frees = words.frees();
    for (let i = 0; i < PUTS && words.frees() === frees; i++) put();
    expect(words.frees()).not.toBe(frees);
    w.close();
    fs.rmSync(file, { force: true });
  });

  test('a writer that frees in spite of the pin sends it round without end (the broken variant)', () => {
    const file = tmpFile('pin-ignored.kv');
    const { w, put } = busyStore(file);
    const run = readAgainstFrees(file, { put }, () => false);
    // Every attempt the writer freed in met a free; only the writer's
    // stopping (after ATTEMPTS) let the read end.
    expect(run.freed).toBe(ATTEMPTS);
    expect(run.attempts).toBe(ATTEMPTS + 1);
    expect(run.pins).toBe(1);
    expect(run.putOff).toBe(0);
    w.close();
    fs.rmSync(file, { force: true });
  });

  test.each([
    ['holds it too', pinHeldNow],
    ['goes round without end beside a writer that frees in spite of it (the broken variant)', (): boolean => false],
  ])('a range whose every round meets a free %s', (_name, pinHeld) => {
    const file = tmpFile('pin-range.kv');
    const { w, put } = busyStore(file);
    const r = KVStore.open(file, { readOnly: true });
    const words = new PublishedWords(openMapping(file, { readOnly: true }).bytes);
    let putOff = 0;
    const real = binding.pinHeld;
    binding.pinHeld = (fd: number): boolean => {
      const held = pinHeld(fd);
      if (held) putOff++;
      return held;
    };
    // The writer runs inside each of the reader's loads of the tail (the
    // catch-up before the copy of the keys, and each round after it while
    // the free count moved), until it frees a segment or puts a free off.
    const proto = PublishedWords.prototype as unknown as { tail: (...a: unknown[]) => unknown };
    const tail = proto.tail;
    const seen = { calls: 0, freed: 0, putOff: 0 };
    proto.tail = function (this: unknown, ...a: unknown[]): unknown {
      if (seen.calls < ATTEMPTS) {
        seen.calls++;
        const frees = words.frees();
        const before = putOff;
        for (let i = 0; i < PUTS && words.frees() === frees && putOff === before; i++) put();
        if (words.frees() !== frees) seen.freed++;
        if (putOff !== before) seen.putOff++;
      }
      return tail.apply(this, a);
    };
    let keys: string[];
    try {
      put();
      keys = [...r.keys({ encoding: 'utf8' })] as string[];
    } finally {
      proto.tail = tail;
      binding.pinHeld = real;
    }
    const stats = r.stats().reader;
    if (pinHeld === pinHeldNow) {
      // The catch-up and the first round met a free each; the second ran
      // pinned, the writer put its free off, and the copy was kept.
      expect(seen).toEqual({ calls: 3, freed: 2, putOff: 1 });
      expect(stats?.pins).toBe(1);
    } else {
      // Only the writer's stopping (after ATTEMPTS) let the range begin.
      expect(seen).toEqual({ calls: ATTEMPTS, freed: ATTEMPTS, putOff: 0 });
    }
    expect(keys).toEqual([...w.keys({ encoding: 'utf8' })]);
    expect(keys.length).toBe(200);
    r.close();
    w.close();
    fs.rmSync(file, { force: true });
  });
});

describe('the pin of a reader that stops, or is killed', () => {
  test('holds back no write: the writer frees at a segment\'s turn; a killed holder\'s pin goes with it', async () => {
    const file = tmpFile('pin-killed.kv');
    const { w, put } = busyStore(file);
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'kv', 'pin-holder.js'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('pinned')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`the pin's holder exited (${code})`)));
      });
      const fd = fs.openSync(file, 'r');
      const words = new PublishedWords(openMapping(file, { readOnly: true }).bytes);
      try {
        expect(binding.pinHeld(fd)).toBe(true);
        // Writes of ten times the store's size all land: with paced frees
        // put off, a write that finds no free segment cleans and frees at once.
        const frees = words.frees();
        for (let i = 0; i < 10 * STORE.size / VALUE.length; i++) put();
        expect(words.frees()).toBeGreaterThan(frees);
        expect(binding.pinHeld(fd)).toBe(true);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        expect(binding.pinHeld(fd)).toBe(false);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      child.kill('SIGKILL');
      w.close();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('the pin\'s calls refuse what is not a descriptor', () => {
  test('a non-number, a negative or fractional number, a number no descriptor has', () => {
    const pin = binding as unknown as { holdPin: (...a: unknown[]) => boolean; pinHeld: (...a: unknown[]) => boolean };
    expectThrowName(() => pin.holdPin('3', true), 'TypeError');
    expectThrowName(() => pin.holdPin(3), 'TypeError');
    expectThrowName(() => pin.pinHeld(), 'TypeError');
    expectThrowName(() => pin.holdPin(-1, true), 'RangeError');
    expectThrowName(() => pin.pinHeld(1.5), 'RangeError');
    expectThrowName(() => pin.pinHeld(2 ** 31), 'RangeError');
    // Above any open-files limit: never open (EBADF).
    const closed = 2 ** 30;
    expectPmemError(() => pin.holdPin(closed, true), 'ERR_PMEM_IO');
    expectPmemError(() => pin.pinHeld(closed), 'ERR_PMEM_IO');
  });
});
