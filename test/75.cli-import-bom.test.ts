// pmem kv import takes a UTF-8 byte-order mark (EF BB BF, as Windows tools
// write one) at the very start of its input, from a file or stdin, and
// only there; export writes none.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

import { EXIT } from '../lib/cli/exit';
import { tmpFile } from './helpers';
import { BIN, expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/import']));

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const LINES = '{"key":"a","value":"1"}\n{"key":"b","value":"2"}\n';

test('a file that starts with a byte-order mark is imported, the first key without it', () => {
  const src = tmpFile('bom.jsonl');
  const f = tmpFile('bom.kv');
  fs.writeFileSync(src, Buffer.concat([BOM, Buffer.from(LINES)]));
  expect(pmem(['kv', f, 'import', src])).toEqual({ code: EXIT.OK, out: ['imported 2 records'], err: [] });
  expect(pmem(['kv', f, 'scan']).out).toEqual(['a\t1', 'b\t2']);
});

test('stdin that starts with a byte-order mark is imported; so is a first line that is only the mark', () => {
  const f = tmpFile('bom-stdin.kv');
  expect(pmem(['kv', f, 'import', '-'], { input: Buffer.concat([BOM, Buffer.from(LINES)]) }).out).toEqual(['imported 2 records']);
  const g = tmpFile('bom-alone.kv');
  expect(pmem(['kv', g, 'import', '-'], { input: Buffer.concat([BOM, Buffer.from('\n' + LINES)]) }).out).toEqual(['imported 2 records']);
  expect(pmem(['kv', g, 'scan']).out).toEqual(['a\t1', 'b\t2']);
});

test('a byte-order mark anywhere but the input\'s start is a bad line, named', () => {
  const src = tmpFile('bom-later.jsonl');
  const f = tmpFile('bom-later.kv');
  const why = "starts with a byte-order mark (EF BB BF), which only the input's first line may";
  fs.writeFileSync(src, Buffer.concat([Buffer.from(LINES), BOM, Buffer.from('{"key":"c","value":"3"}\n')]));
  fails(pmem(['kv', f, 'import', src]), EXIT.USAGE, `line 3: ${why}; nothing was imported`);
  // A line that is only the mark is not blank there.
  fs.writeFileSync(src, Buffer.concat([Buffer.from(LINES), BOM, Buffer.from('\n')]));
  fails(pmem(['kv', f, 'import', src]), EXIT.USAGE, `line 3: ${why}; nothing was imported`);
  // Twice at the start: the second is no longer at the start.
  fs.writeFileSync(src, Buffer.concat([BOM, BOM, Buffer.from(LINES)]));
  fails(pmem(['kv', f, 'import', src]), EXIT.USAGE, `line 1: ${why}; nothing was imported`);
  expect(fs.existsSync(f)).toBe(false);
  // After a blank first line, it is not at the start either.
  fails(pmem(['kv', f, 'import', '-'], { input: Buffer.concat([Buffer.from('\n'), BOM, Buffer.from(LINES)]) }), EXIT.USAGE, `line 2: ${why}; 0 records were imported before it`);
  // Inside a string it is a character like any other.
  const g = tmpFile('bom-in-value.kv');
  expect(pmem(['kv', g, 'import', '-'], { input: '{"key":"\uFEFFk","value":"\uFEFF"}\n' }).out).toEqual(['imported 1 records']);
  expect(pmem(['kv', g, 'get', '\uFEFFk']).out).toEqual(['\uFEFF']);
});

test('export writes no byte-order mark, and its output imports back', () => {
  const f = tmpFile('bom-export.kv');
  expect(pmem(['kv', f, 'import', '-'], { input: Buffer.concat([BOM, Buffer.from(LINES)]) }).code).toBe(EXIT.OK);
  const out = spawnSync(BIN, ['kv', f, 'export']).stdout;
  expect(out.subarray(0, 3).equals(BOM)).toBe(false);
  expect(out.toString()).toBe(LINES);
});
