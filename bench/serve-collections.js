'use strict';
// pmem serve's hashes, sets, lists and sorted sets against Debian's
// redis-server, in one run with Debian's redis-benchmark (-t hset,sadd,
// lpush,rpush,lpop,rpop,zadd,zpopmin and lrange_100, -d 100 -r 100000, and
// ZRANGE of a 100-member sorted set WITHSCORES as a command of its own):
//   A  redis-server, appendonly yes, appendfsync always, data on disk;
//   A' redis-server, appendonly yes, appendfsync always, data on /dev/shm;
//   B  redis-server, appendonly yes, appendfsync no;
//   C  pmem serve (PMEM_IS_PMEM_FORCE=1 on /dev/shm: CLWB+SFENCE on DRAM).
// The baseline is A': like C, every acknowledged write is durable (on the
// file system), on the same memory-backed file system. Prints requests/s
// and C's ratios to A' and B. redis-benchmark shares the CPUs with the
// server it measures.
//
//   node bench/serve-collections.js [--quick]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { bench, need, startPmem, startRedis } = require('./serve');

const quick = process.argv.includes('--quick');
const WRITES = 'hset,sadd,lpush,rpush,lpop,rpop,zadd,zpopmin';
const COLUMNS = ['hset', 'sadd', 'lpush', 'rpush', 'lpop', 'rpop', 'zadd', 'zpopmin', 'lrange_100', 'zrange'];
const ZRANGE_KEY = 'bench:zrange';

/** ZRANGE of a 100-member sorted set, WITHSCORES: requests/s and p99, as bench() reports a test. */
function zrange(port, clients, pipeline) {
  const members = [];
  for (let i = 0; i < 100; i++) members.push(String(i * 1.5), `member:${String(i).padStart(6, '0')}`);
  spawnSync('redis-cli', ['-p', String(port), 'zadd', ZRANGE_KEY, ...members]);
  const n = quick ? 5000 : clients === 1 && pipeline === 1 ? 10000 : 50000;
  const r = spawnSync('redis-benchmark', ['-p', String(port), '-n', String(n), '-c', String(clients), '-P', String(pipeline), '--csv',
    'zrange', ZRANGE_KEY, '0', '99', 'withscores'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  const f = r.stdout.trim().split('\n')[1].split(',').map((x) => x.replace(/"/g, ''));
  return { rps: Number(f[1]), p99: Number(f[6]) };
}

async function main() {
  need('redis-server');
  need('redis-benchmark');
  const shmDir = fs.mkdtempSync(path.join('/dev/shm', 'pmem-bench-collections-'));
  fs.mkdirSync(path.join(__dirname, '..', '.cache'), { recursive: true }); // A's data on disk, under the checkout (absent in a fresh one)
  const diskDir = fs.mkdtempSync(path.join(__dirname, '..', '.cache', 'bench-collections-'));
  const configs = [
    ['A', () => startRedis(path.join(diskDir, 'a'), 'always')],
    ["A'", () => startRedis(path.join(shmDir, 'a2'), 'always')],
    ['B', () => startRedis(path.join(diskDir, 'b'), 'no')],
    ['C', () => startPmem(path.join(shmDir, 'c'))],
  ];
  const shapes = quick ? [[50, 1]] : [[1, 1], [1, 16], [50, 1], [50, 16]];
  const results = {};
  try {
    for (const [name, start] of configs) {
      const s = await start();
      try {
        // One untimed pass for every config alike (JIT warm-up, first-touch page faults).
        spawnSync('redis-benchmark', ['-p', String(s.port), '-t', WRITES, '-d', '100', '-r', '100000', '-n', '20000', '-c', '50', '-q'], { stdio: 'ignore' });
        for (const [c, p] of shapes) {
          process.stderr.write(`serve-collections bench: ${name} -c ${c} -P ${p}\n`);
          spawnSync('redis-cli', ['-p', String(s.port), 'flushall']);
          const r = bench(s.port, c, p, WRITES);
          // LRANGE_100 is measured on its own: its run pushes first, and that LPUSH line would replace the one above.
          r.lrange_100 = bench(s.port, c, p, 'lrange_100').lrange_100;
          r.zrange = zrange(s.port, c, p);
          results[`${name} ${c} ${p}`] = r;
        }
      } finally {
        s.child.kill('SIGTERM');
        await new Promise((r) => s.child.once('exit', r));
      }
    }
  } finally {
    fs.rmSync(shmDir, { recursive: true, force: true });
    fs.rmSync(diskDir, { recursive: true, force: true });
  }
  const k = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : String(Math.round(x)));
  let md = `## serve: hashes, sets, lists and sorted sets\n\nredis-benchmark -d 100 -r 100000; requests/s. ${os.cpus().length} CPUs (${os.cpus()[0].model}), ` +
    `loaded and shared: provisional. C runs forced (CLWB+SFENCE on DRAM).\n\n| config | -c | -P | ${COLUMNS.join(' | ')} |\n|---|---|---|${COLUMNS.map(() => '---|').join('')}\n`;
  for (const [name] of configs) {
    for (const [c, p] of shapes) {
      const r = results[`${name} ${c} ${p}`];
      md += `| ${name} | ${c} | ${p} | ${COLUMNS.map((t) => k(r[t].rps)).join(' | ')} |\n`;
    }
  }
  md += `\nC's rate as a ratio to A, A' and B (the strings' targets: C ≥ 5× A at -c 1 -P 1, ≥ 1.5× A at -c 50, ≥ 0.7× B at -c 1 -P 16 and -c 50 -P 1):\n\n` +
    `| -c | -P | ${COLUMNS.map((t) => `${t} C/A | C/A' | C/B`).join(' | ')} |\n|---|---|${COLUMNS.map(() => '---|---|---|').join('')}\n`;
  for (const [c, p] of shapes) {
    const g = (n, t) => results[`${n} ${c} ${p}`][t].rps;
    md += `| ${c} | ${p} | ${COLUMNS.map((t) => `${(g('C', t) / g('A', t)).toFixed(2)} | ${(g('C', t) / g("A'", t)).toFixed(2)} | ${(g('C', t) / g('B', t)).toFixed(2)}`).join(' | ')} |\n`;
  }
  process.stdout.write(`${md}\n`);
  process.stdout.write(`${JSON.stringify({ markdown: md, results })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
