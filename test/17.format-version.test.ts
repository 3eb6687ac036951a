// A KV store or a WAL of another format version (one a newer package
// wrote, say) is not damaged: opens refuse it with ERR_PMEM_INVALID naming
// both versions, `pmem check` exits 3 (not 4, "damaged"), the file is left
// as it was, and `pmem info` names the version the file holds.
import * as fs from 'node:fs';

import { KVStore, openMapping, Superblock, TxLog, Wal } from '../lib';
import { EXIT } from '../lib/cli/exit';
import { inspect } from '../lib/cli/inspect';
import { identify } from '../lib/core/identify';
import { tmpFile } from './helpers';
import { expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/inspect', 'core/identify']));

/**
 * Rewrites the superblock payload at the start of `file` with `version` at
 * payload byte 4, through the superblock: the new payload lands in the
 * other replica, the old one stays there uncommitted, as any write leaves
 * them.
 */
function rewriteVersion(file: string, capacity: number, version: number): void {
  const m = openMapping(file);
  try {
    const sb = Superblock.open(m, { offset: 0, capacity });
    const p = sb.read() as Buffer;
    p.writeUInt32LE(version, 4);
    sb.write(p);
  } finally {
    m.close();
  }
}

function kvStore(name: string): string {
  const file = tmpFile(name);
  const s = KVStore.open(file, { create: true, size: 16 << 20 });
  s.put('k', 'v');
  s.close();
  return file;
}

function wal(name: string): string {
  const file = tmpFile(name);
  const w = Wal.open(file, { create: true, size: 1 << 20 });
  w.append(Buffer.from('record'));
  w.close();
  return file;
}

/** `fn` throws a PmemError with `code` and a message matching `why`. */
function expectPmemError(fn: () => unknown, code: string, why: RegExp): void {
  let thrown: { name?: string; code?: string; message?: string } | undefined;
  try {
    fn();
  } catch (e) {
    thrown = e as typeof thrown;
  }
  expect([thrown?.name, thrown?.code]).toEqual(['PmemError', code]);
  expect(thrown?.message).toMatch(why);
}

const head = (file: string): Buffer => fs.readFileSync(file).subarray(0, 4096);

test('a KV store of format version 2: every open is ERR_PMEM_INVALID naming both versions, and the file is left as it was', () => {
  const file = kvStore('version2.kv');
  rewriteVersion(file, 32, 2);
  const before = fs.readFileSync(file);
  const why = /^a KV store of format version 2; this package reads version 1$/;
  expectPmemError(() => KVStore.open(file), 'ERR_PMEM_INVALID', why);
  expectPmemError(() => KVStore.open(file, { readOnly: true }), 'ERR_PMEM_INVALID', why);
  expectPmemError(() => KVStore.open(file, { create: true, size: 16 << 20 }), 'ERR_PMEM_INVALID', why);
  expect(fs.readFileSync(file).equals(before)).toBe(true);
});

test('a WAL of format version 2: ERR_PMEM_INVALID naming both versions, and the file is left as it was', () => {
  const file = wal('version2.wal');
  rewriteVersion(file, 64, 2);
  const before = fs.readFileSync(file);
  const why = /^a log of format version 2; this package reads version 1$/;
  expectPmemError(() => Wal.open(file), 'ERR_PMEM_INVALID', why);
  expectPmemError(() => Wal.open(file, { readOnly: true }), 'ERR_PMEM_INVALID', why);
  expect(fs.readFileSync(file).equals(before)).toBe(true);
});

test('a TxLog of another layout is ERR_PMEM_CORRUPT (no checksum tells it from damage) saying what its first line holds, layout 1 (an earlier version\'s: a commit word alone, no magic) with what to do; nothing is written', () => {
  const file = tmpFile('txlog-layouts');
  const m = openMapping(file, { create: true, size: 16384 });
  try {
    // Layout 1 after format, and after a committed run (commit word 2 * seq).
    for (const commitWord of [1n, 14n]) {
      m.bytes.fill(0, 0, 8192);
      m.bytes.writeBigUInt64LE(commitWord, 4096);
      m.bytes[4096 + 64 + 4] = 1; // a log header's entry count, past the first line
      const before = Buffer.from(m.bytes);
      expectPmemError(() => TxLog.open(m, { offset: 4096, size: 4096 }), 'ERR_PMEM_CORRUPT',
        /^no transaction log of layout 2 at offset 4096: its first line is what layout 1, an earlier version's, keeps there \(a commit word, no magic\); open it with the version that wrote it to finish its last transaction, then format it again with this one$/);
      expect(m.bytes.equals(before)).toBe(true);
    }
    // A layout this version does not know of.
    TxLog.format(m, { offset: 4096, size: 4096 });
    m.bytes.writeUInt32LE(3, 4096 + 12);
    const before = Buffer.from(m.bytes);
    expectPmemError(() => TxLog.open(m, { offset: 4096, size: 4096 }), 'ERR_PMEM_CORRUPT',
      /^no transaction log of layout 2 at offset 4096: its first line holds layout 3 \(another version's, or damage\)$/);
    expect(m.bytes.equals(before)).toBe(true);
    // No log at all: zeros, or a first line that is neither layout.
    m.bytes.fill(0, 0, 8192);
    expectPmemError(() => TxLog.open(m, { offset: 4096, size: 4096 }), 'ERR_PMEM_CORRUPT', /^no transaction log of layout 2 at offset 4096$/);
    m.bytes.writeBigUInt64LE(1n, 4096);
    m.bytes[4096 + 40] = 7;
    expectPmemError(() => TxLog.open(m, { offset: 4096, size: 4096 }), 'ERR_PMEM_CORRUPT', /^no transaction log of layout 2 at offset 4096$/);
  } finally {
    m.close();
  }
});

test('the classifier names the version of the replica the superblock holds now, not the older one beside it', () => {
  const kv = kvStore('version-id.kv');
  expect(identify(head(kv), 4096).format).toBe('PKV1 v1');
  rewriteVersion(kv, 32, 7);
  expect(identify(head(kv), 4096)).toEqual({ kind: 'kv', format: 'PKV1 v7', description: 'a KV store' });
  // Written once more, the payload is back in the first replica.
  rewriteVersion(kv, 32, 9);
  expect(identify(head(kv), 4096).format).toBe('PKV1 v9');
  const w = wal('version-id.wal');
  rewriteVersion(w, 64, 3);
  expect(identify(head(w), 4096)).toEqual({ kind: 'wal', format: 'PWAL v3', description: 'a write-ahead log (Wal)' });
});

test('a replica whose checksum fails is not the one named, and a store with no valid replica is still named a store', () => {
  const kv = kvStore('version-damaged.kv');
  rewriteVersion(kv, 32, 5);
  const b = head(kv);
  // The newer replica (the second, at 128) damaged in its payload: the first one's version is what the store holds.
  const damaged = Buffer.from(b);
  damaged[128 + 64 + 8] ^= 0xff;
  expect(identify(damaged, 4096).format).toBe('PKV1 v1');
  // Both damaged: still a KV store (check judges it), named by the first replica's bytes.
  damaged[64 + 8] ^= 0xff;
  expect(identify(damaged, 4096).kind).toBe('kv');
});

test('pmem info names the version, pmem check and every kv command exit 3 with the open\'s message', () => {
  const file = kvStore('version-cli.kv');
  rewriteVersion(file, 32, 2);
  const info = inspect(file);
  expect(info.format).toBe('PKV1 v2');
  expect(pmem(['info', file]).out).toContain('format: PKV1 v2');
  const why = 'ERR_PMEM_INVALID: a KV store of format version 2; this package reads version 1';
  fails(pmem(['check', file]), EXIT.CANNOT_USE, why);
  fails(pmem(['kv', file, 'get', 'k']), EXIT.CANNOT_USE, why);
  fails(pmem(['kv', file, 'put', 'k', 'w']), EXIT.CANNOT_USE, why);
  const w = wal('version-cli.wal');
  rewriteVersion(w, 64, 2);
  expect(pmem(['info', w]).out).toContain('format: PWAL v2');
  fails(pmem(['check', w]), EXIT.CANNOT_USE, 'ERR_PMEM_INVALID: a log of format version 2; this package reads version 1');
});
