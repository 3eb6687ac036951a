'use strict';
// Runs the key-value workloads: every configuration of harness/drivers.js at
// every place it applies, each trial in a child process (harness/trial.js,
// or bench/c/floor.c for the floor), rounds interleaved across all of them.

const fs = require('node:fs');
const path = require('node:path');
const { CONFIGS } = require('./drivers');
const { WORKLOADS } = require('./trial');
const { ROOT, log, summarize, pmemEnv, runJson, runNode, buildC, freshDir } = require('./util');

const KEY_BYTES = 16;
const VALUE_SIZES = [100, 4096];

/** The tmpfs directory of the stores: under PMEM_BENCH_DIR (as bench/kv.js, tx.js and wal.js use it), else /dev/shm. */
const SHM = path.join(process.env.PMEM_BENCH_DIR || '/dev/shm', 'pmem-bench');

/** Where the stores live. Only libpmem reads PMEM_IS_PMEM_FORCE, so only pmem configurations run forced. */
const PLACES = [
  { id: 'shm', label: '/dev/shm', dir: SHM, force: false },
  { id: 'shm-forced', label: '/dev/shm, PMEM_IS_PMEM_FORCE=1', dir: SHM, force: true, pmemOnly: true },
  { id: 'disk', label: 'disk', dir: path.join(ROOT, 'bench', 'results', '.data'), force: false },
];

/**
 * The (configuration, place) pairs to run, and the notes for those skipped;
 * `configs` and `places`, when given, list the ids to keep.
 */
function cells(configs, places) {
  const run = [];
  const skipped = [];
  for (const config of CONFIGS) {
    if (configs && !configs.includes(config.id)) continue;
    const ok = config.available ? config.available() : true;
    if (ok !== true) {
      skipped.push({ config: config.id, label: config.label, note: ok });
      continue;
    }
    for (const place of PLACES) {
      if (place.pmemOnly && !config.pmem) continue;
      if (places && !places.includes(place.id)) continue;
      run.push({ config, place });
    }
  }
  return { run, skipped };
}

function trial(cell, spec) {
  const env = pmemEnv(cell.place.force);
  const dir = path.join(cell.place.dir, `${cell.config.id}-${cell.place.id}`);
  if (cell.config.floor) {
    freshDir(dir);
    const bin = buildC('floor');
    const r = runJson(bin, [path.join(dir, 'floor.dat'), String(spec.records), String(KEY_BYTES), String(spec.valueBytes), String(spec.seed)], { env });
    fs.rmSync(dir, { recursive: true, force: true });
    const pick = (o) => Object.fromEntries(spec.workloads.map((w) => [w, o[w]]));
    return { ns: pick(r.ns), chunkNs: pick(r.chunkNs), isPmem: Boolean(r.isPmem) };
  }
  const json = JSON.stringify({ ...spec, config: cell.config.id, dir, keyBytes: KEY_BYTES });
  return runNode(path.join('harness', 'trial.js'), [json], { env });
}

const us = (ns) => (ns >= 10000 ? `${(ns / 1000).toFixed(0)} µs` : ns >= 1000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);

/**
 * Runs `rounds` rounds; in each, every cell once per value size, starting
 * one cell further along each round so that no configuration always runs
 * first or last. Returns rows of medians with min and max, and each row's
 * ratio to the C floor at the same place.
 */
function runKv({ quick = false, workloads = WORKLOADS, records, rounds, configs, places, valueSizes = VALUE_SIZES } = {}) {
  records = records || (quick ? 1000 : 10000);
  rounds = rounds || (quick ? 3 : 5);
  // Each trial's untimed warm-up (harness/trial.js): records to write, or milliseconds.
  const warm = quick ? { records: 10000, ms: 300 } : { records: 30000, ms: 1500 };
  const { run, skipped } = cells(configs, places);
  for (const s of skipped) log(`skipping ${s.label}: ${s.note}`);
  for (const place of PLACES) freshDir(place.dir);

  const samples = new Map(); // `${config}|${place}|${valueBytes}|${workload}` -> ns[]
  const chunkSamples = new Map(); // the same keys -> each trial's median of 1000-operation chunks
  const failed = new Map(); // `${config}|${place}` -> what went wrong
  const total = rounds * valueSizes.length * run.length;
  let done = 0;
  for (let r = 0; r < rounds; r++) {
    for (const valueBytes of valueSizes) {
      for (let k = 0; k < run.length; k++) {
        const cell = run[(k + r) % run.length];
        const cellId = `${cell.config.id}|${cell.place.id}`;
        done++;
        if (failed.has(cellId)) continue;
        const spec = { records, valueBytes, seed: 1000 + r, workloads, warm };
        let res;
        try {
          res = trial(cell, spec);
        } catch (err) {
          // One competitor failing does not stop the others; it is reported.
          const message = String(err.message).trim().split('\n').slice(-1)[0].replace(/^failed: /, '');
          failed.set(cellId, { config: cell.config.id, label: cell.config.label, place: cell.place.label, message });
          log(`[${done}/${total}] ${cell.config.id} on ${cell.place.label} FAILED, left out of the rest of the run: ${message}`);
          continue;
        }
        const parts = [];
        for (const w of workloads) {
          const key = `${cell.config.id}|${cell.place.id}|${valueBytes}|${w}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key).push(res.ns[w]);
          if (!chunkSamples.has(key)) chunkSamples.set(key, []);
          chunkSamples.get(key).push(res.chunkNs[w]);
          parts.push(`${w} ${us(res.ns[w])}`);
        }
        log(`[${done}/${total}] round ${r + 1}/${rounds}, ${valueBytes} B values, ${cell.config.id} on ${cell.place.label}: ${parts.join(', ')}`);
      }
    }
  }
  for (const place of PLACES) fs.rmSync(place.dir, { recursive: true, force: true });

  const rows = [];
  for (const w of workloads) {
    for (const valueBytes of valueSizes) {
      for (const { config, place } of run) {
        if (failed.has(`${config.id}|${place.id}`)) continue;
        const s = summarize(samples.get(`${config.id}|${place.id}|${valueBytes}|${w}`));
        const floor = failed.has(`c-floor|${place.id}`) ? null : samples.get(`c-floor|${place.id}|${valueBytes}|${w}`);
        // The same, of the trials' median chunks: a trial the scheduler
        // interrupted moves the whole-phase time, not the median chunk.
        const chunk = summarize(chunkSamples.get(`${config.id}|${place.id}|${valueBytes}|${w}`));
        const chunkFloor = failed.has(`c-floor|${place.id}`) ? null : chunkSamples.get(`c-floor|${place.id}|${valueBytes}|${w}`);
        rows.push({
          workload: w,
          valueBytes,
          config: config.id,
          competitor: config.competitor,
          label: config.label,
          readLabel: config.readLabel || null,
          place: place.id,
          placeLabel: place.label,
          durability: w === 'readrandom' ? null : config.durability,
          ...s,
          floorRatio: floor ? s.median / summarize(floor).median : null,
          chunkMedian: chunk.median,
          chunkFloorRatio: chunkFloor ? chunk.median / summarize(chunkFloor).median : null,
        });
      }
    }
  }
  return { records, rounds, keyBytes: KEY_BYTES, valueSizes, workloads, places: PLACES.map(({ id, label, force }) => ({ id, label, force })), skipped, failed: [...failed.values()], rows };
}

module.exports = { runKv, VALUE_SIZES, KEY_BYTES, PLACES };

// node bench/harness/kv.js [--quick] [--configs id,id] [--places id,id]
//   [--records N] [--rounds N] [--value-bytes B,B] [--out dir]:
// the key-value workloads alone, for some configurations and places (ids
// in drivers.js and PLACES above), written as bench/index.js writes a run.
// `--records 1000000 --value-bytes 100` measures the steady state
// bench/kv.js measures (docs/bench.md, "The harness and bench/kv.js at
// the same scale").
if (require.main === module) {
  const report = require('./report');
  const { machine, parseArgs } = require('./util');
  const o = parseArgs(process.argv.slice(2), {
    quick: { type: 'boolean', default: false },
    configs: { type: 'string' },
    places: { type: 'string' },
    records: { type: 'number' },
    rounds: { type: 'number' },
    'value-bytes': { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  });
  const started = new Date();
  const only = [o.configs && `configurations ${o.configs}`, o.places && `places ${o.places}`].filter(Boolean).join('; ');
  const res = { date: started.toISOString().slice(0, 10), started: started.toISOString(), quick: o.quick, only: only || 'key-value workloads', machine: machine() };
  const count = (name) => {
    const n = o[name];
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1)) throw new Error(`--${name} must be a whole number from 1, got ${n}`);
    return n;
  };
  const valueSizes = o['value-bytes']?.split(',').map((v) => {
    const n = Number(v);
    if (!(Number.isSafeInteger(n) && n >= 1)) throw new Error(`--value-bytes takes sizes from 1 byte, got '${v}'`);
    return n;
  });
  res.kv = runKv({
    quick: o.quick, configs: o.configs?.split(','), places: o.places?.split(','), records: count('records'), rounds: count('rounds'), valueSizes,
  });
  res.seconds = Math.round((Date.now() - started.getTime()) / 1000);
  fs.mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `bench-kv-${started.toISOString().slice(0, 16).replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''))}`);
  const md = report.markdown(res);
  fs.writeFileSync(`${base}.md`, md + '\n');
  fs.writeFileSync(`${base}.json`, JSON.stringify(res, null, 2) + '\n');
  process.stdout.write(md + '\n');
  log(`done in ${res.seconds} s; wrote ${base}.{md,json}`);
}
