// `npm start`: maps the default file, writes and persists a record, reopens
// the file and reads the record back. Run it twice to see the previous run's
// record survive.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { defaultLocation, EMULATED_BANNER } from './location';
import { openMapping } from './mapping';

const RECORD = 256;
const MODES = {
  dax: 'DAX: CLWB+SFENCE reach persistent media (power-fail safe)',
  forced: 'forced: CLWB+SFENCE on DRAM (PMEM_IS_PMEM_FORCE=1; not power-fail safe)',
  msync: 'msync: not pmem, persisted with msync (power-fail safe only on a disk-backed file)',
} as const;

function main(): void {
  const where = defaultLocation();
  if (where.emulated) console.log(EMULATED_BANNER + '\n');
  fs.mkdirSync(where.dir, { recursive: true });
  const file = path.join(where.dir, 'demo.pmem');

  const m = openMapping(file, { size: 4096, create: true });
  console.log(`file:        ${file} (${where.source})`);
  console.log(`durability:  ${MODES[m.mode]}`);
  console.log(`granularity: ${m.granularity}`);

  const previous = m.buffer.toString('utf8', 0, RECORD).replace(/\0+$/, '');
  console.log(`previous:    ${previous || '(none: first run)'}`);

  const record = `written by pid ${process.pid} at ${new Date().toISOString()}`;
  m.buffer.fill(0, 0, RECORD);
  m.buffer.write(record, 0);
  m.persist(0, RECORD); // durable from here on
  m.close();

  const again = openMapping(file);
  const readBack = again.buffer.toString('utf8', 0, RECORD).replace(/\0+$/, '');
  again.close();
  console.log(`wrote:       ${record}`);
  console.log(`read back:   ${readBack}`);
  if (readBack !== record) {
    console.error('read-back mismatch');
    process.exitCode = 1;
  }
}

main();
