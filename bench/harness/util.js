'use strict';
// What every bench module shares: progress lines, statistics, the machine
// description, child processes, and the C programs built from bench/c/.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
/** Compiled C programs; build/ is gitignored (and wiped by node-gyp rebuild). */
const BIN_DIR = path.join(ROOT, 'build', 'bench');

/** One progress line on stderr; stdout is kept for results. */
function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

/** median, min and max of a list of numbers (ns per operation). */
function summarize(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], rounds: s.length, samples };
}

function readFirst(file, re) {
  try {
    const m = fs.readFileSync(file, 'utf8').match(re);
    return m ? m[1].trim() : undefined;
  } catch {
    return undefined;
  }
}

/** cpu model, cores, memory, kernel and node version. */
function machine() {
  const cpus = os.cpus();
  const flags = readFirst('/proc/cpuinfo', /flags\s*:\s*(.*)/) || '';
  return {
    cpu: (cpus[0] && cpus[0].model) || readFirst('/proc/cpuinfo', /model name\s*:\s*(.*)/) || 'unknown',
    virtual: /\bhypervisor\b/.test(flags),
    clwb: /\bclwb\b/.test(flags),
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    libpmem: pkgVersion('libpmem'),
    disk: mountOf(path.join(ROOT, 'bench')),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function pkgVersion(name) {
  try {
    return execFileSync('pkg-config', ['--modversion', name], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The device and filesystem type holding `dir`, from /proc/mounts (longest prefix). */
function mountOf(dir) {
  let best = { point: '', text: 'unknown' };
  let mounts = '';
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return best.text;
  }
  const real = fs.realpathSync(dir);
  for (const line of mounts.split('\n')) {
    const [dev, point, type] = line.split(' ');
    if (!point) continue;
    const inside = real === point || real.startsWith(point.endsWith('/') ? point : point + '/');
    if (inside && point.length >= best.point.length) best = { point, text: `${dev} (${type}, ${point})` };
  }
  return best.text;
}

/** A copy of the environment with PMEM_IS_PMEM_FORCE set (force) or removed. */
function pmemEnv(force) {
  const env = { ...process.env };
  delete env.PMEM_IS_PMEM_FORCE;
  if (force) env.PMEM_IS_PMEM_FORCE = '1';
  return env;
}

/**
 * Runs a program to completion and parses the last line of its stdout as
 * JSON. libpmem reads PMEM_IS_PMEM_FORCE once, when it loads, so every
 * measurement that depends on it runs in a child of its own.
 */
function runJson(file, args, { env = process.env, cwd = ROOT } = {}) {
  const r = spawnSync(file, args, { env, cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${path.basename(file)} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Runs a Node.js script of bench/ in a child process; see runJson. */
function runNode(script, args, options) {
  return runJson(process.execPath, [path.join(ROOT, 'bench', script), ...args], options);
}

/**
 * Compiles bench/c/<name>.c with gcc -O2 against the system libpmem (or the
 * pkg-config packages given), unless the binary is newer than its source,
 * every header in bench/c/ and this file. Returns the binary's path.
 * Functions and loops start on 64-byte boundaries: where gcc puts a loop
 * otherwise depends on the code before it, and that alone moved
 * kv-get-floor.c's get by 35 ns on the AMD EPYC host (docs/bench.md).
 */
function buildC(name, packages = ['libpmem']) {
  const src = path.join(ROOT, 'bench', 'c', `${name}.c`);
  const bin = path.join(BIN_DIR, name);
  // The source and the headers beside it (bench/c/kv-index.h).
  const dir = path.dirname(src);
  const newest = Math.max(fs.statSync(src).mtimeMs, fs.statSync(__filename).mtimeMs,
    ...fs.readdirSync(dir).filter((f) => f.endsWith('.h')).map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
  if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= newest) return bin;
  fs.mkdirSync(BIN_DIR, { recursive: true });
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', ...packages], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  log(`compiling bench/c/${name}.c`);
  execFileSync('gcc', ['-O2', '-falign-functions=64', '-falign-loops=64', '-Wall', '-Wextra', '-o', bin, src, ...flags], { stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

/** Makes `dir` and returns it, after removing anything left there. */
function freshDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A mistake on the command line: reported as a message, without a stack. */
class UsageError extends Error {}

/** Parses --flag and --flag value options; unknown flags are an error. */
function parseArgs(argv, spec) {
  const out = {};
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.replace(/^--/, '');
    const s = spec[name];
    if (!a.startsWith('--') || !s) throw new UsageError(`unknown option ${a}; options: ${Object.keys(spec).map((k) => '--' + k).join(', ')}`);
    if (s.type === 'boolean') out[name] = true;
    else {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      out[name] = s.type === 'number' ? Number(argv[++i]) : argv[++i];
    }
  }
  return out;
}

module.exports = { ROOT, BIN_DIR, log, summarize, machine, pmemEnv, runJson, runNode, buildC, freshDir, parseArgs, UsageError };
