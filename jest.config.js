// Test files are numbered by concept (10.mapping, 20.region-sim, ...).
// Files named *.sim.test.ts use only the crash simulator, and *.once.test.ts
// set their own durability mode (kill harness children always run with
// PMEM_IS_PMEM_FORCE=1): both run once, in the first (msync) pass of
// scripts/test.sh, not again in the PMEM_IS_PMEM_FORCE pass.
const forced = process.env.PMEM_IS_PMEM_FORCE === '1';
// Suites the durability mode does not touch run once too, in the msync
// pass: the type tests compile declarations, the CLI's tests (test/75.cli*)
// check its parsing, paths, output and exit codes (the stores under it run
// in both modes in their own suites, test/70 and 71), the scripts' tests
// their arguments, and pmem serve's protocol suites (test/95, 96) its
// replies, options and clients (the stores under it run in both modes in
// test/70 and 71, its types' representations in test/98 and 99).
const modeFree = [
  '/75\\.cli(-[a-z0-9-]+)?\\.test\\.ts$', '/91\\.types\\.test\\.ts$', '/90\\.scripts\\.test\\.ts$',
  '/9[56]\\.serve(-[a-z0-9-]+)?\\.test\\.ts$',
];
// *.dax.test.ts assert what only a real fs-dax mount shows; they run in the
// qemu guest of scripts/test-dax.sh, where PMEM_DAX_MOUNT is set.
const dax = Boolean(process.env.PMEM_DAX_MOUNT);

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: [
    '/node_modules/',
    ...(forced ? ['\\.(sim|once)\\.test\\.ts$', ...modeFree] : []),
    ...(dax ? [] : ['\\.dax\\.test\\.ts$']),
    // scripts/test.sh runs one suite in a jest of its own (see there).
    ...(process.env.PMEM_TEST_EXCLUDE ? [process.env.PMEM_TEST_EXCLUDE] : []),
  ],
  moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  // Kill tests and crash-simulator suites first on a fresh machine (see there).
  testSequencer: '<rootDir>/test/sequencer.js',
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  testTimeout: 120000,
  maxWorkers: 2,
};
