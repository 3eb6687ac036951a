// TxLog on damaged images: bit flips, garbage, zeroed ranges, copied
// ranges, random words and truncations of logs after 1..12 transactions
// (runs of one to many writes, small and near a slot's capacity, undo
// updates, with and without a checkpoint). Each open either fails with
// ERR_PMEM_CORRUPT and leaves every byte as it was, or succeeds having
// written only the retire word and bytes that a transaction once wrote
// there, and then takes a run that a later recovery redoes. Nothing else
// may be thrown. PMEM_LOG_FUZZ sets the number of images (default 6000).
import { TxLog } from '../lib';
import { seededRandom } from '../lib/testing';
import { damage, fuzzRegion, imageCount, StepBudgetExceeded, touches } from './fuzz-helpers';

const IMAGES = imageCount(6000);
const SIZE = 16384;
const LOG = { offset: 4096, size: 64 + 2 * 1024 };
const LOG_END = LOG.offset + LOG.size;
/** Transactions write in [0, 4096) and [LOG_END, DATA_END); the guard after it is never written. */
const DATA_END = 12288;
const GUARD = 0xa5;

interface Build {
  image: Buffer;
  transactions: number;
  /** history[i * 256 + v]: byte i held v at some point. */
  history: Uint8Array;
}

const builds = new Map<number, Build>();

function build(k: number): Build {
  let b = builds.get(k);
  if (b !== undefined) return b;
  const random = seededRandom(0x7100 + k);
  const n = (m: number): number => Math.floor(random() * m);
  const image = Buffer.alloc(SIZE);
  image.fill(GUARD, DATA_END);
  const region = fuzzRegion(image, Infinity);
  const log = TxLog.format(region, LOG);
  const history = new Uint8Array(SIZE * 256);
  const note = (): void => {
    for (let i = 0; i < DATA_END; i++) history[i * 256 + region.bytes[i]] = 1;
  };
  note();
  const target = (len: number): number => (n(3) === 0 ? n(4096 - len) : LOG_END + n(DATA_END - LOG_END - len));
  const transactions = 1 + (k % 12);
  for (let t = 1; t <= transactions; t++) {
    const fill = (len: number): Buffer => Buffer.from(Array.from({ length: len }, (_, i) => (t * 29 + i * 7) & 0xff));
    const shape = n(5);
    if (shape === 0) {
      const len = 1 + n(300);
      log.undoUpdate(target(len), fill(len));
    } else {
      // One write near a slot's capacity, or several small ones.
      const sizes = shape === 1 ? [log.capacity - n(64)] : Array.from({ length: 1 + n(12) }, () => 1 + n(60));
      log.run((tx) => {
        for (const len of sizes) tx.write(target(len), fill(len));
      });
    }
    note();
    if (n(6) === 0) log.checkpoint();
  }
  if (k % 3 === 0) log.checkpoint();
  b = { image: Buffer.from(region.bytes), transactions, history };
  builds.set(k, b);
  return b;
}

/** Opens damaged image `seed`. */
function fuzzOne(seed: number): { outcome: 'opened' | 'corrupt'; error?: string } {
  const random = seededRandom(seed);
  const { image, transactions, history } = build(seed % 60);
  const slot = (LOG.size - 64) / 2;
  // The retire line, and each slot's header and first entries.
  const hot: Array<[number, number]> = [[LOG.offset, LOG.offset + 64], [LOG.offset + 64, LOG.offset + 128], [LOG.offset + 64 + slot, LOG.offset + 128 + slot]];
  const { image: img, ranges, kind } = damage(image, random, hot, DATA_END);
  const region = fuzzRegion(img, 4096);
  const before = Buffer.from(img);
  const fail = (what: string): { outcome: 'opened'; error: string } => ({ outcome: 'opened', error: `image ${seed} (${kind}, ${transactions} transactions): ${what}` });
  let log: TxLog;
  try {
    log = TxLog.open(region, LOG);
  } catch (e) {
    if (e instanceof StepBudgetExceeded) return fail('open did not finish');
    if ((e as { code?: string }).code !== 'ERR_PMEM_CORRUPT') return fail(`open threw ${String(e)}`);
    // Refused before anything is written: the region is as it was.
    if (!region.bytes.equals(before)) return fail('a refused open changed the region');
    return { outcome: 'corrupt' };
  }
  // Only the retire word and the data bytes may change, and a data byte
  // only to a value a transaction gave it (damage there aside).
  for (let i = 0; i < region.length; i++) {
    if (region.bytes[i] === before[i]) continue;
    if (i >= LOG.offset && i < LOG.offset + 8) continue;
    if ((i >= LOG.offset && i < LOG_END) || i >= DATA_END) return fail(`open wrote byte ${i}, outside the transactions' targets`);
    if (!history[i * 256 + region.bytes[i]] && !touches(ranges, i, i + 1)) return fail(`open wrote ${region.bytes[i]} to byte ${i}, a value no transaction gave it`);
  }
  // Recovery retired what it found: a second one does nothing.
  const { seq } = log.recover();
  try {
    const again = TxLog.open(region, LOG).recover();
    if (again.action !== 'none' || again.seq !== seq) return fail(`a second recovery did ${again.action} ${again.seq} after ${seq}`);
    // A run after the open commits: with its in-place writes lost, as a
    // crash before the next fence may lose them, recovery redoes it.
    const at = LOG_END + 8 * Math.floor(random() * 64);
    const old = Buffer.from(region.bytes.subarray(at, at + 16));
    log.run((tx) => tx.write(at, Buffer.alloc(16, 0x3c)));
    old.copy(region.bytes, at);
    const redo = TxLog.open(region, LOG).recover();
    if (!region.bytes.subarray(at, at + 16).equals(Buffer.alloc(16, 0x3c))) return fail(`a run after the open was not redone (recovery: ${redo.action} ${redo.seq})`);
  } catch (e) {
    return fail(`after the open: ${String(e)}`);
  }
  return { outcome: 'opened' };
}

test(`${IMAGES} damaged transaction logs recover only committed runs or fail with ERR_PMEM_CORRUPT`, () => {
  const outcomes = { opened: 0, corrupt: 0 };
  const failures: string[] = [];
  for (let seed = 1; seed <= IMAGES; seed++) {
    const r = fuzzOne(seed);
    outcomes[r.outcome]++;
    if (r.error !== undefined) failures.push(r.error);
  }
  // eslint-disable-next-line no-console
  console.log(`TxLog fuzz: ${IMAGES} images, ${outcomes.opened} opened, ${outcomes.corrupt} ERR_PMEM_CORRUPT`);
  expect(failures.slice(0, 10)).toEqual([]);
  expect(outcomes.opened).toBeGreaterThan(IMAGES / 2);
  expect(outcomes.corrupt).toBeGreaterThan(0);
});

test('a retire word past any sequence number is ERR_PMEM_CORRUPT, not a log whose next runs recovery cannot redo', () => {
  // The images that found it: a high bit flipped in the retire word (seed
  // 594), a random word over it (seed 973). The open took the word; the
  // next run got a sequence number readTxLog refuses (past 2^53), and a
  // crash before its in-place writes were durable lost it.
  for (const seed of [594, 973]) expect(fuzzOne(seed)).toEqual({ outcome: 'corrupt' });
  const formatted = fuzzRegion(Buffer.alloc(SIZE), Infinity);
  TxLog.format(formatted, LOG).run((tx) => tx.write(LOG_END, Buffer.from('one')));
  const image = formatted.bytes;
  for (const [word, opens] of [[2n ** 53n - 2n, true], [2n ** 53n - 1n, false], [2n ** 63n, false]] as const) {
    const img = Buffer.from(image);
    img.writeBigUInt64LE(word, LOG.offset);
    const region = fuzzRegion(img, Infinity);
    if (opens) expect(TxLog.open(region, LOG).recover()).toEqual({ action: 'none', seq: Number(word) });
    else expect(() => TxLog.open(region, LOG)).toThrow(expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/past any sequence number/) }));
  }
});
