// Shared by the replicated journal's tests (88.replica*, 89.replicate*):
// the files a test file makes and removes, and the `pmem` processes
// (`pmem replica`, `pmem serve`) they run.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { tmpFile } from './helpers';

/**
 * Returns `file(name)`: a fresh path (tmpFile) that is removed after the
 * test file's tests, with what lies under it and the paths named by each
 * of `beside` appended to it (a store's `.journal`, say). Call it once, at
 * the top of a test file: it registers the afterAll.
 */
export function testFiles(beside: string[] = []): (name: string) => string {
  const files: string[] = [];
  afterAll(() => {
    for (const f of files) for (const p of [f, ...beside.map((s) => f + s)]) fs.rmSync(p, { recursive: true, force: true });
  });
  return (name) => {
    const f = tmpFile(name);
    files.push(f);
    return f;
  };
}

const BIN = path.join(__dirname, '..', 'bin', 'pmem');

/**
 * Runs `pmem <args>` (the built dist/) until it prints its address and
 * that it is ready; resolves to the process and the port it listens on.
 * Rejects if it exits before, with what it printed.
 */
export function startPmem(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /address:\s+[\d.]+:(\d+)/.exec(out);
      if (m && /ready/.test(out)) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`pmem ${args[0]} exited with ${code}: ${out} ${err}`)));
  });
}

/** Stops a process of startPmem with SIGTERM; resolves to its exit code once it has exited. */
export function stopPmem(child: ChildProcess): Promise<number | null> {
  child.removeAllListeners('exit');
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return done;
}

/**
 * The journal id and epoch history in a journal file's control block,
 * read from its bytes (docs/formats.md, "Replicated journal"): what a
 * process that can read the file knows, and a peer on the network must not.
 * Reads without the file's lock, so it works while a primary or replica holds it.
 */
export function readControlBlock(file: string): { journalId: number; history: Array<{ epoch: number; startLsn: number; tag: number }> } {
  const b = Buffer.alloc(4096);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, b, 0, b.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const u64 = (at: number): number => Number(b.readBigUInt64LE(at));
  const history = Array.from({ length: u64(32) }, (_, i) => ({ epoch: u64(64 + 24 * i), startLsn: u64(72 + 24 * i), tag: u64(80 + 24 * i) }));
  return { journalId: u64(8), history };
}
