// The order jest hands test files to its workers. Jest's own order puts
// the files that failed last time first, then the slowest by the times in
// its cache, and, for files it has no time for (every file on a fresh
// machine), the biggest first. The kill tests (*.once.test.ts) and the
// crash-simulator suites (*.sim.test.ts) are small files whose length is
// their kill and image counts, so on a fresh machine they came last and one
// worker ran them alone while the other sat idle. Here, among files with no
// time, kill tests go first, then simulator suites, then the rest, each
// biggest first.
'use strict';
const Sequencer = require('@jest/test-sequencer').default;

/** 0 for a kill test, 1 for a crash-simulator suite, 2 for the rest. */
function kind(path) {
  if (/\.once\.test\.ts$/.test(path)) return 0;
  if (/\.sim\.test\.ts$/.test(path)) return 1;
  return 2;
}

class PmemSequencer extends Sequencer {
  sort(tests) {
    const sizes = new Map();
    const size = (test) => {
      if (!sizes.has(test.path)) sizes.set(test.path, test.context.hasteFS.getSize(test.path) ?? 0);
      return sizes.get(test.path);
    };
    for (const test of tests) test.duration = this.time(test);
    return [...tests].sort((a, b) => {
      const failedA = this.hasFailed(a);
      if (failedA !== this.hasFailed(b)) return failedA ? -1 : 1;
      const timedA = a.duration != null;
      // As jest does: a file with a time runs after the files without one.
      if (timedA !== (b.duration != null)) return timedA ? 1 : -1;
      if (timedA) return b.duration - a.duration;
      return kind(a.path) - kind(b.path) || size(b) - size(a);
    });
  }
}

module.exports = PmemSequencer;
