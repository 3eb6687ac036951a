// INFO's memory section: used_memory is what the process allocated, not
// the store file it maps (V8 counts a mapping's views as external memory:
// used_memory followed the file's size, 1 GB for a store holding one key);
// the peak is a high-water mark, never below used_memory (it was the RSS of
// the moment); the fragmentation ratio is measured (it was always 1).
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { human } from '../lib/server/memory';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const MB = 1024 * 1024;

let server: RespServer;
let c: RawClient;
let file: string;

beforeAll(async () => {
  file = tmpFile('info-memory.kv');
  server = createServer({ file, size: 256 * MB });
  c = new RawClient(await server.listen(0));
  await c.ready;
});

afterAll(async () => {
  c.close();
  await server.close();
  fs.rmSync(file, { force: true });
});

async function memory(): Promise<Record<string, string>> {
  const lines = (text(await c.call('INFO', 'memory')) as string).split('\r\n').filter((l) => l.includes(':'));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

test('used_memory leaves out the mapped store file, which pmem_file_bytes and pmem_mapped_bytes report', async () => {
  const m = await memory();
  const own = process.memoryUsage(); // the server runs in this process
  expect(Number(m.pmem_file_bytes)).toBe(256 * MB);
  expect(Number(m.pmem_mapped_bytes)).toBeGreaterThanOrEqual(256 * MB);
  // V8 counts the 256 MiB of views as external memory; used_memory does not.
  expect(Number(m.used_memory)).toBeLessThan(own.heapUsed + own.external - 200 * MB);
  expect(Number(m.used_memory)).toBeGreaterThan(0);
  expect(m.used_memory_human).toBe(human(Number(m.used_memory)));
  expect(m.used_memory_rss_human).toBe(human(Number(m.used_memory_rss)));
  expect(m.maxmemory_human).toBe('0B');
  expect(Number(m.mem_fragmentation_ratio)).toBeGreaterThan(0);
  expect(m.mem_fragmentation_ratio).toMatch(/^\d+\.\d\d$/);
});

test('used_memory_peak is a high-water mark of used_memory', async () => {
  let before = await memory();
  let held: Buffer[] = [];
  for (let round = 0; round < 6; round++) {
    // Allocated between two INFOs and let go in every other round: used_memory goes up and down.
    if (round % 2 === 0) held = Array.from({ length: 8 }, () => Buffer.alloc(4 * MB, 1));
    else held = [];
    const m = await memory();
    expect(Number(m.used_memory_peak)).toBeGreaterThanOrEqual(Number(m.used_memory));
    expect(Number(m.used_memory_peak)).toBeGreaterThanOrEqual(Number(before.used_memory_peak));
    expect(m.used_memory_peak_human).toBe(human(Number(m.used_memory_peak)));
    expect(m.used_memory_peak_perc).toBe(`${((Number(m.used_memory) / Number(m.used_memory_peak)) * 100).toFixed(2)}%`);
    before = m;
  }
  expect(held).toEqual([]);
});

test("human() prints bytes as Redis's bytesToHuman does", () => {
  expect([0, 1023, 1024, 1536, 1048575, 1048576, 15 * MB + 320 * 1024, 1024 * MB, 1024 * 1024 * MB].map(human))
    .toEqual(['0B', '1023B', '1.00K', '1.50K', '1024.00K', '1.00M', '15.31M', '1.00G', '1.00T']);
});
