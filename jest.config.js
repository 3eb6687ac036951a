// Test files are numbered by concept (10.mapping, 20.region-sim, ...).
// Files named *.sim.test.ts use only the crash simulator; they run once, in
// the first (msync) pass of scripts/test.sh, not again with PMEM_IS_PMEM_FORCE.
const forced = process.env.PMEM_IS_PMEM_FORCE === '1';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...(forced ? ['\\.sim\\.test\\.ts$'] : [])],
  moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  testTimeout: 120000,
  maxWorkers: 2,
};
