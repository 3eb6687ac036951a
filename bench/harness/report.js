'use strict';
// Turns a run's results into the markdown report and the SVG chart (hand
// written: horizontal bars on one log scale, a min–max whisker on each).

const persist = require('../persist');

function fmtNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e4 ? 0 : 1)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}

/** Two significant digits, three below 0.1: 0.013×, 0.7×, 1.9×, 23×, 450×. */
function fmtRatio(x) {
  if (x >= 10) return `${x.toFixed(0)}×`;
  if (x >= 0.1) return `${x.toFixed(1)}×`;
  return `${x.toPrecision(2)}×`;
}

function fmtRate(ns) {
  const ops = 1e9 / ns;
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)} M`;
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)} k`;
  return ops.toFixed(0);
}

function machineLines(m) {
  return [
    `- machine: ${m.cpu}${m.virtual ? ' (virtual machine)' : ''}, ${m.cores} cores, ${m.memoryGiB} GiB memory${m.clwb ? ', CLWB' : ''}`,
    `- kernel: ${m.kernel}; Node.js ${m.node}; libpmem ${m.libpmem}`,
    `- disk runs: ${m.disk}`,
    `- load average at the start (1, 5, 15 min): ${m.loadAverage.join(', ')}`,
    '- durability modes: /dev/shm with msync (is_pmem=0); /dev/shm with PMEM_IS_PMEM_FORCE=1 (CLWB+SFENCE on DRAM); disk with msync/fsync. /dev/shm does not survive a power failure in any mode.',
  ];
}

const PLACE_NOTES = {
  shm: '/dev/shm: tmpfs. pmem maps it with is_pmem=0 and persists with msync; the others fsync. Survives a process crash, not a power failure.',
  'shm-forced': '/dev/shm, PMEM_IS_PMEM_FORCE=1: pmem persists with CLWB+SFENCE on DRAM, as it would on real persistent memory. Not power-fail safe either.',
  disk: 'disk: a regular file system on a block device; fsync/msync reach the device.',
};

function kvTable(kv, workload, valueBytes) {
  const rows = kv.rows.filter((r) => r.workload === workload && r.valueBytes === valueBytes).sort((a, b) => a.median - b.median);
  const out = [];
  const reads = workload === 'readrandom';
  out.push(`| configuration | where | ${reads ? '' : 'guarantee | '}ns/op median (min–max) | ops/s | × C floor, same place | median 1000-op chunk | × C floor |`);
  out.push(`|---|---|${reads ? '' : '---|'}---:|---:|---:|---:|---:|`);
  for (const r of rows) {
    const ratio = r.floorRatio === null ? '–' : fmtRatio(r.floorRatio);
    const label = reads && r.readLabel ? r.readLabel : r.label;
    // Runs recorded before chunks were timed have no chunk columns.
    const chunk = r.chunkMedian === undefined ? '–' : fmtNs(r.chunkMedian);
    const chunkRatio = r.chunkFloorRatio === undefined || r.chunkFloorRatio === null ? '–' : fmtRatio(r.chunkFloorRatio);
    out.push(`| ${label} | ${r.placeLabel} | ${reads ? '' : r.durability + ' | '}${fmtNs(r.median)} (${fmtNs(r.min)}–${fmtNs(r.max)}) | ${fmtRate(r.median)} | ${ratio} | ${chunk} | ${chunkRatio} |`);
  }
  return out;
}

/**
 * Every configuration on one line per place: the median of each workload and
 * value size, with the guarantee of its puts. The full tables follow it.
 */
function summaryTable(kv) {
  const cols = kv.workloads.flatMap((w) => kv.valueSizes.map((v) => ({ w, v })));
  const size = (v) => (v >= 1024 ? `${v / 1024} KiB` : `${v} B`);
  const out = [
    `| configuration | where | guarantee | ${cols.map((c) => `${c.w} ${size(c.v)}`).join(' | ')} |`,
    `|---|---|---|${cols.map(() => '---:').join('|')}|`,
  ];
  const seen = new Set();
  for (const r of kv.rows) {
    const id = `${r.config}|${r.place}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const cell = (c) => {
      const x = kv.rows.find((y) => y.config === r.config && y.place === r.place && y.workload === c.w && y.valueBytes === c.v);
      return x ? fmtNs(x.median) : '–';
    };
    const guarantee = kv.rows.find((y) => y.config === r.config && y.durability)?.durability || '–';
    out.push(`| ${r.label} | ${r.placeLabel} | ${guarantee} | ${cols.map(cell).join(' | ')} |`);
  }
  return out;
}

/** A workload's one-line description, from its module. */
const describe = (w) => require(`../${w}`).description;

/** The whole report as markdown. */
function markdown(res) {
  const out = [`# pmem benchmarks, ${res.date}`, ''];
  out.push(...machineLines(res.machine));
  out.push(`- run: ${res.quick ? '--quick' : 'full'}${res.only ? `, --only ${res.only}` : ''}; every number is measured in this run; A/B rounds interleaved across all configurations`, '');
  if (res.persist) {
    out.push('## persist: JS set + persist against the C floor', '');
    out.push(persist.markdown(res.persist), '');
  }
  if (res.kv) {
    const kv = res.kv;
    out.push('## Key-value workloads', '');
    out.push(`${kv.keyBytes} B keys, ${kv.records} records per trial, ${kv.rounds} rounds; each trial on a fresh store in a child process. Places:`, '');
    for (const p of kv.places) out.push(`- ${PLACE_NOTES[p.id]}`);
    out.push('', 'Guarantees: "durable on return" means the put survives a power failure once the call returns (on a medium that does); "durable after flush" only once the awaited `flushed` resolves (its time is included); "not durable" may lose recent puts at a power failure, not at a process crash.', '');
    for (const s of kv.skipped) out.push(`> ${s.label}: skipped, ${s.note}.`, '');
    for (const f of kv.failed || []) out.push(`> ${f.label} on ${f.place}: FAILED, left out: ${f.message}`, '');
    out.push('Medians, ns per operation (the tables below give min, max and ratios). The C floor of a put writes into memory it faulted in beforehand; ' +
      'a store that takes a page fault on fresh pages pays that on top (KVStore faults its log in ahead of the tail). ' +
      'For readrandom the C floor is a get through a DRAM hash index of KVStore\'s shape and a memcpy of the value (bench/c/kv-index.h).', '');
    out.push(...summaryTable(kv), '');
    for (const w of kv.workloads) {
      for (const v of kv.valueSizes) {
        out.push(`### ${w}, ${v} B values: ${describe(w)}`, '');
        out.push(...kvTable(kv, w, v), '');
      }
    }
  }
  for (const x of res.extra || []) {
    out.push(`## ${x.name}`, '', x.markdown || '```\n' + x.text.trim() + '\n```', '');
  }
  return out.join('\n');
}

// --- SVG -------------------------------------------------------------------

const COLORS = {
  'durable on return': '#1f6feb',
  'durable after flush': '#8957e5',
  'not durable': '#9aa4ae',
  read: '#2da44e',
  js: '#1f6feb',
  c: '#57606a',
};

/** Axis labels at powers of ten: 1 ns, 10 ns, 100 ns, 1 µs, … */
function tick(ns) {
  const units = [[1e6, 'ms'], [1e3, 'µs'], [1, 'ns']];
  const [div, unit] = units.find(([d]) => ns >= d) || units[2];
  return `${Math.round(ns / div)} ${unit}`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Places as the chart names them, to keep its labels inside the margin. */
const SHORT_PLACE = { shm: '/dev/shm', 'shm-forced': '/dev/shm forced', disk: 'disk' };

function panels(res) {
  const list = [];
  if (res.persist) {
    for (const mode of ['msync', 'forced']) {
      const bars = [];
      for (const r of res.persist.rows.filter((x) => x.mode === mode)) {
        bars.push({ label: `JS set+persist ${r.size} B`, ...r.js, color: COLORS.js });
        bars.push({ label: `C memcpy+persist ${r.size} B`, ...r.c, color: COLORS.c });
      }
      list.push({ title: `persist, /dev/shm, ${mode === 'forced' ? 'PMEM_IS_PMEM_FORCE=1' : 'msync'}`, bars });
    }
  }
  if (res.kv) {
    for (const w of res.kv.workloads) {
      for (const v of res.kv.valueSizes) {
        const rows = res.kv.rows.filter((r) => r.workload === w && r.valueBytes === v).sort((a, b) => a.median - b.median);
        list.push({
          title: `${w}, ${res.kv.keyBytes} B keys, ${v} B values`,
          bars: rows.map((r) => ({
            label: `${r.durability === null && r.readLabel ? r.readLabel : r.label} · ${SHORT_PLACE[r.place] || r.placeLabel}`,
            median: r.median,
            min: r.min,
            max: r.max,
            color: r.durability ? COLORS[r.durability] : COLORS.read,
          })),
        });
      }
    }
  }
  return list;
}

/** A bar chart of every median, ns per operation on a log scale. */
function svg(res) {
  const list = panels(res);
  const W = 1000;
  const LABEL = 400;
  const RIGHT = 70;
  const BAR = 14;
  const GAP = 4;
  const all = list.flatMap((p) => p.bars.flatMap((b) => [b.min, b.max]));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
  const x = (ns) => LABEL + ((Math.log10(ns) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - LABEL - RIGHT);
  const out = [];
  let y = 66;
  out.push(`<text x="10" y="22" font-size="16" font-weight="bold">${esc(`pmem benchmarks, ${res.date}: ns per operation, log scale (median, whisker min–max)`)}</text>`);
  out.push(`<text x="10" y="40" font-size="11" fill="#57606a">${esc(`${res.machine.cpu}, ${res.machine.cores} cores, ${res.machine.kernel}, Node.js ${res.machine.node}. "forced": PMEM_IS_PMEM_FORCE=1. /dev/shm is lost at power failure.`)}</text>`);
  let lx = 10;
  for (const [name, color] of [['durable on return', COLORS['durable on return']], ['durable after flush', COLORS['durable after flush']], ['not durable', COLORS['not durable']], ['read', COLORS.read], ['C (persist)', COLORS.c]]) {
    out.push(`<rect x="${lx}" y="48" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="57" font-size="11">${esc(name)}</text>`);
    lx += name.length * 6 + 30;
  }
  for (const p of list) {
    y += 18;
    out.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    y += 8;
    // Grid first, so the bars are drawn over it.
    const bottom = y + p.bars.length * (BAR + GAP);
    for (let t = lo; t <= hi; t *= 10) {
      out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y - 2}" y2="${bottom}" stroke="#d0d7de" stroke-width="1"/>`);
      out.push(`<text x="${x(t).toFixed(1)}" y="${bottom + 11}" font-size="10" text-anchor="middle" fill="#57606a">${tick(t)}</text>`);
    }
    for (const b of p.bars) {
      const cy = y + BAR / 2;
      out.push(`<text x="${LABEL - 6}" y="${cy + 4}" font-size="11" text-anchor="end">${esc(b.label)}</text>`);
      out.push(`<rect x="${LABEL}" y="${y}" width="${Math.max(1, x(b.median) - LABEL).toFixed(1)}" height="${BAR}" fill="${b.color}"/>`);
      out.push(`<line x1="${x(b.min).toFixed(1)}" x2="${x(b.max).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#000" stroke-width="1"/>`);
      out.push(`<text x="${(x(b.max) + 4).toFixed(1)}" y="${cy + 4}" font-size="10" fill="#24292f">${esc(fmtNs(b.median))}</text>`);
      y += BAR + GAP;
    }
    y += 16;
  }
  y += 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">`,
    `<rect width="${W}" height="${y}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { markdown, svg, summaryTable, fmtNs };

// node bench/harness/report.js <result.json>: writes the .md and .svg next
// to a run's JSON again, with this version of the report.
if (require.main === module) {
  const fs = require('node:fs');
  const file = process.argv[2];
  if (!file || !file.endsWith('.json')) {
    process.stderr.write('usage: node bench/harness/report.js <result.json>\n');
    process.exit(2);
  }
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  const base = file.slice(0, -'.json'.length);
  fs.writeFileSync(`${base}.md`, markdown(res) + '\n');
  if (res.persist || res.kv) fs.writeFileSync(`${base}.svg`, svg(res));
}
