'use strict';
// The configurations the key-value workloads compare, and how each one opens
// and closes its store. The workload modules (fillrandom.js, overwrite.js,
// readrandom.js) hold one function per competitor; `competitor` names it.
//
// `durability` says what a put guarantees when the workload's call returns
// (for lmdb's async put, when the awaited `flushed` resolves).

const path = require('node:path');

const DURABLE = 'durable on return';
const AFTER_FLUSH = 'durable after flush';
const NOT_DURABLE = 'not durable';

function lmdbOpen(extra) {
  return async (dir) => {
    const { open } = require('lmdb');
    return open({ path: path.join(dir, 'db'), keyEncoding: 'binary', encoding: 'binary', ...extra });
  };
}

function sqliteOpen(synchronous) {
  return async (dir) => {
    const Database = require('better-sqlite3');
    const db = new Database(path.join(dir, 'db.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.exec('CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)');
    return {
      db,
      put: db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)'),
      get: db.prepare('SELECT v FROM kv WHERE k = ?').pluck(),
    };
  };
}

function levelOpen(sync) {
  return async (dir) => {
    const { ClassicLevel } = require('classic-level');
    const db = new ClassicLevel(path.join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return { db, putOptions: { sync }, getSync: db.supports.getSync === true };
  };
}

/**
 * Whether bench/'s own dependency `name` is installed (bench/package.json):
 * `npm run bench` installs them (scripts/setup.sh --bench); `node
 * bench/index.js` alone does not, and the configuration is then skipped
 * with this note instead of failing in each trial.
 */
function installed(name) {
  return () => {
    try {
      require.resolve(name);
      return true;
    } catch {
      return `${name} is not installed: run \`npm run bench\` (or \`bash scripts/setup.sh --bench\`), which installs bench/package.json's dependencies`;
    }
  };
}

/** pmem's KVStore, when this build has one (lib/kv/store.ts). */
function kvStore() {
  try {
    return require('../../dist').KVStore;
  } catch {
    return undefined;
  }
}

const CONFIGS = [
  {
    id: 'lmdb-putsync',
    competitor: 'lmdb',
    available: installed('lmdb'),
    label: 'lmdb-js putSync, fsync per commit',
    durability: DURABLE,
    // overlappingSync would let the commit return before its fsync.
    open: lmdbOpen({ overlappingSync: false }),
    close: (h) => h.close(),
    write: 'putSync',
  },
  {
    id: 'lmdb-flushed',
    competitor: 'lmdb',
    available: installed('lmdb'),
    label: 'lmdb-js put, then await flushed',
    durability: AFTER_FLUSH,
    open: lmdbOpen({}),
    close: (h) => h.close(),
    write: 'flushed',
  },
  {
    id: 'lmdb-nosync',
    competitor: 'lmdb',
    available: installed('lmdb'),
    label: 'lmdb-js putSync, noSync',
    durability: NOT_DURABLE,
    open: lmdbOpen({ noSync: true }),
    close: (h) => h.close(),
    write: 'putSync',
  },
  {
    id: 'sqlite-full',
    competitor: 'better-sqlite3',
    available: installed('better-sqlite3'),
    label: 'better-sqlite3 WAL, synchronous=FULL',
    durability: DURABLE,
    open: sqliteOpen('FULL'),
    close: (h) => h.db.close(),
  },
  {
    id: 'sqlite-normal',
    competitor: 'better-sqlite3',
    available: installed('better-sqlite3'),
    label: 'better-sqlite3 WAL, synchronous=NORMAL',
    durability: NOT_DURABLE,
    open: sqliteOpen('NORMAL'),
    close: (h) => h.db.close(),
  },
  {
    id: 'level-sync',
    competitor: 'classic-level',
    available: installed('classic-level'),
    label: 'classic-level put, sync: true',
    durability: DURABLE,
    open: levelOpen(true),
    close: (h) => h.db.close(),
  },
  {
    id: 'level-nosync',
    competitor: 'classic-level',
    available: installed('classic-level'),
    label: 'classic-level put, sync: false',
    durability: NOT_DURABLE,
    open: levelOpen(false),
    close: (h) => h.db.close(),
  },
  {
    id: 'pmem-kv',
    competitor: 'pmem',
    label: 'pmem KVStore',
    durability: DURABLE,
    pmem: true,
    available: () => (kvStore() ? true : 'KVStore not available (require("pmem").KVStore is undefined in this build)'),
    open: async (dir, { records, valueBytes }) =>
      kvStore().open(path.join(dir, 'kv.pmem'), { size: storeSize(records, valueBytes), create: true }),
    close: (h) => h.close(),
  },
  {
    id: 'c-floor',
    competitor: 'c-floor',
    label: 'C floor: memcpy + persist of the record, into pre-faulted memory',
    readLabel: 'C floor: get through a DRAM hash index (KVStore\'s shape) + memcpy of the value',
    durability: DURABLE,
    pmem: true,
    floor: true,
  },
];

/** Room for every record four times over, and at least 64 MiB. */
function storeSize(records, valueBytes) {
  return Math.max(64 * 2 ** 20, records * (valueBytes + 16 + 64) * 4);
}

function config(id) {
  const c = CONFIGS.find((x) => x.id === id);
  if (!c) throw new Error(`unknown configuration ${id}`);
  return c;
}

module.exports = { CONFIGS, config, installed, DURABLE, AFTER_FLUSH, NOT_DURABLE };
