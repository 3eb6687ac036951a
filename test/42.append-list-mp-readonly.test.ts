// SharedAppendList on a read-only mapping: it is read, with or without a
// link still marked dirty, and nothing is ever written through it; format
// and append are refused with ERR_PMEM_READONLY before any store.
import * as fs from 'node:fs';

import { openMapping, SharedAppendList } from '../lib';
import type { AppendStep } from '../lib/log/append-list-mp';
import { expectPmemError, tmpFile } from './helpers';

const AT = 128;
const strings = (list: SharedAppendList): string[] => list.toArray().map(String);

/** A list of three values at AT, written and closed. */
function build(name: string): string {
  const file = tmpFile(name);
  const m = openMapping(file, { size: 16384, create: true });
  const list = SharedAppendList.format(m, AT);
  for (const v of ['one', 'two', 'x'.repeat(100)]) list.append(v);
  m.close();
  return file;
}

function readOnlyChecks(file: string, expected: string[]): void {
  const before = fs.readFileSync(file);
  const ro = openMapping(file, { readOnly: true });
  const list = SharedAppendList.open(ro, AT);
  expect(strings(list)).toEqual(expected);
  expect(list.length).toBe(expected.length);
  expect(list.recover()).toEqual({ length: expected.length });
  expectPmemError(() => list.append('more'), 'ERR_PMEM_READONLY');
  expect(() => list.append('more')).toThrow(`the list at offset ${AT} is on a read-only mapping`);
  expectPmemError(() => SharedAppendList.format(ro, AT), 'ERR_PMEM_READONLY');
  // Nothing was stored even in this process's private copy, and nothing in the file.
  expect(Buffer.compare(ro.buffer, before)).toBe(0);
  ro.close();
  expect(Buffer.compare(fs.readFileSync(file), before)).toBe(0);
}

test('a list with no dirty link is read on a read-only mapping; append and format are ERR_PMEM_READONLY', () => {
  const file = build('mp-ro-clean');
  readOnlyChecks(file, ['one', 'two', 'x'.repeat(100)]);
});

test('a list with dirty links and a free pointer to repair is read on a read-only mapping, and left as it is', () => {
  const file = build('mp-ro-dirty');
  const m = openMapping(file);
  // Every link marked, as a crash may leave them (each persisted with the
  // bit set, the clearing never persisted), and the free pointer below the
  // nodes (it is never persisted): what a writable open would repair.
  let link = AT + 8;
  for (let n = 0; n < 3; n++) {
    const v = m.load64(link);
    m.store64(link, v + 1n);
    link = Number(v);
  }
  m.store64(AT + 16, AT + 64);
  m.persist(0, m.length);
  m.close();
  readOnlyChecks(file, ['one', 'two', 'x'.repeat(100)]);
  // A writable open still completes them: the links cleaned, the free pointer raised.
  const w = openMapping(file);
  const list = SharedAppendList.open(w, AT);
  expect(w.load64(AT + 8) % 2n).toBe(0n);
  expect(w.load64(AT + 16) > BigInt(AT + 64)).toBe(true);
  list.append('four');
  expect(strings(list)).toEqual(['one', 'two', 'x'.repeat(100), 'four']);
  w.close();
});

test('a read-only reader beside a producer follows its dirty link without writing it', () => {
  const file = build('mp-ro-live');
  const w = openMapping(file);
  const producer = SharedAppendList.open(w, AT);
  const ro = openMapping(file, { readOnly: true });
  const reader = SharedAppendList.open(ro, AT);
  const steps = producer.appendSteps('four');
  while (steps.next().value !== ('linked' as AppendStep));
  const dirty = w.buffer.subarray(AT, w.length).indexOf(Buffer.from('four')) - 16 + AT;
  expect(strings(reader)).toEqual(['one', 'two', 'x'.repeat(100), 'four']);
  // The reader neither persisted nor cleaned the link: the producer's clearing CAS finds it marked.
  const linkAt = [...Array(3)].reduce((l: number) => Number(w.load64(l) - (w.load64(l) % 2n)), AT + 8);
  expect(w.load64(linkAt)).toBe(BigInt(dirty) + 1n);
  expect(steps.next().done).toBe(true);
  expect(w.load64(linkAt)).toBe(BigInt(dirty));
  ro.close();
  w.close();
});
