// `pmem info` on a KV store: the length its superblock records, and whether
// the file is shorter (every open refuses it) or records none (an older
// store), in text and in --json; nothing is written to the file.
import * as fs from 'node:fs';

import { KVStore, openMapping, Superblock } from '../lib';
import { DATA_START, LENGTH_AT } from '../lib/kv/format';
import { KV_SUPERBLOCK } from '../lib/kv/log-open';
import { expectBuilt, pmem } from './cli-helpers';
import { tmpFile } from './helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/inspect', 'kv/log-open']));

const SEG = 64 * 1024;

function store(name: string, keys = 50): string {
  const file = tmpFile(name);
  const s = KVStore.open(file, { create: true, size: DATA_START + 4 * SEG, maxSize: DATA_START + 64 * SEG, segmentSize: SEG });
  for (let i = 0; i < keys; i++) s.put(`k${i}`, 'v'.repeat(1000));
  s.close();
  return file;
}

function info(file: string): { json: Record<string, unknown>; text: string[] } {
  const j = pmem(['info', file, '--json']);
  const t = pmem(['info', file]);
  expect([j.code, t.code, j.err, t.err]).toEqual([0, 0, [], []]);
  return { json: JSON.parse(j.out[0]) as Record<string, unknown>, text: t.out };
}

/** Runs `fn` and expects the file's bytes unchanged by it. */
function untouched<T>(file: string, fn: () => T): T {
  const before = fs.readFileSync(file);
  const r = fn();
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  return r;
}

test('a whole store: its recorded length, and ok', () => {
  const file = store('info-len.kv', 400);
  const size = fs.statSync(file).size;
  expect(size).toBeGreaterThan(DATA_START + 4 * SEG); // it grew: the record followed
  const { json, text } = untouched(file, () => info(file));
  expect(json).toMatchObject({ kind: 'kv', size, recordedLength: size, lengthCheck: 'ok' });
  expect(json.lengthNote).toBeUndefined();
  expect(text).toContain(`recordedLength: ${size}`);
  expect(text).toContain('lengthCheck: ok');
});

test('a store cut short: short, with both lengths; the opens refuse it', () => {
  const file = store('info-cut.kv', 400);
  const size = fs.statSync(file).size;
  const cut = DATA_START + 4 * SEG;
  fs.truncateSync(file, cut);
  const { json, text } = untouched(file, () => info(file));
  const note = `the file is ${cut} bytes, shorter than the ${size}-byte store it holds: it was cut short, and every open refuses it`;
  expect(json).toMatchObject({ kind: 'kv', size: cut, recordedLength: size, lengthCheck: 'short', lengthNote: note });
  expect(text).toEqual(expect.arrayContaining([`recordedLength: ${size}`, 'lengthCheck: short', `lengthNote: ${note}`]));
  expect(() => KVStore.open(file, { readOnly: true })).toThrow(`shorter than the ${size}-byte store it holds`);
  expect(pmem(['check', file]).code).toBe(4);
});

test('an older store records no length: not recorded, and a cut cannot be told', () => {
  const file = store('info-old.kv');
  const m = openMapping(file);
  const sb = Superblock.open(m, KV_SUPERBLOCK);
  const p = sb.read()!;
  p.fill(0, LENGTH_AT, LENGTH_AT + 8);
  sb.write(p);
  m.close();
  const { json, text } = untouched(file, () => info(file));
  expect(json).toMatchObject({ kind: 'kv', recordedLength: 0, lengthCheck: 'not recorded' });
  expect(json.lengthNote).toContain('records no length');
  expect(text).toContain('lengthCheck: not recorded');
});

test('a store whose superblock is damaged: unreadable, and why; other kinds have no length fields', () => {
  const file = store('info-damaged.kv');
  const b = fs.readFileSync(file);
  for (const at of [64 + 24, 192 + 24]) b[at] ^= 0xff; // both replicas' payloads, past the magic that names the kind
  fs.writeFileSync(file, b);
  const { json } = untouched(file, () => info(file));
  expect(json).toMatchObject({ kind: 'kv', lengthCheck: 'unreadable' });
  expect(json.recordedLength).toBeUndefined();
  expect(json.lengthNote).toContain("the store's superblock cannot be read: ");
  const plain = tmpFile('info-plain.bin');
  fs.writeFileSync(plain, Buffer.alloc(4096));
  const p = info(plain).json;
  expect(p.kind).toBe('mapping');
  expect(['recordedLength', 'lengthCheck', 'lengthNote'].filter((k) => k in p)).toEqual([]);
});
