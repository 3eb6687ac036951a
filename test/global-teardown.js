'use strict';
const fs = require('node:fs');

module.exports = async () => {
  if (process.env.PMEM_TEST_DIR_OWNED === '1') fs.rmSync(process.env.PMEM_TEST_DIR, { recursive: true, force: true });
};
