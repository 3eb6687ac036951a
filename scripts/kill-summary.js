#!/usr/bin/env node
// Prints one line per kill test from .test-results/kills-<mode>.jsonl
// (written by test/fixtures/kill-report.ts): kills, how many landed where
// the test aimed them, and the acknowledgements checked. Exits 1 when no
// file has a record: the kill tests did not report.
'use strict';
const fs = require('node:fs');

let records = 0;
for (const file of process.argv.slice(2)) {
  if (!fs.existsSync(file)) continue;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line);
    records++;
    const landed = r.aim === 'work' ? r.killsDuringWork : r.killsAfterStart;
    const where = r.aim === 'work' ? 'during the work' : 'after the start marker';
    console.log(`kills [${r.mode}] ${r.test}: ${r.kills} kills, ${landed} ${where} ` +
      `(${(r.fraction * 100).toFixed(0)}%), ${r.acksChecked} acks checked, ${r.seconds} s`);
  }
}
if (records === 0) console.error('kill-summary: no kill test reported');
process.exit(records === 0 ? 1 : 0);
