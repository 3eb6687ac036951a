// The package's entry as a user loads it (dist/index.js, built from
// lib/index.ts): the names it loads on first use are not loaded by
// require('pmem'), each gives its module's own value once read, and an ES
// module imports every one of them by name.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { tmpFile } from './helpers';

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');

/** lib/index.ts's lazy(module, names) calls: each name with the module it comes from. */
function lazyNames(): [string, string][] {
  const text = fs.readFileSync(path.join(root, 'lib', 'index.ts'), 'utf8');
  const out: [string, string][] = [];
  for (const m of text.matchAll(/^lazy\('([^']+)', \[([^\]]*)\]\);$/gm)) {
    for (const n of m[2].split(',')) out.push([n.trim().replace(/^'|'$/g, ''), m[1]]);
  }
  return out;
}

const lazy = lazyNames();

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { encoding: 'utf8', cwd: root });
}

test('the entry names the modules it loads on first use', () => {
  expect(lazy.map(([n]) => n)).toEqual(expect.arrayContaining(['TieredCache', 'externalSort', 'RespServer', 'ReplicatedStore']));
});

test('require() loads none of them; reading a name loads its module and gives its own value', () => {
  const script = `
    const path = require('node:path');
    const dist = ${JSON.stringify(dist)};
    const lazy = ${JSON.stringify(lazy)};
    const modules = [...new Set(lazy.map(([, m]) => require.resolve(path.join(dist, m))))];
    const loaded = () => modules.filter((f) => require.cache[f] !== undefined);
    const pmem = require(dist);
    const before = loaded();
    const keys = Object.keys(pmem);
    const values = lazy.map(([n, m]) => [typeof pmem[n], pmem[n] === require(path.join(dist, m))[n]]);
    console.log(JSON.stringify({ before, keys, values, after: loaded().length }));`;
  const r = JSON.parse(node(['-e', script])) as { before: string[]; keys: string[]; values: [string, boolean][]; after: number };
  expect(r.before).toEqual([]);
  expect(r.keys).toEqual(expect.arrayContaining(lazy.map(([n]) => n)));
  expect(r.values).toEqual(lazy.map(() => ['function', true]));
  expect(r.after).toBe(new Set(lazy.map(([, m]) => m)).size);
});

test('an ES module imports each of them by name, as the same value require() gives', () => {
  const mjs = `${tmpFile('entry')}.mjs`;
  const names = lazy.map(([n]) => n);
  fs.writeFileSync(mjs, [
    `import { ${names.join(', ')} } from ${JSON.stringify(path.join(dist, 'index.js'))};`,
    `import { createRequire } from 'node:module';`,
    `const cjs = createRequire(import.meta.url)(${JSON.stringify(dist)});`,
    `const got = { ${names.join(', ')} };`,
    `console.log(JSON.stringify(Object.entries(got).map(([n, v]) => [n, typeof v, v === cjs[n]])));`,
  ].join('\n'));
  try {
    expect(JSON.parse(node([mjs]))).toEqual(names.map((n) => [n, 'function', true]));
  } finally {
    fs.rmSync(mjs, { force: true });
  }
});
