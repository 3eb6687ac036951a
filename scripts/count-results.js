#!/usr/bin/env node
// Sums jest JSON result files and prints one line: "N passed, N failed".
// Exits 1 if any test failed, a file is missing, or a suite failed to run.
'use strict';
const fs = require('node:fs');

let passed = 0;
let failed = 0;
let broken = false;
for (const file of process.argv.slice(2)) {
  let r;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`count-results: cannot read ${file}: ${e.message}`);
    broken = true;
    continue;
  }
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  // A suite that failed to load has no failed tests but is a failure.
  if (r.numFailedTestSuites > 0 || r.numRuntimeErrorTestSuites > 0) broken = true;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || broken || passed === 0 ? 1 : 0);
