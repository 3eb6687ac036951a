// pmem kv import from a regular file that another process changes between
// the check of every line and the import: what is imported is what was
// checked, from the descriptor the check read, up to the length it read.
// The change is made between the two passes, through the Input's open().
import * as fs from 'node:fs';

import { importLines, openInput, type Input } from '../lib/cli/import';
import { KVStore } from '../lib';
import { tmpFile } from './helpers';

function jsonl(keys: string[]): string {
  return keys.map((k) => JSON.stringify({ key: k, value: `v-${k}` })).join('\n') + '\n';
}

/** `input`, with `change` run when its second pass (the import) opens it. */
function changedBeforeImport(input: Input, change: () => void): Input {
  const open = input.open.bind(input);
  let calls = 0;
  return {
    ...input,
    open: (bytes?: number) => {
      if (++calls === 2) change();
      return open(bytes);
    },
  };
}

/** The descriptors of this process open on `file`. */
function descriptorsOn(file: string): number {
  const real = fs.realpathSync(file);
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === real;
    } catch {
      return false; // closed meanwhile (readdir's own)
    }
  }).length;
}

function keysOf(file: string): string[] {
  const s = KVStore.open(file, { readOnly: true });
  try {
    return [...s.keys({ encoding: 'utf8' })] as string[];
  } finally {
    s.close();
  }
}

test('lines appended after the check, a bad one among them, are not imported: the lines checked are, and the import succeeds', async () => {
  const src = tmpFile('import-appended.jsonl');
  const store = tmpFile('import-appended.kv');
  fs.writeFileSync(src, jsonl(['a', 'b']));
  const input = changedBeforeImport(openInput(src, store), () => fs.appendFileSync(src, jsonl(['c']) + '{"key":"d","val'));
  await expect(importLines(input, () => KVStore.open(store, { create: true }))).resolves.toBe(2);
  expect(keysOf(store)).toEqual(['a', 'b']);
});

test('a file renamed over the path after the check is not imported: the file checked is', async () => {
  const src = tmpFile('import-replaced.jsonl');
  const other = tmpFile('import-replaced.other');
  const store = tmpFile('import-replaced.kv');
  fs.writeFileSync(src, jsonl(['a', 'b', 'c']));
  fs.writeFileSync(other, 'not json\n');
  const input = changedBeforeImport(openInput(src, store), () => fs.renameSync(other, src));
  await expect(importLines(input, () => KVStore.open(store, { create: true }))).resolves.toBe(3);
  expect(keysOf(store)).toEqual(['a', 'b', 'c']);
});

test('an empty file imports nothing and makes an empty store; the input\'s descriptors are closed after the import', async () => {
  const src = tmpFile('import-empty.jsonl');
  const store = tmpFile('import-empty.kv');
  fs.writeFileSync(src, '');
  const input = openInput(src, store);
  // One for each pass.
  expect(descriptorsOn(src)).toBe(2);
  await expect(importLines(input, () => KVStore.open(store, { create: true }))).resolves.toBe(0);
  expect(descriptorsOn(src)).toBe(0);
  expect(keysOf(store)).toEqual([]);
});

test('SIGINT while a regular file is imported: the records read before it are imported, exit 130, and no descriptor is closed twice', async () => {
  // In this process: the handler the import installs is called as the
  // signal would call it, once the store is open (the import's read has
  // begun), the other listeners (jest's) left out.
  const src = tmpFile('import-sigint.jsonl');
  const store = tmpFile('import-sigint.kv');
  fs.writeFileSync(src, jsonl(Array.from({ length: 1500 }, (_, i) => `k${i}`)));
  const before = process.listeners('SIGINT');
  const e = await importLines(openInput(src, store), () => {
    const s = KVStore.open(store, { create: true });
    const ours = process.listeners('SIGINT').filter((l) => !before.includes(l));
    expect(ours).toHaveLength(1);
    (ours[0] as () => void)();
    return s;
  }).then(() => null, (x: unknown) => x);
  expect(e).toMatchObject({ exit: 130, message: 'interrupted by SIGINT; 1500 records were imported' });
  expect(keysOf(store)).toHaveLength(1500);
  expect(process.listeners('SIGINT')).toEqual(before);
  // The stream the signal ended closes its own descriptor once its read is done.
  for (let i = 0; i < 100 && descriptorsOn(src) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(descriptorsOn(src)).toBe(0);
});
