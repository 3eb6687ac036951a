// Opening a mapping or a pool never changes the process's working directory.
// PMDK walks /sys/bus/nd/devices with fts(3) when the addon loads and at
// each open, and glibc's fts changes directory into what it walks unless
// told FTS_NOCHDIR; native/core/nochdir.cc tells it. The working directory
// is shared by every thread, so a change there, however brief, breaks the
// relative paths of all the others. strace(1) records every chdir and
// fchdir the child makes, whatever the timing. A small C program linked
// with PMDK's libpmem2 alone, and the same program linked with nochdir.cc,
// show that the trace sees the change, and that nochdir.cc removes it.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { expectBuilt, ROOT } from './cli-helpers';
import { testDir, tmpFile } from './helpers';

const SYSFS = '/sys/bus/nd/devices';
// Without the nd bus there is nothing for PMDK to walk, and so no change to see.
const walked = fs.existsSync(SYSFS) ? test : test.skip;

interface Trace {
  /** chdir and fchdir calls, of any thread. */
  chdirs: string[];
  /** Opens of /sys/bus/nd/devices: each is one walk. */
  walks: number;
}

/** Runs `cmd args...` under strace and returns what it says about directories. */
function traced(cmd: string, args: string[]): Trace {
  const out = tmpFile('strace.txt');
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=chdir,fchdir,openat', '-o', out, cmd, ...args], {
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`strace could not run (scripts/setup.sh installs it): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} exited with ${r.status} under strace: ${r.stderr}`);
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  fs.rmSync(out);
  return {
    chdirs: lines.filter((l) => /\bf?chdir\(/.test(l)),
    walks: lines.filter((l) => l.includes(`openat(AT_FDCWD, "${SYSFS}"`)).length,
  };
}

const PROBE_C = `
#include <fcntl.h>
#include <libpmem2.h>
#include <stdio.h>
int main(int argc, char** argv) {
  struct pmem2_source* src;
  struct pmem2_config* cfg;
  struct pmem2_map* map;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0 || pmem2_source_from_fd(&src, fd) != 0 || pmem2_config_new(&cfg) != 0 ||
      pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) != 0) return 2;
  if (pmem2_map_new(&map, cfg, src) != 0) { fprintf(stderr, "%s\\n", pmem2_errormsg()); return 1; }
  return 0;
}
`;

describe("PMDK's walk of the nd bus", () => {
  walked('loading the addon, opening a mapping and a pool make no chdir or fchdir', () => {
    expectBuilt(['core/mapping', 'obj/pool']);
    const dir = testDir();
    const child = `
      const { openMapping, ObjPool } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      const at = (n) => require('node:path').join(${JSON.stringify(dir)}, process.pid + '-nochdir-' + n);
      for (let i = 0; i < 3; i++) {
        const m = openMapping(at('map' + i), { create: true, size: 1 << 21 });
        m.close();
        require('node:fs').rmSync(at('map' + i));
      }
      ObjPool.create(at('pool'), { size: 8 << 20 }).close();
      ObjPool.open(at('pool')).close();
      require('node:fs').rmSync(at('pool'));
    `;
    const t = traced(process.execPath, ['-e', child]);
    expect(t.chdirs).toEqual([]);
    // The walks happened: one at load and at least one per mapping opened.
    expect(t.walks).toBeGreaterThanOrEqual(4);
  });

  walked('the trace sees the change PMDK makes alone, and nochdir.cc removes it', () => {
    const work = path.join(testDir(), `${process.pid}-nochdir-c`);
    fs.mkdirSync(work, { recursive: true });
    try {
      const src = path.join(work, 'probe.c');
      fs.writeFileSync(src, PROBE_C);
      const libdir = execFileSync('pkg-config', ['--variable=libdir', 'libpmem2'], { encoding: 'utf8' }).trim();
      const libs = [path.join(libdir, 'libpmem2.a'), '-lndctl', '-ldaxctl', '-ldl', '-lpthread'];
      const wrapper = path.join(work, 'nochdir.o');
      execFileSync('g++', ['-O1', '-c', path.join(ROOT, 'native', 'core', 'nochdir.cc'), '-o', wrapper]);
      execFileSync('gcc', ['-O1', src, '-o', path.join(work, 'plain'), ...libs]);
      execFileSync('g++', ['-O1', '-x', 'c', src, '-x', 'none', wrapper, '-o', path.join(work, 'fixed'), ...libs]);
      const file = path.join(work, 'file');
      fs.writeFileSync(file, Buffer.alloc(4 << 20));

      const plain = traced(path.join(work, 'plain'), [file]);
      expect(plain.walks).toBeGreaterThanOrEqual(1);
      expect(plain.chdirs.length).toBeGreaterThan(0);

      const fixed = traced(path.join(work, 'fixed'), [file]);
      expect(fixed.walks).toBe(plain.walks);
      expect(fixed.chdirs).toEqual([]);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
