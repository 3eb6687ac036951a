'use strict';
// pmem serve against Debian's redis-server, measured in one run with
// Debian's redis-benchmark (-t set,get,incr,mset -d 100 -r 100000, -c 1 and
// -c 50, -P 1 and -P 16):
//   A  redis-server, appendonly yes, appendfsync always, data on disk;
//   A' the same with its data on /dev/shm;
//   B  redis-server, appendonly yes, appendfsync no;
//   C  pmem serve (PMEM_IS_PMEM_FORCE=1 on /dev/shm: CLWB+SFENCE on DRAM).
// Prints a markdown table (requests/s and SET p99) with C's ratios to A and
// B, and SET's rates as a text bar chart, after one untimed warm-up pass per
// server; writes the same, with an SVG chart, to bench/results/serve-DATE.*
// (not with --quick). redis-benchmark shares the CPUs with the server it
// measures.
//
//   node bench/serve.js [--quick]

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const quick = process.argv.includes('--quick');
const TESTS = 'set,get,incr,mset';

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function need(cmd) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    throw new Error(`${cmd} not found: run bash scripts/redis-suite.sh (installs redis-server and redis-tools)`);
  }
}

async function waitReady(port) {
  for (let i = 0; i < 300; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers on port ${port}`);
}

async function startRedis(dir, fsync) {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', fsync, '--daemonize', 'no', '--logfile', ''], { stdio: 'ignore' });
  await waitReady(port);
  return { port, child };
}

async function startPmem(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'pmem'), 'serve', '--port', String(port), '--file', path.join(dir, 'serve.kv')], {
    stdio: 'ignore', env: { ...process.env, PMEM_IS_PMEM_FORCE: '1' },
  });
  await waitReady(port);
  return { port, child };
}

/** redis-benchmark's CSV: test -> { rps, p99 (ms) }. */
function bench(port, clients, pipeline, tests = TESTS) {
  // Long enough to measure each server past its start: 50,000 requests at
  // -c 50 -P 16 took 0.06-0.15 s, and five such runs of one server spread
  // from 338k to 575k SET/s, with a 26 ms p99 in one of them. C's runs now
  // include the store's cleaning and growth as well.
  const n = quick ? 5000 : clients === 1 && pipeline === 1 ? 20000 : 200000;
  const r = spawnSync('redis-benchmark', ['-p', String(port), '-t', tests, '-d', '100', '-r', '100000', '-n', String(n),
    '-c', String(clients), '-P', String(pipeline), '--csv'], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  const out = {};
  for (const line of r.stdout.trim().split('\n').slice(1)) {
    const f = line.split(',').map((x) => x.replace(/"/g, ''));
    out[f[0].split(' ')[0].toLowerCase()] = { rps: Number(f[1]), p99: Number(f[6]) };
  }
  return out;
}

async function main() {
  need('redis-server');
  need('redis-benchmark');
  fs.mkdirSync(path.join(ROOT, '.cache'), { recursive: true }); // A's data on disk, under the checkout (absent in a fresh one)
  const diskDir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-serve-'));
  const shmDir = fs.mkdtempSync(path.join('/dev/shm', 'pmem-bench-serve-'));
  const configs = [
    ['A', 'redis-server, appendfsync always, disk', () => startRedis(path.join(diskDir, 'a'), 'always')],
    ["A'", 'redis-server, appendfsync always, /dev/shm', () => startRedis(path.join(shmDir, 'a2'), 'always')],
    ['B', 'redis-server, appendfsync no, disk', () => startRedis(path.join(diskDir, 'b'), 'no')],
    ['C', 'pmem serve, forced, /dev/shm', () => startPmem(path.join(shmDir, 'c'))],
  ];
  const shapes = [[1, 1], [1, 16], [50, 1], [50, 16]];
  const results = {};
  try {
    for (const [name, , start] of configs) {
      const s = await start();
      try {
        // One untimed pass for every config alike: the first requests after a
        // start pay for JIT warm-up and first-touch page faults of a new file.
        spawnSync('redis-benchmark', ['-p', String(s.port), '-t', TESTS, '-d', '100', '-r', '100000', '-n', '50000', '-c', '50', '-P', '16', '-q'], { stdio: 'ignore' });
        for (const [c, p] of shapes) {
          process.stderr.write(`serve bench: ${name} -c ${c} -P ${p}\n`);
          spawnSync('redis-cli', ['-p', String(s.port), 'flushall']);
          results[`${name} ${c} ${p}`] = bench(s.port, c, p);
        }
      } finally {
        s.child.kill('SIGTERM');
        await new Promise((r) => s.child.once('exit', r));
      }
    }
  } finally {
    fs.rmSync(diskDir, { recursive: true, force: true });
    fs.rmSync(shmDir, { recursive: true, force: true });
  }
  const k = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : String(Math.round(x)));
  let md = `## serve\n\nredis-benchmark -t ${TESTS} -d 100 -r 100000; requests/s, and SET's p99 in ms. ${os.cpus().length} CPUs (${os.cpus()[0].model}), ` +
    `loaded and shared: provisional. C runs forced (CLWB+SFENCE on DRAM).\n\n| config | -c | -P | SET | GET | INCR | MSET | SET p99 |\n|---|---|---|---|---|---|---|---|\n`;
  for (const [name] of configs) {
    for (const [c, p] of shapes) {
      const r = results[`${name} ${c} ${p}`];
      md += `| ${name} | ${c} | ${p} | ${k(r.set.rps)} | ${k(r.get.rps)} | ${k(r.incr.rps)} | ${k(r.mset.rps)} | ${r.set.p99} |\n`;
    }
  }
  md += '\nC\'s SET rate as a ratio (target: ≥ 5× A at -c 1, ≥ 1.5× A at -c 50, ≥ 0.7× B; p99 ≤ A\' p99):\n\n| -c | -P | C/A | C/A\' | C/B | C p99 / A\' p99 |\n|---|---|---|---|---|---|\n';
  for (const [c, p] of shapes) {
    const g = (n) => results[`${n} ${c} ${p}`].set;
    md += `| ${c} | ${p} | ${(g('C').rps / g('A').rps).toFixed(2)} | ${(g('C').rps / g("A'").rps).toFixed(2)} | ${(g('C').rps / g('B').rps).toFixed(2)} | ${(g('C').p99 / g("A'").p99).toFixed(2)} |\n`;
  }
  md += `\nSET requests/s (log scale):\n\n\`\`\`\n${textChart(results, configs.map(([n]) => n), shapes)}\`\`\`\n`;
  process.stdout.write(`${md}\n`);
  process.stdout.write(`${JSON.stringify({ markdown: md, results })}\n`);
  if (!quick) {
    const stem = path.join(__dirname, 'results', `serve-${new Date().toISOString().slice(0, 10)}`);
    fs.writeFileSync(`${stem}.md`, md);
    fs.writeFileSync(`${stem}.json`, `${JSON.stringify({ machine: `${os.cpus().length} CPUs (${os.cpus()[0].model})`, loadAverage: os.loadavg(), results }, null, 1)}\n`);
    fs.writeFileSync(`${stem}.svg`, svgChart(results, configs, shapes));
    process.stderr.write(`serve bench: wrote ${stem}.md, .json and .svg\n`);
  }
}

const COLORS = { A: '#9aa4ae', "A'": '#d4a72c', B: '#1f6feb', C: '#2da44e' };
/** Where a rate lands on the charts' log scale, from 0 to 1 (100/s to 1M/s). */
const logPos = (v) => Math.min(1, Math.max(0, Math.log10(Math.max(v, 100) / 100) / 4));

/** SET requests/s per shape and config as bars of text on a log scale. */
function textChart(results, names, shapes) {
  let out = '';
  for (const [c, p] of shapes) {
    out += `-c ${c} -P ${p}\n`;
    for (const n of names) {
      const v = results[`${n} ${c} ${p}`].set.rps;
      out += `  ${n.padEnd(2)} ${'█'.repeat(Math.max(1, Math.round(logPos(v) * 50))).padEnd(50)} ${Math.round(v)}\n`;
    }
  }
  return out;
}

/** The same chart as an SVG: one group of bars per shape, one bar per config. */
function svgChart(results, configs, shapes) {
  const left = 90;
  const width = 900;
  const plot = width - left - 110;
  const bar = 14;
  const group = configs.length * (bar + 3) + 16;
  const top = 48 + Math.ceil(configs.length / 2) * 16 + 12;
  const height = top + shapes.length * group + 30;
  const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">SET requests/s: pmem serve (C) against redis-server (A, A', B)</text>`,
    `<text x="10" y="40" font-size="11" fill="#57606a">${esc(`redis-benchmark -t set -d 100 -r 100000; ${os.cpus().length} CPUs (${os.cpus()[0].model}), shared and loaded: provisional. Log scale.`)}</text>`];
  configs.forEach(([n, label], j) => {
    const lx = 10 + (j % 2) * 440;
    const ly = 48 + Math.floor(j / 2) * 16;
    out.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${COLORS[n]}"/><text x="${lx + 14}" y="${ly + 9}" font-size="11">${esc(`${n}: ${label}`)}</text>`);
  });
  for (let d = 2; d <= 6; d++) {
    const x = left + plot * logPos(10 ** d);
    out.push(`<line x1="${x}" x2="${x}" y1="${top - 4}" y2="${height - 26}" stroke="#d0d7de"/><text x="${x}" y="${height - 12}" font-size="10" text-anchor="middle" fill="#57606a">${10 ** d >= 1000 ? `${10 ** d / 1000}k` : 10 ** d}</text>`);
  }
  shapes.forEach(([c, p], i) => {
    const y0 = top + i * group;
    out.push(`<text x="10" y="${y0 + group / 2}" font-size="12">-c ${c} -P ${p}</text>`);
    configs.forEach(([n], j) => {
      const v = results[`${n} ${c} ${p}`].set.rps;
      const y = y0 + j * (bar + 3);
      const w = Math.max(1, plot * logPos(v));
      out.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${COLORS[n]}"/><text x="${(left + w + 4).toFixed(1)}" y="${y + bar - 3}" font-size="10">${esc(`${n} ${Math.round(v)}`)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// bench/serve-collections.js measures other commands with the same servers.
module.exports = { need, startRedis, startPmem, bench };

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
