'use strict';
// `npm run bench`: every workload, pmem against the C floor and against
// lmdb-js, better-sqlite3 and classic-level, in one run on one machine.
//
//   node bench/index.js [--quick] [--only <workload>[,<workload>...]] [--out <dir>]
//
// Workloads: persist (bench/persist.js), fillrandom, overwrite, readrandom
// (bench/<name>.js, run by harness/kv.js), tx (bench/tx.js), wal
// (bench/wal.js), atomics (bench/atomics.js), sort (bench/sort.js) and
// readers (bench/readers.js), cache (bench/cache.js), serve (bench/serve.js: pmem
// serve against redis-server) and replicate (bench/replicate.js: the replicated
// journal against local commits), which run as child scripts.
// Writes <out>/bench-<date>-<time>.{md,json,svg}; progress goes to stderr.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, log, machine, parseArgs, UsageError } = require('./harness/util');
const persist = require('./persist');
const { runKv } = require('./harness/kv');
const { WORKLOADS: KV_WORKLOADS } = require('./harness/trial');
const report = require('./harness/report');

// Workloads that run as a child script of their own and print their report.
const CHILD_BENCHES = ['tx', 'wal', 'atomics', 'sort', 'readers', 'cache', 'serve', 'replicate'];
const ALL = ['persist', ...KV_WORKLOADS, ...CHILD_BENCHES];

/**
 * bench/<name>.js runs as a child with --quick passed on; its stdout goes
 * into the report as it is (or as JSON when its last line parses), its
 * stderr shows as progress.
 */
function runChildBench(name, quick) {
  const script = path.join(__dirname, `${name}.js`);
  const r = spawnSync(process.execPath, [script, ...(quick ? ['--quick'] : [])], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`bench/${name}.js exited with ${r.status ?? r.signal}`);
  const text = r.stdout;
  let json = null;
  try {
    json = JSON.parse(text.trim().split('\n').pop());
  } catch {
    // plain text
  }
  // Markdown: a JSON last line with a markdown field, or output that starts with a heading.
  const markdown = json && typeof json.markdown === 'string' ? json.markdown : text.startsWith('## ') ? text : null;
  return { name, text, json, markdown };
}

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  });
  // --only takes one workload, or several separated by commas.
  const only = opts.only ? opts.only.split(',') : null;
  if (only !== null && (only.length === 0 || !only.every((w) => ALL.includes(w)))) {
    throw new UsageError(`--only takes one or more (comma-separated) of ${ALL.join(', ')}`);
  }
  const want = (w) => only === null || only.includes(w);

  const m = machine();
  const started = new Date();
  const date = started.toISOString().slice(0, 10);
  log(`${m.cpu}${m.virtual ? ' (virtual machine)' : ''}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}, Node.js ${m.node}, libpmem ${m.libpmem}`);
  log(`load average ${m.loadAverage.join(', ')}: other work on this machine shows as spread between min and max`);
  log(`durability modes: /dev/shm with msync (is_pmem=0) and with PMEM_IS_PMEM_FORCE=1 (CLWB+SFENCE on DRAM); disk: ${m.disk}`);
  log('/dev/shm is DRAM: nothing there survives a power failure, whatever the mode');
  log(opts.quick ? 'quick run: fewer records and rounds' : 'full run');

  const res = { date, started: started.toISOString(), quick: opts.quick, only: opts.only || null, machine: m };
  if (want('persist')) {
    log('workload persist');
    res.persist = persist.run({ quick: opts.quick });
  }
  const kvWanted = KV_WORKLOADS.filter(want);
  if (kvWanted.length > 0) {
    log(`workloads ${kvWanted.join(', ')}`);
    res.kv = runKv({ quick: opts.quick, workloads: kvWanted });
  }
  res.extra = [];
  for (const name of CHILD_BENCHES.filter(want)) {
    log(`workload ${name} (bench/${name}.js)`);
    res.extra.push(runChildBench(name, opts.quick));
  }
  res.seconds = Math.round((Date.now() - started.getTime()) / 1000);
  res.loadAverageAtEnd = require('node:os').loadavg().map((x) => Math.round(x * 100) / 100);

  fs.mkdirSync(opts.out, { recursive: true });
  const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''));
  const base = path.join(opts.out, `bench-${stamp}`);
  const md = report.markdown(res);
  fs.writeFileSync(`${base}.md`, md + '\n');
  fs.writeFileSync(`${base}.json`, JSON.stringify(res, null, 2) + '\n');
  if (res.persist || res.kv) fs.writeFileSync(`${base}.svg`, report.svg(res));
  process.stdout.write(md + '\n');
  log(`done in ${res.seconds} s; wrote ${path.relative(process.cwd(), base)}.{md,json${res.persist || res.kv ? ',svg' : ''}}`);
}

try {
  main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\nusage: node bench/index.js [--quick] [--only <workload>[,<workload>...]] [--out <dir>]\n`);
  } else {
    process.stderr.write(`bench: ${err && err.stack ? err.stack : err}\n`);
  }
  process.exitCode = 1;
}
