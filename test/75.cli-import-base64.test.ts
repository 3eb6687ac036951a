// pmem kv import's "keyBase64" and "valueBase64": base64 as an encoder
// writes it, with its padding or without. Node's decoder drops what it
// cannot use without a word (a lone last character, bits past the last
// byte), so such a field would import other bytes than the line meant (a
// lone "A" would be the empty key): it is a bad line, and nothing is
// imported.
import * as fs from 'node:fs';

import { EXIT } from '../lib/cli/exit';
import { KVStore } from '../lib';
import { rng, tmpFile } from './helpers';
import { expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/import']));

test.each([
  ['a lone character', { keyBase64: 'A', value: 'x' }, 'key'],
  ['a last group of one character', { keyBase64: 'Zm9vYmFy1', value: 'x' }, 'key'],
  ['bits past the last byte, padded', { key: 'k', valueBase64: 'QR==' }, 'value'],
  ['bits past the last two bytes, padded', { key: 'k', valueBase64: 'QUJ=' }, 'value'],
  ['bits past the last byte, unpadded', { key: 'k', valueBase64: 'QUJDRB' }, 'value'],
  ['too little padding', { key: 'k', valueBase64: 'QQ=' }, 'value'],
  ['padding after a whole group', { key: 'k', valueBase64: 'QUJD=' }, 'value'],
])('%s is a bad line (exit 2): nothing is imported, no store is made', (_name, rec, field) => {
  const src = tmpFile('b64-bad.jsonl');
  const store = tmpFile('b64-bad.kv');
  fs.writeFileSync(src, `${JSON.stringify({ key: 'first', value: '1' })}\n${JSON.stringify(rec)}\n`);
  fails(pmem(['kv', store, 'import', src]), EXIT.USAGE, `line 2: needs "${field}" as a string, or "${field}Base64" as base64; nothing was imported`);
  expect(fs.existsSync(store)).toBe(false);
});

test('base64 with its padding or without imports the bytes it encodes, for every length of the last group', () => {
  const src = tmpFile('b64-good.jsonl');
  const store = tmpFile('b64-good.kv');
  const next = rng(53);
  const want = new Map<string, Buffer>();
  const lines: string[] = [];
  for (let n = 0; n < 40; n++) {
    const key = Buffer.from(Array.from({ length: 1 + (n % 7) }, () => Math.floor(next() * 256)));
    const value = Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
    want.set(key.toString('hex'), value);
    const k = key.toString('base64');
    const v = value.toString('base64');
    lines.push(JSON.stringify({ keyBase64: n % 2 === 0 ? k : k.replace(/=+$/, ''), valueBase64: n % 3 === 0 ? v : v.replace(/=+$/, '') }));
  }
  fs.writeFileSync(src, lines.join('\n') + '\n');
  expect(pmem(['kv', store, 'import', src])).toEqual({ code: 0, out: [`imported ${want.size} records`], err: [] });
  const s = KVStore.open(store, { readOnly: true });
  try {
    expect(s.count).toBe(want.size);
    for (const [k, v] of want) expect(s.get(Buffer.from(k, 'hex'))).toEqual(v);
  } finally {
    s.close();
  }
});
