// externalSort's resume from a damaged checkpoint: a sort is stopped (its
// onCheckpoint throws) while it forms runs and while it merges, then its
// checkpoint (header, job description, slots, run table) is damaged with
// bit flips, garbage, zeroed ranges, copied ranges, words set to other
// values and truncations, or a run file it names is cut short or removed;
// and the sort is resumed. The resume either writes exactly the sorted
// input or is refused with a PmemError (the checkpoint left as it was);
// never a wrong output presented as success. Each resume runs in a child
// process with a kill timer, so that a resume that never ends is reported
// as such. PMEM_SORT_FUZZ sets the number of images (default 30).
//
// Not damaged here: the bytes inside run files and the partial output.
// They carry no checksum by design (docs/formats.md: only the checkpoint
// does), so a flipped byte in a run is a wrong record in the output.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, type SortOptions } from '../lib';
import { seededRandom } from '../lib/testing';
import { testDir } from './helpers';

const IMAGES = Number(process.env.PMEM_SORT_FUZZ ?? 30);
const KILL_MS = 60_000;
const REFUSED = new Set(['ERR_PMEM_CORRUPT', 'ERR_PMEM_INVALID']);
const dist = path.join(__dirname, '..', 'dist');

let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-fuzz-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const options: SortOptions = { memory: 128 * 1024, checkpointBytes: 8 * 1024 };

function lines(seed: number, n: number): Buffer {
  const random = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${Math.floor(random() * 1e9).toString(36)} ${'x'.repeat(Math.floor(random() * 30))}`);
  return Buffer.from(out.join('\n') + '\n');
}

/** The files of the pmem directory, by name, and the partial output. */
interface Stopped {
  work: Map<string, Buffer>;
  partial: Buffer | undefined;
}

function snapshot(work: string, out: string): Stopped {
  const files = new Map<string, Buffer>();
  for (const n of fs.readdirSync(work)) files.set(n, fs.readFileSync(path.join(work, n)));
  const partial = fs.existsSync(`${out}.pmem-sort-partial`) ? fs.readFileSync(`${out}.pmem-sort-partial`) : undefined;
  return { work: files, partial };
}

function restore(s: Stopped, work: string, out: string): void {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(out, { force: true });
  fs.mkdirSync(work);
  for (const [n, b] of s.work) fs.writeFileSync(path.join(work, n), b);
  if (s.partial !== undefined) fs.writeFileSync(`${out}.pmem-sort-partial`, s.partial);
  else fs.rmSync(`${out}.pmem-sort-partial`, { force: true });
}

/** Sorts, stopped after the checkpoint `stop` picks. */
function stopped(input: string, out: string, work: string, stop: (phase: string, n: number) => boolean): Stopped {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(`${out}.pmem-sort-partial`, { force: true });
  let n = 0;
  expect(() => externalSort(input, out, {
    ...options, pmem: work,
    onCheckpoint: (info) => {
      if (stop(info.phase, ++n)) throw new Error('stop');
    },
  })).toThrow('stop');
  return snapshot(work, out);
}

function damage(cp: Buffer, rnd: (n: number) => number): Buffer {
  let img = Buffer.from(cp);
  // The header and job description (0..4095), the current word and the slots after it.
  const at = (): number => (rnd(3) === 0 ? rnd(Math.min(img.length, 4096)) : 4096 + rnd(Math.max(1, img.length - 4096)));
  switch (rnd(6)) {
    case 0:
      for (let n = 1 + rnd(4); n > 0; n--) {
        const i = at();
        if (i < img.length) img[i] ^= 1 << rnd(8);
      }
      break;
    case 1: {
      const i = at();
      for (let j = i; j < Math.min(img.length, i + 1 + rnd(64)); j++) img[j] = rnd(256);
      break;
    }
    case 2: {
      const i = at();
      img.fill(0, i, Math.min(img.length, i + 1 + rnd(300)));
      break;
    }
    case 3: { // one slot copied over the other, or an aligned range elsewhere
      const n = 8 * (1 + rnd(32));
      const from = 8 * rnd(Math.floor((img.length - n) / 8));
      cp.copy(img, 8 * rnd(Math.floor((img.length - n) / 8)), from, from + n);
      break;
    }
    case 4:
      img = img.subarray(0, rnd(img.length));
      break;
    default: { // a word of the header or the current slot set to another value
      const i = rnd(2) === 0 ? 8 + 4 * rnd(4) : 4096 + 64 + 8 * rnd(20);
      if (i + 4 <= img.length) img.writeUInt32LE([0, 1, 2, rnd(2 ** 32), img.readUInt32LE(i) + 1][rnd(5)], i);
      break;
    }
  }
  return img;
}

interface Outcome {
  ok?: boolean;
  name?: string;
  code?: string;
  message?: string;
}

/** Resumes in a child process, killed after KILL_MS. */
function resumeInChild(input: string, out: string, work: string): Outcome & { killed?: boolean } {
  const script = `
    const { externalSort } = require(${JSON.stringify(dist)});
    let r;
    try {
      externalSort(${JSON.stringify(input)}, ${JSON.stringify(out)}, { ...${JSON.stringify(options)}, pmem: ${JSON.stringify(work)}, resume: true });
      r = { ok: true };
    } catch (e) {
      r = { ok: false, name: e && e.name, code: e && e.code, message: String(e && e.stack || e) };
    }
    process.stdout.write(JSON.stringify(r));`;
  const c = spawnSync(process.execPath, ['-e', script], { timeout: KILL_MS, killSignal: 'SIGKILL', encoding: 'utf8' });
  if (c.signal !== null || c.stdout === '') return { killed: true, message: `exit ${c.status} ${c.signal}: ${c.stderr}` };
  return JSON.parse(c.stdout) as Outcome;
}

test(`${IMAGES} resumes from damaged checkpoints write the sorted input exactly, or are refused`, () => {
  const input = path.join(dir, 'input.txt');
  fs.writeFileSync(input, lines(85, 12000));
  const out = path.join(dir, 'out.txt');
  const work = path.join(dir, 'work');
  externalSort(input, out, options);
  const expected = fs.readFileSync(out);
  fs.rmSync(out);
  const bases = [
    stopped(input, out, work, (phase, n) => phase === 'runs' && n === 3),
    stopped(input, out, work, (phase) => phase === 'merge'),
  ];
  let merging = 0;
  bases.push(stopped(input, out, work, (phase) => phase === 'merge' && ++merging === 3));
  for (const b of bases) expect(b.work.has('checkpoint')).toBe(true);
  const random = seededRandom(86);
  const rnd = (n: number): number => Math.floor(random() * n);
  const counts: Record<string, number> = { sorted: 0 };
  for (let i = 0; i < IMAGES; i++) {
    const base = bases[i % bases.length];
    restore(base, work, out);
    const cpFile = path.join(work, 'checkpoint');
    const runs = [...base.work.keys()].filter((n) => n.startsWith('run-'));
    let what: string;
    if (rnd(5) === 0 && runs.length > 0) {
      // A run file the checkpoint may name, cut short or gone.
      const run = path.join(work, runs[rnd(runs.length)]);
      if (rnd(2) === 0) fs.rmSync(run);
      else fs.truncateSync(run, rnd(fs.statSync(run).size));
      what = `image ${i} (${path.basename(run)} damaged)`;
    } else {
      fs.writeFileSync(cpFile, damage(base.work.get('checkpoint')!, rnd));
      what = `image ${i} (checkpoint damaged)`;
    }
    const cpBefore = fs.existsSync(cpFile) ? fs.readFileSync(cpFile) : undefined;
    const r = resumeInChild(input, out, work);
    if ('killed' in r) throw new Error(`${what}: the resume did not end in ${KILL_MS} ms: ${r.message}`);
    if (r.ok) {
      if (!fs.readFileSync(out).equals(expected)) throw new Error(`${what}: the resume succeeded with a wrong output`);
      counts.sorted++;
      continue;
    }
    if (r.name !== 'PmemError' || !REFUSED.has(r.code!)) throw new Error(`${what}: the resume threw ${r.message}`);
    counts[r.code!] = (counts[r.code!] ?? 0) + 1;
    if (fs.existsSync(out)) throw new Error(`${what}: a refused resume left an output`);
    // A damaged run file is found only when the merge reaches it, after
    // the resume has published progress: only a refused checkpoint is left whole.
    if (what.endsWith('(checkpoint damaged)') && !fs.readFileSync(cpFile).equals(cpBefore!)) throw new Error(`${what}: a refused resume changed the checkpoint`);
  }
  // eslint-disable-next-line no-console
  console.log(`sort checkpoint fuzz: ${IMAGES} images, ${JSON.stringify(counts)}`);
  expect(counts.sorted + (counts.ERR_PMEM_CORRUPT ?? 0) + (counts.ERR_PMEM_INVALID ?? 0)).toBe(IMAGES);
  expect(counts.ERR_PMEM_CORRUPT).toBeGreaterThan(0);
  expect(counts.sorted).toBeGreaterThan(0);
}, 300_000);
