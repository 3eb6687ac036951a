// Gives a jest run one directory for its files when scripts/test.sh has not
// (PMEM_TEST_DIR), and removes it afterwards (global-teardown.js).
'use strict';
const fs = require('node:fs');

module.exports = async () => {
  if (!process.env.PMEM_TEST_DIR) {
    process.env.PMEM_TEST_DIR = `/dev/shm/pmem-jest-${process.pid}`;
    process.env.PMEM_TEST_DIR_OWNED = '1';
  }
  fs.mkdirSync(process.env.PMEM_TEST_DIR, { recursive: true });
};
