import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { main, EXIT } from '../lib/cli';
import { KVStore, ObjPool, openMapping, Wal } from '../lib';
import { tmpFile } from './helpers';

function run(...argv: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}

describe('pmem kv', () => {
  test('put, get, has, del, count, scan, export, stats', () => {
    const f = tmpFile('cli.kv');
    expect(run('kv', f, 'put', 'user:1', 'ada')).toMatchObject({ code: 0, out: ['ok'] });
    run('kv', f, 'put', 'user:2', 'grace');
    run('kv', f, 'put', 'other', 'x');
    expect(run('kv', f, 'get', 'user:1').out).toEqual(['ada']);
    expect(run('kv', f, 'get', 'user:1', '--json').out).toEqual([JSON.stringify({ key: 'user:1', found: true, value: 'ada' })]);
    expect(run('kv', f, 'has', 'user:2').out).toEqual(['true']);
    expect(run('kv', f, 'count', '--json').out).toEqual(['{"count":3}']);
    expect(run('kv', f, 'scan', '--prefix', 'user:').out).toEqual(['user:1\tada', 'user:2\tgrace']);
    expect(run('kv', f, 'scan', '--limit', '1', '--json').out).toEqual(['{"key":"other","value":"x"}']);
    expect(run('kv', f, 'export').out).toHaveLength(3);
    expect(run('kv', f, 'del', 'other').out).toEqual(['true']);
    expect(run('kv', f, 'del', 'other').out).toEqual(['false']);
    const stats = JSON.parse(run('kv', f, 'stats', '--json').out[0]);
    expect(stats.count).toBe(2);
    expect(run('kv', f, 'stats').out.some((l) => l.startsWith('count: 2'))).toBe(true);
    expect(run('kv', f, 'compact', '--json').code).toBe(EXIT.OK);
  });

  test('a missing key exits 1', () => {
    const f = tmpFile('cli-miss.kv');
    run('kv', f, 'put', 'a', '1');
    const r = run('kv', f, 'get', 'b');
    expect(r.code).toBe(EXIT.NOT_FOUND_OR_CORRUPT);
    expect(r.err[0]).toContain("no key 'b'");
    expect(run('kv', f, 'get', 'b', '--json').out).toEqual(['{"key":"b","found":false}']);
  });

  test('import JSON lines with text and base64 values; export round-trips', () => {
    const f = tmpFile('cli-import.kv');
    const src = tmpFile('in.jsonl');
    const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ key: `k${i}`, value: `v${i}` }));
    lines.push(JSON.stringify({ key: 'bin', valueBase64: Buffer.from([0xff, 0xfe]).toString('base64') }));
    fs.writeFileSync(src, lines.join('\n') + '\n');
    expect(run('kv', f, 'import', src)).toMatchObject({ code: 0, out: ['imported 2501 records'] });
    const store = KVStore.open(f, { readOnly: true });
    expect(store.count).toBe(2501);
    expect(store.get('bin')).toEqual(Buffer.from([0xff, 0xfe]));
    store.close();
    const exported = run('kv', f, 'export').out.map((l) => JSON.parse(l));
    expect(exported.find((r) => r.key === 'bin')).toEqual({ key: 'bin', valueBase64: '//4=' });
  });

  test('bad imports are usage errors and write nothing from the bad batch', () => {
    const f = tmpFile('cli-badimport.kv');
    const src = tmpFile('bad.jsonl');
    fs.writeFileSync(src, '{"key":"a","value":"1"}\nnot json\n');
    expect(run('kv', f, 'import', src).code).toBe(EXIT.USAGE);
    fs.writeFileSync(src, '{"key":1,"value":"1"}\n');
    expect(run('kv', f, 'import', src).err[0]).toContain('"key" must be a string');
    fs.writeFileSync(src, '{"key":"a"}\n');
    expect(run('kv', f, 'import', src).err[0]).toContain('needs "value"');
    expect(run('kv', f, 'count').out).toEqual(['0']);
  });

  test('usage errors exit 2', () => {
    const f = tmpFile('cli-usage.kv');
    expect(run().code).toBe(EXIT.USAGE);
    expect(run('--help').code).toBe(EXIT.OK);
    expect(run('frobnicate', f).code).toBe(EXIT.USAGE);
    expect(run('kv').code).toBe(EXIT.USAGE);
    expect(run('kv', f, 'put', 'only-key').code).toBe(EXIT.USAGE);
    expect(run('kv', f, 'twiddle').code).toBe(EXIT.USAGE);
    expect(run('kv', f, 'scan', '--limit', 'many').code).toBe(EXIT.USAGE);
    expect(run('kv', f, 'scan', '--limit').code).toBe(EXIT.USAGE);
    expect(run('kv', f, 'scan', '--verbose').code).toBe(EXIT.USAGE);
  });

  test('a missing store for a read, and a store locked by a writer, exit 3', () => {
    expect(run('kv', tmpFile('nope.kv'), 'get', 'a').code).toBe(EXIT.CANNOT_OPEN);
    const f = tmpFile('cli-locked.kv');
    const store = KVStore.open(f, { create: true, size: 16 << 20 });
    try {
      const r = run('kv', f, 'put', 'a', '1');
      expect(r.code).toBe(EXIT.CANNOT_OPEN);
      expect(r.err[0]).toContain('ERR_PMEM_LOCKED');
    } finally {
      store.close();
    }
  });
});

describe('pmem info', () => {
  test('tells KV stores, WALs, pools, plain files, directories and missing files apart', () => {
    const kv = tmpFile('info.kv');
    run('kv', kv, 'put', 'a', '1');
    const wal = tmpFile('info.wal');
    Wal.open(wal, { size: 65536, create: true }).close();
    const pool = tmpFile('info.pool');
    ObjPool.create(pool, { layout: 'x' }).close();
    const plain = tmpFile('info.bin');
    openMapping(plain, { size: 4096, create: true }).close();
    const info = (f: string) => JSON.parse(run('info', f, '--json').out[0]);
    expect(info(kv)).toMatchObject({ kind: 'kv', format: 'PKV1 v1', fsType: 'tmpfs' });
    expect(info(wal)).toMatchObject({ kind: 'wal', format: 'PWAL v1' });
    expect(info(pool)).toMatchObject({ kind: 'objpool' });
    expect(info(pool).format).toMatch(/^PMEMOBJ v\d+$/);
    expect(info(plain)).toMatchObject({ kind: 'mapping', size: 4096 });
    expect(info(plain).durability).toMatch(/^msync/);
    expect(run('info', path.dirname(plain)).code).toBe(EXIT.CANNOT_OPEN);
    expect(run('info', tmpFile('none')).code).toBe(EXIT.CANNOT_OPEN);
    expect(run('info', kv).out).toContain('kind: kv');
  });
});

describe('pmem check', () => {
  test('an intact store and log pass; damage exits 1; other files exit 3', () => {
    const kv = tmpFile('check.kv');
    for (let i = 0; i < 100; i++) run('kv', kv, 'put', `k${i}`, `value ${i}`);
    expect(run('check', kv)).toMatchObject({ code: 0, out: [`${kv}: ok (kv, 100 keys)`] });
    const wal = tmpFile('check.wal');
    const w = Wal.open(wal, { size: 65536, create: true });
    for (const r of ['a', 'b', 'c']) w.append(r); // three appends: damage to the second is mid-log
    w.close();
    expect(JSON.parse(run('check', wal, '--json').out[0])).toMatchObject({ ok: true, kind: 'wal', records: 3 });
    // Damage the WAL's second record: an acknowledged record with intact ones after it.
    const bytes = fs.readFileSync(wal);
    bytes[256 + 40 + 32] ^= 0xff; // the payload byte of record 2
    fs.writeFileSync(wal, bytes);
    const r = run('check', wal);
    expect(r.code).toBe(EXIT.NOT_FOUND_OR_CORRUPT);
    expect(r.err[0]).toContain('ERR_PMEM_CORRUPT');
    expect(run('check', tmpFile('none')).code).toBe(EXIT.CANNOT_OPEN);
    const plain = tmpFile('check.bin');
    fs.writeFileSync(plain, 'just bytes');
    expect(run('check', plain).code).toBe(EXIT.CANNOT_OPEN);
  });
});

test('the installed command: exit codes, and a closed pipe is not an error', () => {
  const bin = path.join(__dirname, '..', 'bin', 'pmem');
  const f = tmpFile('bin.kv');
  const src = tmpFile('bin.jsonl');
  fs.writeFileSync(src, Array.from({ length: 20000 }, (_, i) => JSON.stringify({ key: `k${i}`, value: 'v'.repeat(100) })).join('\n'));
  expect(spawnSync(bin, ['kv', f, 'import', src]).status).toBe(0);
  const put = spawnSync(bin, ['kv', f, 'put', 'x', 'y'], { encoding: 'utf8' });
  expect(put.status).toBe(0);
  expect(spawnSync(bin, ['kv', f, 'get', 'zzz'], { encoding: 'utf8' }).status).toBe(1);
  const piped = spawnSync('sh', ['-c', `"${bin}" kv "${f}" export | head -1`], { encoding: 'utf8' });
  expect(piped.status).toBe(0);
  expect(piped.stderr).toBe('');
});
