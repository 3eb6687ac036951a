// A reader's open reads the superblock a writer rewrites (at its open, and
// when the file grows). A read torn by such a rewrite, one replica read
// before it and the other after, finds no committed replica: the reader
// (lib/kv/follow.ts, #rebuild) sees that the superblock changed meanwhile
// and reads it again. Here the rewrite lands deterministically between the
// reader's reads of the two replicas (inside its checksum of replica 0),
// once, or on every read.
import { Mapping, openMapping } from '../lib/core/mapping';
import { PmemError } from '../lib/core/errors';
import { KV_SUPERBLOCK } from '../lib/kv/log-open';
import { KVStore } from '../lib/kv/store';
import { Superblock } from '../lib/log/superblock';
import { tmpFile } from './helpers';

type Hooked = Record<string, (...a: unknown[]) => unknown>;
const proto = Superblock.prototype as unknown as Hooked;
const orig = { checksum: proto.checksum, recover: proto.recover };
afterEach(() => Object.assign(proto, orig));

/** A store of 100 keys, closed, and a superblock on a writable mapping of it, its replica 1 the active one. */
function setup(name: string): { file: string; m: Mapping; sb: Superblock } {
  const file = tmpFile(name);
  const w = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  for (let i = 0; i < 100; i++) w.put(`k${i}`, `v${i}`);
  w.close();
  const m = openMapping(file);
  const sb = Superblock.open(m, KV_SUPERBLOCK);
  // Replica 0 then holds an older version, valid but not committed: the
  // one a rewrite goes to next.
  while (sb.version < 2 || sb.recover().replica !== 1) sb.write(sb.read()!);
  return { file, m, sb };
}

/**
 * Hooks the reader's superblock reads (on a read-only mapping): `tear(n)`
 * says whether the n-th read (from 1) is torn. A torn read is rewritten by
 * the writer between its two replicas: after it read replica 0's flag (0),
 * before it reads replica 1's (then cleared). Before each read to be torn
 * the writer's replica 1 is made the active one again, as setup left it.
 */
function hook(sb: Superblock, tear: (n: number) => boolean): { reads: number; torn: number } {
  const seen = { reads: 0, torn: 0 };
  proto.recover = function (this: Superblock): unknown {
    if ((this.region as Mapping).readOnly) {
      seen.reads++;
      if (seen.reads > 100) throw new Error('the reader read the superblock 100 times and did not give up');
      if (tear(seen.reads) && sb.recover().replica !== 1) sb.write(sb.read()!);
    }
    return orig.recover.call(this);
  };
  proto.checksum = function (this: Superblock, b: unknown, base: unknown, len: unknown): unknown {
    if ((this.region as Mapping).readOnly && base === 0 && tear(seen.reads)) {
      seen.torn++;
      sb.write(sb.read()!); // into replica 0, committed; replica 1's flag cleared
    }
    return orig.checksum.call(this, b, base, len);
  };
  return seen;
}

test('a torn superblock read is read again, and the reader opens on the committed state', () => {
  const { file, m, sb } = setup('torn-once.kv');
  const seen = hook(sb, (n) => n === 1);
  const r = KVStore.open(file, { readOnly: true });
  expect(seen).toEqual({ reads: 2, torn: 1 });
  expect(sb.recover().replica).toBe(0); // the rewrite landed
  expect(r.count).toBe(100);
  for (let i = 0; i < 100; i++) expect(r.getString(`k${i}`)).toBe(`v${i}`);
  r.close();
  m.close();
});

test('the torn read itself finds no committed replica: without the re-read it would be refused', () => {
  const { m, sb } = setup('torn-alone.kv');
  const ro = openMapping(m.path, { readOnly: true });
  const seen = hook(sb, () => true);
  expect(() => Superblock.open(ro, KV_SUPERBLOCK)).toThrow(/no replica is committed, yet version \d+ was written/);
  expect(seen).toEqual({ reads: 1, torn: 1 });
  ro.close();
  m.close();
});

test('a superblock torn on every read: the reader gives up after 8 reads with ERR_PMEM_CORRUPT, saying why', () => {
  const { file, m, sb } = setup('torn-always.kv');
  const seen = hook(sb, () => true);
  let error: unknown;
  try {
    KVStore.open(file, { readOnly: true }).close();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PmemError);
  expect(error).toMatchObject({ code: 'ERR_PMEM_CORRUPT', path: file });
  expect((error as Error).message).toMatch(
    /^the store's superblock changed while it was read, 8 times in a row; the last read found: the KV store's superblock is damaged: superblock at 0: no replica is committed, yet version \d+ was written$/,
  );
  expect(seen).toEqual({ reads: 8, torn: 8 });
  // Once the rewrites stop, the store opens whole.
  Object.assign(proto, orig);
  const r = KVStore.open(file, { readOnly: true });
  expect(r.count).toBe(100);
  r.close();
  m.close();
});

describe('a segment header a scan reads damaged under intact records, with no writer live as the scan began', () => {
  // A writer that opens during such a scan (one without a stop, as a
  // writer's own open scans) writes segment headers the scan may read
  // half-written, and records after them: the reader scans again, and
  // reports damage only when it is still there, 3 scans in a row. Here the
  // "writer" damages segment 0's header checksum as the first scan reads
  // the superblock, and repairs it before the second.
  const SEGMENT0_CRC = 4096 + 4;

  /** Counts the reader's superblock reads (one per scan), running `each(n)` before the n-th. */
  function hookScans(each: (n: number) => void): { scans: number } {
    const seen = { scans: 0 };
    proto.recover = function (this: Superblock): unknown {
      if ((this.region as Mapping).readOnly) each(++seen.scans);
      return orig.recover.call(this);
    };
    return seen;
  }

  test('read damaged once, then whole: the open succeeds on the next scan', () => {
    const { file, m } = setup('header-race.kv');
    const good = m.bytes[SEGMENT0_CRC];
    const seen = hookScans((n) => {
      if (n === 1) m.bytes[SEGMENT0_CRC] = good ^ 0xff;
      if (n === 2) m.bytes[SEGMENT0_CRC] = good;
    });
    const r = KVStore.open(file, { readOnly: true });
    expect(seen.scans).toBe(2);
    expect(r.count).toBe(100);
    expect(r.getString('k99')).toBe('v99');
    r.close();
    m.close();
  });

  test('damage that stays is reported after 3 scans, and a writer refuses it too', () => {
    const { file, m } = setup('header-damaged.kv');
    const good = m.bytes[SEGMENT0_CRC];
    m.bytes[SEGMENT0_CRC] = good ^ 0xff;
    const seen = hookScans(() => {});
    expect(() => KVStore.open(file, { readOnly: true })).toThrow(
      expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/its header is damaged, and records written after it was durable are intact/) }),
    );
    expect(seen.scans).toBe(3);
    Object.assign(proto, orig);
    expect(() => KVStore.open(file)).toThrow(/its header is damaged/);
    m.bytes[SEGMENT0_CRC] = good;
    m.close();
  });
});
