// Workers stopped with worker.terminate() while inside native calls: the
// call's error cannot reach JavaScript once the worker's environment is
// going, and the addon must drop it rather than end the whole process
// (binding.gyp, NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS). In a child
// process (fixtures/worker/terminate.js), which an abort would end.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { expectBuilt, ROOT } from './cli-helpers';
import { tmpFile } from './helpers';

test('workers terminated during throwing, opening and refused native calls leave the process running', () => {
  expectBuilt(['kv/store', 'core/mapping']);
  const dir = tmpFile('terminate');
  fs.mkdirSync(dir);
  try {
    const rounds = 20;
    const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'worker', 'terminate.js'), path.join(ROOT, 'dist'), dir, String(rounds)], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout) as Record<string, { rounds: number; callsBeforeStop: number }>;
    for (const name of ['throwing', 'openClose', 'locked']) {
      expect(out[name].rounds).toBe(rounds);
      // Each worker was stopped only once it was making native calls.
      expect(out[name].callsBeforeStop).toBeGreaterThanOrEqual(rounds);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
