// A reader and a writer in one thread, interleaved step by step at the
// points where their orders matter: the reader catches up inside the
// writer's calls (before and after each record's seal, after each persist:
// mid-compaction, between a copy and the free of its segment), and the
// writer runs whole calls, compaction among them, inside the reader's
// catch-up (each time it looks for the next segment). Small segments and
// frequent compaction free the segments the reader is in or about to read.
// Every read must return a value the key held at some moment between the
// read's start and its end.
import * as fs from 'node:fs';

import { Mapping, openMapping } from '../lib/core/mapping';
import { KvFollower } from '../lib/kv/follow';
import { readValue } from '../lib/kv/follow-reads';
import { KvIndex } from '../lib/kv/hash-index';
import { PublishedWords } from '../lib/kv/published';
import { KVStore } from '../lib/kv/store';
import { tmpFile } from './helpers';
import { seededRandom } from '../lib/testing/random';

const KEYS = 40;


interface Run {
  reads: number;
  nested: number;
  compactions: number;
  stale: string[];
}

/** One seeded run: `calls` writer calls, each followed by reads of the reader. */
function run(seed: number, calls: number): Run {
  const rand = seededRandom(seed);
  const file = tmpFile(`interleave-${seed}.kv`);
  const w = KVStore.open(file, { create: true, size: 64 * 1024, maxSize: 1 << 20, segmentSize: 1024 });
  const r = KVStore.open(file, { readOnly: true });
  // Per key, every value it held (undefined: absent), in order.
  const history: (string | undefined)[][] = [];
  for (let k = 0; k < KEYS; k++) history.push([undefined]);
  const out: Run = { reads: 0, nested: 0, compactions: 0, stale: [] };
  let depth = 0;
  /** Inside a writer call: the writer's own index calls are not the reader's. */
  let writing = 0;
  let n = 0;
  const set = (k: number, v: string | undefined): void => {
    history[k].push(v);
  };
  const call = (): void => {
    writing++;
    try {
      writerCall();
    } finally {
      writing--;
    }
  };
  const writerCall = (): void => {
    const i = n++;
    const k = Math.floor(rand() * KEYS);
    const v = `v${i}-${'x'.repeat(Math.floor(rand() * 200))}`;
    const x = rand();
    if (x < 0.45) {
      w.put(`k${k}`, v);
      set(k, v);
    } else if (x < 0.65) {
      w.delete(`k${k}`);
      set(k, undefined);
    } else if (x < 0.75) {
      const k2 = (k + 1 + Math.floor(rand() * (KEYS - 1))) % KEYS;
      w.batch([{ type: 'put', key: `k${k}`, value: v }, { type: 'del', key: `k${k2}` }]);
      set(k, v);
      set(k2, undefined);
    } else if (x < 0.85) {
      const to = (k + 1 + Math.floor(rand() * (KEYS - 1))) % KEYS;
      const from = history[k][history[k].length - 1];
      if (w.rename(`k${k}`, `k${to}`)) {
        set(to, from);
        set(k, undefined);
      }
    } else {
      w.compact();
      out.compactions++;
    }
  };
  /** A read of key k, checked against what k held from its start to its end. */
  const read = (k: number): void => {
    const from = history[k].length - 1;
    const got = r.getString(`k${k}`);
    out.reads++;
    const allowed = history[k].slice(from);
    if (!allowed.includes(got)) {
      out.stale.push(`seed ${seed} call ${n}: k${k} read ${got?.slice(0, 8)}, held ${allowed.map((a) => a?.slice(0, 8)).join(',')}`);
    }
  };
  const proto = Mapping.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = { sealRecord: proto.sealRecord, persist: proto.persist, fileSize: proto.fileSize };
  // The writer's ordering points: the reader catches up there.
  const inWriter = (name: 'sealRecord' | 'persist') => function (this: Mapping, ...a: unknown[]): unknown {
    if (this.readOnly || depth > 0 || rand() >= 0.3) return orig[name].apply(this, a);
    depth++;
    try {
      if (rand() < 0.5) {
        r.has('k0');
        return orig[name].apply(this, a);
      }
      const res = orig[name].apply(this, a);
      r.has('k0');
      return res;
    } finally {
      depth--;
    }
  };
  proto.sealRecord = inWriter('sealRecord');
  proto.persist = inWriter('persist');
  // The reader's search for its next segment: the writer runs calls there.
  proto.fileSize = function (this: Mapping): unknown {
    if (this.readOnly && depth === 0 && rand() < 0.3) {
      depth++;
      try {
        out.nested++;
        for (let j = Math.floor(rand() * 4); j >= 0; j--) call();
      } finally {
        depth--;
      }
    }
    return orig.fileSize.apply(this);
  };
  // The reader's loads of the published words and its replay of each
  // entry: the writer runs calls there too.
  const words = PublishedWords.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const index = KvIndex.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const origWords = { tail: words.tail, frees: words.frees };
  const origIndex = { setEntry: index.setEntry, deleteEntry: index.deleteEntry, dropInBlocks: index.dropInBlocks };
  const inReader = (o: Record<string, (...a: unknown[]) => unknown>, name: string) => function (this: unknown, ...a: unknown[]): unknown {
    if (depth === 0 && writing === 0 && rand() < 0.1) {
      depth++;
      try {
        out.nested++;
        for (let j = Math.floor(rand() * 4); j >= 0; j--) call();
      } finally {
        depth--;
      }
    }
    return o[name].apply(this, a);
  };
  words.tail = inReader(origWords, 'tail');
  words.frees = inReader(origWords, 'frees');
  index.setEntry = inReader(origIndex, 'setEntry');
  index.deleteEntry = inReader(origIndex, 'deleteEntry');
  index.dropInBlocks = inReader(origIndex, 'dropInBlocks');
  try {
    while (n < calls && out.stale.length === 0) {
      call();
      for (let j = 0; j < 3; j++) read(Math.floor(rand() * KEYS));
    }
  } finally {
    Object.assign(proto, orig);
    Object.assign(words, origWords);
    Object.assign(index, origIndex);
    r.close();
    w.close();
    fs.rmSync(file, { force: true });
  }
  return out;
}

test('a reader interleaved with a writer that compacts often returns no stale value, over many seeds', () => {
  let reads = 0;
  let nested = 0;
  let compactions = 0;
  const stale: string[] = [];
  for (let seed = 1; seed <= Number(process.env.PMEM_INTERLEAVE_SEEDS ?? 200); seed++) {
    const o = run(seed, 400);
    reads += o.reads;
    nested += o.nested;
    compactions += o.compactions;
    stale.push(...o.stale);
  }
  // The interleavings happened: writer calls inside catch-ups, compactions.
  expect(nested).toBeGreaterThan(100);
  expect(compactions).toBeGreaterThan(100);
  expect(reads).toBeGreaterThan(1000);
  expect(stale).toEqual([]);
});

test('records the reader replays from its segment after it dropped that segment as freed are not kept', () => {
  // The reader is in segment X, at its end, and drops what it held in freed
  // segments; meanwhile the writer puts K into X, moves on to Z, deletes K
  // there and compacts: X and Z are freed. The reader then reads on in X
  // from where it was (the put of K), skips Z (its delete of K) and must
  // not keep K: nothing would drop it later.
  const file = tmpFile('follow-forgotten.kv');
  const w = KVStore.open(file, { create: true, size: 64 * 1024, segmentSize: 1024 });
  w.put('a', 'a'.repeat(50));
  const f = new KvFollower(file, fs.openSync(file, 'r'), openMapping(file, { readOnly: true }));
  f.catchUp();
  // 'a' again: its segment (W) has a dead entry; compaction copies the
  // live 'a' to a new segment (X) and frees W.
  w.put('a', 'b'.repeat(50));
  w.compact();
  const index = KvIndex.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const dropInBlocks = index.dropInBlocks;
  let ran = false;
  index.dropInBlocks = function (this: unknown, ...a: unknown[]): unknown {
    if (!ran) {
      ran = true;
      w.put('K', 'stale');
      for (let i = 0; i < 12; i++) w.put('f', `${i}`.repeat(100));
      w.delete('K');
      w.compact();
    }
    return dropInBlocks.apply(this, a);
  };
  try {
    f.catchUp();
  } finally {
    index.dropInBlocks = dropInBlocks;
  }
  // The writer ran inside the reader's drop of freed segments.
  expect(ran).toBe(true);
  // K was deleted; the reader holds what the writer holds.
  expect(w.has('K')).toBe(false);
  expect(f.read(readValue, 'K')).toBeUndefined();
  expect(f.read(readValue, 'a')?.toString()).toBe('b'.repeat(50));
  expect(f.read(readValue, 'f')?.toString()).toBe('11'.repeat(100));
  expect(f.log.index.size).toBe(w.count);
  f.close();
  w.close();
  fs.rmSync(file, { force: true });
});
