// Shared by the tests of the `pmem` command (test/75.*): it runs as the
// installed bin/pmem in child processes, which load dist/.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'pmem');

/**
 * Throws when dist/ is older than lib/ for any of `modules` (paths below
 * lib/ without the extension): a stale dist/ would test old code. Run
 * `npm run build:ts` after a change.
 */
export function expectBuilt(modules: readonly string[]): void {
  for (const f of modules) {
    const src = fs.statSync(path.join(ROOT, 'lib', `${f}.ts`)).mtimeMs;
    const js = fs.statSync(path.join(ROOT, 'dist', `${f}.js`)).mtimeMs;
    if (js < src) throw new Error(`dist/${f}.js is older than lib/${f}.ts: run npm run build:ts`);
  }
}

export interface Result {
  code: number | null;
  out: string[];
  err: string[];
}

/** Output split into lines, without the last newline's empty line. */
export const lines = (s: string | null | undefined): string[] => (s ? s.replace(/\n$/, '').split('\n') : []);

/** Runs `pmem args...` to its end. */
export function pmem(args: string[], opts: SpawnSyncOptions = {}): Result {
  const r = spawnSync(BIN, args, { encoding: 'utf8', ...opts });
  return { code: r.status, out: lines(r.stdout as string), err: lines(r.stderr as string) };
}

/** Expects a failure reported as one line "pmem: ..." (no stack trace) with `code`. */
export function fails(r: Result, code: number, text?: string): void {
  // A wrong exit code is reported with what the command said: a matcher
  // that matches hides the line in jest's diff.
  if (r.code !== code) throw new Error(`exit ${r.code}, not ${code}; stderr:\n${r.err.join('\n')}`);
  expect(r.err).toEqual([expect.stringMatching(/^pmem: /)]);
  if (text !== undefined) expect(r.err[0]).toContain(text);
}
