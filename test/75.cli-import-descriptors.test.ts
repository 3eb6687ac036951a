// An import that stops on a bad line, called in this process, closes every
// descriptor it opened before it returns: its check pass stops before the
// stream's end, where the stream would close its own. Counted in
// /proc/self/fd, over many failed imports, with no garbage collection between.
import * as fs from 'node:fs';

import { EXIT } from '../lib/cli/exit';
import { importLines, openInput } from '../lib/cli/import';
import { KVStore } from '../lib';
import { tmpFile } from './helpers';

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

/** Descriptors of this process open on `file`. */
function fdsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      /* closed meanwhile (the one readdirSync read through) */
    }
  }
  return n;
}

/** Imports `src` into `store`; the error it fails with. */
const failedImport = (src: string, store: string, input = openInput(src, store)): Promise<unknown> =>
  importLines(input, () => KVStore.open(store, { create: true })).then(() => null, (x: unknown) => x);

const line = (i: number): string => JSON.stringify({ key: `k${i}`, value: 'v'.repeat(100) });

test.each([
  ['a bad first line of a small file', '{"key":\n'],
  ['a bad line after 1000 good ones', Array.from({ length: 1000 }, (_, i) => line(i)).join('\n') + '\nnot json\n'],
  // Past the stream's 1 MiB read: the bad line is in its first chunk, the file goes on.
  ['a bad line near the start of a 3 MiB file', line(0) + '\n[]\n' + Array.from({ length: 30000 }, (_, i) => line(i)).join('\n') + '\n'],
])('%s: the failed import leaves no descriptor open, 50 times over', async (_what, text) => {
  const src = tmpFile('import-fds.jsonl');
  const store = tmpFile('import-fds.kv');
  fs.writeFileSync(src, text);
  // The first import loads what it needs (jest's own descriptors come and go before it).
  expect(await failedImport(src, store)).toMatchObject({ exit: EXIT.USAGE });
  const before = openFds();
  for (let i = 0; i < 50; i++) {
    expect(await failedImport(src, store)).toMatchObject({ exit: EXIT.USAGE, message: expect.stringContaining('nothing was imported') });
  }
  expect(fdsOn(src)).toBe(0);
  // Nothing else left open either: one per import would be dozens; a
  // descriptor the runtime opens for itself meanwhile is not one.
  expect(openFds()).toBeLessThanOrEqual(before + 2);
  expect(fs.existsSync(store)).toBe(false);
  fs.rmSync(src);
});

test('a bad line found while importing (after the check) also leaves no descriptor open', async () => {
  // The file changes between the check and the import: the second pass stops on the bad line.
  const src = tmpFile('import-fds-changed.jsonl');
  const store = tmpFile('import-fds-changed.kv');
  const good = Array.from({ length: 30000 }, (_, i) => line(i)).join('\n') + '\n';
  const bad = line(0) + '\n[]\n' + good.slice(line(0).length + 4);
  const before = openFds();
  for (let i = 0; i < 10; i++) {
    fs.writeFileSync(src, good);
    const input = openInput(src, store);
    const open = input.open.bind(input);
    let calls = 0;
    input.open = (bytes?: number) => {
      if (++calls === 2) fs.writeFileSync(src, bad); // in place, same length
      return open(bytes);
    };
    const e = await failedImport(src, store, input);
    expect(e).toMatchObject({ exit: EXIT.USAGE, message: expect.stringContaining('line 2: not a JSON object; 1 records were imported before it') });
  }
  expect(fdsOn(src)).toBe(0);
  // Nothing else left open either: one per import would be dozens; a
  // descriptor the runtime opens for itself meanwhile is not one.
  expect(openFds()).toBeLessThanOrEqual(before + 2);
  fs.rmSync(src);
  fs.rmSync(store);
});
