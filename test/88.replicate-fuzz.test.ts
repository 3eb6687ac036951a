// Replicated journal files (a primary's and its backup's, PRJ1 control
// block and Wal) on damaged images: bit flips, garbage, zeroed ranges,
// copied ranges, words set to other values, truncations. Each is opened by
// readJournal, by ReplicatedWal.open (its replica address has no one
// listening: only the open's recovery matters) and by startReplica. An
// open either succeeds, and the journal then holds records that were
// appended, each at the LSN it was appended at, with no gap, and a commit
// point no further than its last record; or it is refused with a
// documented PmemError, leaving the file as it was. PMEM_REPLICATE_FUZZ
// sets the number of images per file (default 1000).
import * as fs from 'node:fs';

import { readJournal, ReplicatedWal, startReplica } from '../lib';
import { seededRandom } from '../lib/testing';
import { testFiles } from './replicate-helpers';

const IMAGES = Number(process.env.PMEM_REPLICATE_FUZZ ?? 1000);
const SIZE = 4096 + 12 * 1024;
const CONTROL = 4096;
const REFUSED = new Set(['ERR_PMEM_CORRUPT', 'ERR_PMEM_NOT_A_STORE', 'ERR_PMEM_REPLICA_ROLE']);
const file = testFiles();

const payload = (i: number): Buffer => Buffer.from(`rec${i}-${'.'.repeat((i * 37) % 150)}`);

/** A primary's and a backup's journal files after appends that freed the oldest records; the payload of each LSN. */
async function build(): Promise<{ primary: Buffer; backup: Buffer; appended: Map<number, Buffer>; primaryFile: string; backupFile: string }> {
  const backupFile = file('fuzz-backup.journal');
  const primaryFile = file('fuzz-primary.journal');
  const replica = await startReplica({ file: backupFile, port: 0, create: true, size: SIZE });
  const wal = await ReplicatedWal.open(primaryFile, { replicas: [`127.0.0.1:${replica.port}`], create: true, size: SIZE, resendBytes: 2048 });
  const appended = new Map<number, Buffer>();
  for (let i = 0; i < 400; i += 8) {
    const batch = Array.from({ length: 8 }, (_, j) => payload(i + j));
    const lsns = await Promise.all(batch.map((p) => wal.append(p)));
    lsns.forEach((lsn, j) => appended.set(lsn, batch[j]));
  }
  // A last round acknowledged only 'received': past the commit point.
  await wal.append(payload(1000), { ack: 'received' }).then((lsn) => appended.set(lsn, payload(1000)));
  await wal.close();
  await replica.close();
  const primary = fs.readFileSync(primaryFile);
  const backup = fs.readFileSync(backupFile);
  return { primary, backup, appended, primaryFile, backupFile };
}

function mutate(base: Buffer, rnd: (n: number) => number): Buffer {
  let img = Buffer.from(base);
  // A quarter of the damage in the control block, the rest anywhere.
  const at = (): number => (rnd(4) === 0 ? rnd(CONTROL / 16) : rnd(SIZE));
  switch (rnd(6)) {
    case 0:
      for (let n = 1 + rnd(6); n > 0; n--) img[at()] ^= 1 << rnd(8);
      break;
    case 1: {
      const i = at();
      for (let j = i; j < Math.min(SIZE, i + 1 + rnd(100)); j++) img[j] = rnd(256);
      break;
    }
    case 2: {
      const i = at();
      img.fill(0, i, Math.min(SIZE, i + 1 + rnd(600)));
      break;
    }
    case 3: { // a range copied over another, 8-byte aligned
      const n = 8 * (1 + rnd(64));
      const from = 8 * rnd((SIZE - n) / 8);
      base.copy(img, 8 * rnd((SIZE - n) / 8), from, from + n);
      break;
    }
    case 4: // truncation
      img = img.subarray(0, rnd(SIZE));
      break;
    default: { // a control word (journal id, role, commit point, count, an epoch entry) set to another value
      const i = 8 * (1 + rnd(10));
      const v = [0, 1, 2, 3, rnd(2 ** 32), img.readUInt32LE(i) + 1 + rnd(500)][rnd(6)];
      img.writeUInt32LE(v, i);
      break;
    }
  }
  return img;
}

interface Seen {
  committedLsn: number;
  headLsn: number;
  nextLsn: number;
  records: Array<{ lsn: number; data: Buffer }>;
}

/** Records once appended, each at its own LSN, consecutive from the head to the end; the commit point within them. */
function check(what: string, j: Seen, appended: Map<number, Buffer>): void {
  let lsn = j.headLsn;
  for (const r of j.records) {
    if (r.lsn !== lsn) throw new Error(`${what}: LSN ${r.lsn} where ${lsn} was due (head ${j.headLsn})`);
    const want = appended.get(r.lsn);
    if (want === undefined || !want.equals(r.data)) throw new Error(`${what}: LSN ${r.lsn} holds '${r.data.toString('latin1', 0, 30)}', never appended there`);
    lsn++;
  }
  if (lsn !== j.nextLsn) throw new Error(`${what}: records end at ${lsn - 1}, next LSN ${j.nextLsn}`);
  if (j.committedLsn > j.nextLsn - 1) throw new Error(`${what}: commit point ${j.committedLsn} past the last record ${j.nextLsn - 1}`);
}

type Counts = Record<string, number>;

/** Runs `open`; a refusal must be a documented PmemError and leave the file byte-identical. */
async function attempt(what: string, path: string, open: () => Promise<void> | void, counts: Counts): Promise<boolean> {
  const before = fs.readFileSync(path);
  try {
    await open();
    counts[`${what} opened`] = (counts[`${what} opened`] ?? 0) + 1;
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if ((e as { name?: string }).name !== 'PmemError' || !REFUSED.has(code!)) throw new Error(`${what}: threw ${(e as Error).stack ?? String(e)}`);
    counts[code!] = (counts[code!] ?? 0) + 1;
    if (!fs.readFileSync(path).equals(before)) throw new Error(`${what}: a refused open (${code}: ${(e as Error).message}) changed the file`);
    return false;
  }
}

async function fuzz(which: 'primary' | 'backup', base: Buffer, appended: Map<number, Buffer>, seed: number): Promise<Counts> {
  const random = seededRandom(seed);
  const rnd = (n: number): number => Math.floor(random() * n);
  const counts: Counts = {};
  const path = file(`fuzz-${which}-damaged.journal`);
  for (let i = 0; i < IMAGES; i++) {
    const img = mutate(base, rnd);
    const what = `${which} image ${i}`;
    fs.writeFileSync(path, img);
    // An empty file is a new journal's place: nothing to read.
    if (img.length === 0) continue;
    await attempt('readJournal', path, () => check(`${what}, readJournal`, readJournal(path), appended), counts);
    fs.writeFileSync(path, img);
    await attempt('ReplicatedWal.open', path, async () => {
      const w = await ReplicatedWal.open(path, { replicas: ['127.0.0.1:1'], timeoutMs: 100 });
      const seen = { committedLsn: w.committedLsn, headLsn: 0, nextLsn: w.nextLsn, records: [...w.read()] };
      seen.headLsn = seen.records[0]?.lsn ?? seen.nextLsn;
      await w.close();
      check(`${what}, ReplicatedWal.open`, seen, appended);
    }, counts);
    fs.writeFileSync(path, img);
    await attempt('startReplica', path, async () => {
      const r = await startReplica({ file: path, port: 0 });
      const records = [...r.read()];
      const last = r.lastDurableLsn;
      await r.close();
      check(`${what}, startReplica`, { committedLsn: 0, headLsn: records[0]?.lsn ?? last + 1, nextLsn: last + 1, records }, appended);
      // What the replica left reads back the same.
      check(`${what}, read after startReplica`, readJournal(path), appended);
    }, counts);
  }
  fs.rmSync(path, { force: true });
  return counts;
}

let built: Awaited<ReturnType<typeof build>> & { primaryFile: string; backupFile: string };
beforeAll(async () => {
  built = await build();
});

test('the journals the fuzz damages freed records and hold records past their head', () => {
  const p = readJournal(built.primaryFile);
  expect(p.headLsn).toBeGreaterThan(1);
  expect(p.committedLsn).toBeGreaterThan(p.headLsn);
  check('primary', p, built.appended);
  const b = readJournal(built.backupFile);
  expect(b.role).toBe('backup');
  check('backup', b, built.appended);
});

for (const which of ['primary', 'backup'] as const) {
  test(`${IMAGES} damaged ${which} journals read back appended records in order, or are refused untouched`, async () => {
    const counts = await fuzz(which, built[which], built.appended, which === 'primary' ? 88 : 89);
    // eslint-disable-next-line no-console
    console.log(`${which} journal fuzz: ${IMAGES} images, ${JSON.stringify(counts)}`);
    expect(counts['readJournal opened']).toBeGreaterThan(IMAGES / 5);
    expect(counts.ERR_PMEM_CORRUPT).toBeGreaterThan(IMAGES / 10);
  }, 60_000);
}

test('a commit point past the last record is refused, with the file left as it was', async () => {
  // Found by the fuzz above (primary image 20, backup image 2): a damaged
  // commit word was taken as it was, and a primary's next append would
  // have freed records no replica held yet.
  for (const which of ['primary', 'backup'] as const) {
    const path = file(`fuzz-commit-${which}.journal`);
    const img = Buffer.from(built[which]);
    const last = readJournal(built[`${which}File`]).nextLsn - 1;
    img.writeUInt32LE(last + 1, 24);
    fs.writeFileSync(path, img);
    for (const open of [() => readJournal(path), () => ReplicatedWal.open(path, { replicas: ['127.0.0.1:1'] }), () => startReplica({ file: path, port: 0 })]) {
      // (A backup's file opened as the primary is refused for its role first.)
      await expect((async () => open())()).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_PMEM_(CORRUPT|REPLICA_ROLE)$/) });
      expect(fs.readFileSync(path).equals(img)).toBe(true);
    }
    expect(() => readJournal(path)).toThrow(`the replicated journal's commit point ${last + 1} is past its last record ${last}`);
  }
});

test('ReplicatedWal.open refuses a backup\'s file before its recovery writes to it', async () => {
  const path = file('fuzz-role.journal');
  fs.writeFileSync(path, built.backup);
  await expect(ReplicatedWal.open(path, { replicas: ['127.0.0.1:1'] })).rejects.toMatchObject({ code: 'ERR_PMEM_REPLICA_ROLE' });
  expect(fs.readFileSync(path).equals(built.backup)).toBe(true);
});
