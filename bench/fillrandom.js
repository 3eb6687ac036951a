'use strict';
// Workload "fillrandom": a put of each key into an empty store, in random
// order, one operation at a time (db_bench's fillrandom with one write per
// batch). Each function gets the handle its driver opened (harness/drivers.js)
// and ({ config, keys, values, order }); it stores values[i] at keys[i] for
// each i of order.

exports.description = 'put of new keys in random order, one write per operation';

exports.lmdb = async (db, { config, keys, values, order }) => {
  if (config.write === 'flushed') {
    // Writes are batched on lmdb-js's writer thread; each is durable only
    // once `flushed` resolves, which the timing includes.
    let last;
    for (const i of order) last = db.put(keys[i], values[i]);
    await last;
    await db.flushed;
  } else {
    for (const i of order) db.putSync(keys[i], values[i]);
  }
};

exports['better-sqlite3'] = (h, { keys, values, order }) => {
  // Autocommit: one transaction per put.
  for (const i of order) h.put.run(keys[i], values[i]);
};

exports['classic-level'] = async (h, { keys, values, order }) => {
  for (const i of order) await h.db.put(keys[i], values[i], h.putOptions);
};

exports.pmem = (kv, { keys, values, order }) => {
  for (const i of order) kv.put(keys[i], values[i]);
};
