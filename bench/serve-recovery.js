'use strict';
// pmem serve's open with collections: the keyspace rebuilt from a store of
// 1M element records (half in hashes, half in sets, over 2,000 keys), against
// the floor measured in the same run: opening the same store and scanning
// every record and nothing else, with KVStore.range (key order) and with
// KVStore.unordered (no order: what the keyspace's open uses). Target: the
// keyspace's open ≤ 2 s for 1M elements. Prints the machine, the durability
// mode and the medians, wall and CPU time.
//
//   node bench/serve-recovery.js [--elements N] [--runs R]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { KVStore } = require('../dist');
require('../dist/server/commands/table'); // registers the hash and set structures
const { Keyspace } = require('../dist/server/keyspace');
const { TYPE_HASH, TYPE_SET } = require('../dist/server/collections');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ELEMENTS = arg('--elements', 1_000_000);
const RUNS = arg('--runs', 3);
const KEYS = 2000;
const DIR = process.env.PMEM_BENCH_DIR ?? '/dev/shm/pmem-bench-serve-recovery';
const FILE = path.join(DIR, 'recovery.kv');

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function fill() {
  fs.mkdirSync(DIR, { recursive: true });
  fs.rmSync(FILE, { force: true });
  const store = KVStore.open(FILE, { create: true, size: 64 * 1024 * 1024, maxSize: 1024 * 1024 * 1024 });
  const ks = new Keyspace(store, 16);
  const per = ELEMENTS / KEYS;
  for (let k = 0; k < KEYS; k++) {
    const isHash = k % 2 === 0;
    const c = ks.createCollection(0, `key:${k}`, isHash ? TYPE_HASH : TYPE_SET);
    for (let i = 0; i < per; i++) {
      const id = `member:${i}`;
      const v = isHash ? Buffer.from(`value ${i}`) : Buffer.alloc(0);
      c.data.set(id, isHash ? `value ${i}` : true);
      ks.putElement(c, id, v);
    }
    if (k % 10 === 9) ks.commit();
  }
  ks.commit();
  store.close();
}

/** [wall ms, result, CPU ms (user + system)]: on a shared machine the CPU time is the steadier number. */
function timed(fn) {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  const out = fn();
  const d = process.cpuUsage(c);
  return [Number(process.hrtime.bigint() - t) / 1e6, out, (d.user + d.system) / 1000];
}

fill();
const open = [];
const keyspace = [];
const floor = [];
const keyspaceCpu = [];
const floorCpu = [];
const unordered = [];
const unorderedCpu = [];
for (let r = 0; r < RUNS; r++) {
  // The keyspace's open: KVStore.open, then the one scan that rebuilds every collection.
  {
    const [tOpen, store, cOpen] = timed(() => KVStore.open(FILE));
    const [tLoad, ks, cLoad] = timed(() => new Keyspace(store, 16));
    keyspaceCpu.push(cOpen + cLoad);
    let n = 0;
    for (const c of ks.dbs[0].colls.values()) n += c.data.size;
    if (n !== ELEMENTS) throw new Error(`recovered ${n} elements, not ${ELEMENTS}`);
    store.close();
    open.push(tOpen);
    keyspace.push(tOpen + tLoad);
  }
  // The floors: the same open and a scan of every record, doing nothing with them,
  // in key order (KVStore.range: every key sorted once) and in no order (KVStore.unordered, one-byte strings).
  {
    const [t, , cpu] = timed(() => {
      const store = KVStore.open(FILE);
      let n = 0;
      for (const [k, v] of store.range()) n += k.length + v.length;
      store.close();
      return n;
    });
    floor.push(t);
    floorCpu.push(cpu);
  }
  {
    const [t, , cpu] = timed(() => {
      const store = KVStore.open(FILE);
      let n = 0;
      for (const [k, v] of store.unordered(undefined, { encoding: 'latin1' })) n += k.length + v.length;
      store.close();
      return n;
    });
    unordered.push(t);
    unorderedCpu.push(cpu);
  }
}
const bytes = fs.statSync(FILE).size;
fs.rmSync(DIR, { recursive: true, force: true });
const mode = process.env.PMEM_IS_PMEM_FORCE === '1' ? 'forced (CLWB+SFENCE on DRAM)' : 'msync';
console.log(`${os.cpus()[0].model}, ${os.cpus().length} cpus, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ` +
  `node ${process.version}, mode ${mode}, store ${(bytes / 2 ** 20).toFixed(0)} MiB`);
console.log(`${ELEMENTS} elements in ${KEYS} keys (hashes and sets), medians of ${RUNS} runs:`);
console.log(`| | KVStore.open | keyspace open (open + collections rebuilt) | floor: open + range of every record | floor: open + unordered scan | keyspace / range floor | keyspace / unordered floor |`);
console.log(`|---|---|---|---|---|---|---|`);
const row = (name, a, b, c, d) => console.log(`| ${name} | ${a} | ${median(b).toFixed(0)} ms | ${median(c).toFixed(0)} ms | ${median(d).toFixed(0)} ms | ` +
  `${(median(b) / median(c)).toFixed(2)} | ${(median(b) / median(d)).toFixed(2)} |`);
row('wall', `${median(open).toFixed(0)} ms`, keyspace, floor, unordered);
row('CPU', '', keyspaceCpu, floorCpu, unorderedCpu);
