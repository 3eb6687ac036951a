'use strict';
// Workload "overwrite": a put of each key again, with a new value, into the
// store fillrandom filled, in another random order. The operation is the
// same as fillrandom's, so are the functions; what differs is the state of
// the store, which the trial sets up (harness/trial.js).

const fill = require('./fillrandom');

exports.description = 'put of existing keys with new values, in random order';
for (const competitor of ['lmdb', 'better-sqlite3', 'classic-level', 'pmem']) {
  exports[competitor] = fill[competitor];
}
