'use strict';
// Workload "readrandom": a get of each stored key, in random order, after
// fillrandom (and overwrite, when it ran). Each function returns the number
// of bytes read and the sum of each value's last byte, which the trial checks
// against the data it wrote, so no read can be skipped or return the wrong
// value unnoticed.

exports.description = 'get of existing keys in random order (the floor: a get through a DRAM hash index of KVStore\'s shape)';

function reader(get) {
  return (h, { keys, order }) => {
    let bytes = 0;
    let tail = 0;
    for (const i of order) {
      const v = get(h, keys[i]);
      bytes += v.length;
      tail += v[v.length - 1];
    }
    return { bytes, tail };
  };
}

exports.lmdb = reader((db, k) => db.get(k));

exports['better-sqlite3'] = reader((h, k) => h.get.get(k));

exports['classic-level'] = async (h, ctx) => {
  // getSync (classic-level 3) when the binding has it, as for lmdb-js.
  if (h.getSync) return reader((x, k) => x.db.getSync(k))(h, ctx);
  let bytes = 0;
  let tail = 0;
  for (const i of ctx.order) {
    const v = await h.db.get(ctx.keys[i]);
    bytes += v.length;
    tail += v[v.length - 1];
  }
  return { bytes, tail };
};

exports.pmem = reader((kv, k) => kv.get(k));
