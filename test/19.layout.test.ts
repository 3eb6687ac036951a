// The layout rules of docs/ARCHITECTURE.md ("Folders and who may import
// whom"), read from the sources: every import, export-from, require and
// import() (type-only ones too) of every lib/**/*.ts, resolved to a folder
// of lib/; index files that only re-export; and binding.gyp listing exactly
// the native sources there are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..');
const lib = path.join(root, 'lib');

/** Which folders of lib/ each folder may import from ('*': any). */
const MAY_IMPORT: Record<string, readonly string[] | '*'> = {
  core: ['core'],
  testing: ['core', 'testing'],
  log: ['core', 'log'],
  kv: ['core', 'log', 'kv'],
  obj: ['core', 'obj'],
  cache: ['core', 'cache'],
  sort: ['core', 'log', 'sort'],
  server: ['core', 'log', 'kv', 'replicate', 'replicated', 'server'],
  replicate: ['core', 'log', 'replicate'],
  replicated: ['core', 'log', 'kv', 'replicate', 'replicated'],
  cli: '*',
};

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, ext));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out.sort();
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** Every module specifier `source` names, static, dynamic, type-only or required. */
function specifiers(source: ts.SourceFile): string[] {
  const out: string[] = [];
  const literal = (n: ts.Node | undefined): void => {
    if (n !== undefined && ts.isStringLiteralLike(n)) out.push(n.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) literal(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal(node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) literal(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) {
        literal(node.arguments[0]);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/**
 * The folder of lib/ a specifier in `file` names: 'index' for lib/index.ts,
 * null for a package or node: builtin, 'outside' for a path out of lib/.
 */
function target(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const rel = path.relative(lib, path.resolve(path.dirname(file), spec));
  if (rel.startsWith('..') || path.isAbsolute(rel)) return 'outside';
  const parts = rel.split(path.sep);
  return parts.length === 1 ? 'index' : parts[0]!;
}

/** The rule broken by each import of `file` (as `file: spec`), none when it keeps them all. */
function violations(file: string, source: ts.SourceFile, dependencies: readonly string[]): string[] {
  const rel = path.relative(lib, file);
  const folder = rel.split(path.sep).length === 1 ? 'index' : rel.split(path.sep)[0]!;
  const allowed = folder === 'index' ? '*' : MAY_IMPORT[folder];
  const out: string[] = [];
  for (const spec of specifiers(source)) {
    const to = target(file, spec);
    if (to === null) {
      if (!spec.startsWith('node:') && !dependencies.includes(spec)) out.push(`${rel}: '${spec}' is neither node: nor a dependency`);
    } else if (to === 'outside') out.push(`${rel}: '${spec}' is outside lib/`);
    else if (allowed === undefined) out.push(`${rel}: lib/${folder}/ is not a known folder`);
    else if (allowed !== '*' && !allowed.includes(to)) out.push(`${rel}: '${spec}' (lib/${to}) is not allowed from lib/${folder}`);
  }
  return out;
}

/**
 * The re-exports of `source` (outside the index files) that reach run
 * time: `export … from` and `export { name }` of an imported name, type-only
 * ones apart. TypeScript's CommonJS output defines each as an accessor on
 * the module's exports object, which turns that object into a dictionary:
 * every call another module makes through it then goes through a generic
 * property load (a put paid about 60 ns for three of them: docs/bench.md).
 */
function reExports(source: ts.SourceFile): string[] {
  const imported = new Set<string>();
  for (const s of source.statements) {
    if (!ts.isImportDeclaration(s) || s.importClause === undefined || s.importClause.isTypeOnly) continue;
    const c = s.importClause;
    if (c.name !== undefined) imported.add(c.name.text);
    if (c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings)) {
      for (const e of c.namedBindings.elements) if (!e.isTypeOnly) imported.add(e.name.text);
    } else if (c.namedBindings !== undefined) imported.add(c.namedBindings.name.text);
  }
  const out: string[] = [];
  for (const s of source.statements) {
    if (!ts.isExportDeclaration(s) || s.isTypeOnly) continue;
    const names = s.exportClause !== undefined && ts.isNamedExports(s.exportClause)
      ? s.exportClause.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text)
      : ['*'];
    if (s.moduleSpecifier !== undefined) {
      if (names.length > 0) out.push(s.getText());
    } else if (names.some((n) => imported.has(n))) out.push(s.getText());
  }
  return out;
}

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const dependencies = Object.keys(pkg.dependencies ?? {});

describe('lib/ folders and who may import whom', () => {
  const files = filesUnder(lib, '.ts');

  test('there are sources in every folder the rules name, and none in an unnamed one', () => {
    const folders = new Set(files.map((f) => path.relative(lib, f).split(path.sep)).filter((p) => p.length > 1).map((p) => p[0]!));
    expect([...folders].sort()).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  test('no .ts file stands directly in lib/ but index.ts', () => {
    const direct = fs.readdirSync(lib).filter((n) => n.endsWith('.ts'));
    expect(direct).toEqual(['index.ts']);
  });

  test('every import of every lib/**/*.ts keeps the rules', () => {
    let seen = 0;
    const broken: string[] = [];
    for (const f of files) {
      const source = parse(f);
      seen += specifiers(source).length;
      broken.push(...violations(f, source, dependencies));
    }
    expect(broken).toEqual([]);
    expect(seen).toBeGreaterThan(100); // the parser found the imports
  });

  test('lib/testing/index.ts only re-exports', () => {
    const source = parse(path.join(lib, 'testing', 'index.ts'));
    expect(source.statements.length).toBeGreaterThan(0);
    for (const s of source.statements) {
      expect(ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined ? 'export … from' : s.getText()).toBe('export … from');
    }
  });

  test('lib/index.ts re-exports, and declares, names for ES modules and loads on first use the same names from the same modules', () => {
    const source = parse(path.join(lib, 'index.ts'));
    const namespaces = new Map<string, string>();
    const declared = new Map<string, string>();
    const lazy = new Map<string, string>();
    const assigned: string[] = [];
    const other: string[] = [];
    let reExports = 0;
    const exported = (s: ts.Statement): boolean => ts.getModifiers(s as ts.HasModifiers)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false;
    for (const s of source.statements) {
      if (ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined) {
        reExports++;
      } else if (ts.isImportDeclaration(s) && s.importClause?.isTypeOnly && s.importClause.namedBindings !== undefined && ts.isNamespaceImport(s.importClause.namedBindings)) {
        namespaces.set(s.importClause.namedBindings.name.text, (s.moduleSpecifier as ts.StringLiteral).text);
      } else if (ts.isVariableStatement(s) && exported(s) && ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) {
        // export declare const NAME: typeof ns.NAME;
        for (const d of s.declarationList.declarations) {
          const t = d.type;
          const q = t !== undefined && ts.isTypeQueryNode(t) && ts.isQualifiedName(t.exprName) ? t.exprName : undefined;
          if (q === undefined || !ts.isIdentifier(q.left) || q.right.text !== (d.name as ts.Identifier).text) other.push(d.getText());
          else declared.set(q.right.text, namespaces.get(q.left.text) ?? `no namespace ${q.left.text}`);
        }
      } else if (ts.isTypeAliasDeclaration(s) && exported(s)) {
        // export type NAME<…> = ns.NAME<…>; (a class's instance type)
        const t = s.type;
        const ok = ts.isTypeReferenceNode(t) && ts.isQualifiedName(t.typeName) && ts.isIdentifier(t.typeName.left)
          && namespaces.has(t.typeName.left.text) && t.typeName.right.text === s.name.text;
        if (!ok) other.push(s.getText());
      } else if (ts.isFunctionDeclaration(s) && s.name?.text === 'lazy') {
        // the one helper
      } else if (ts.isExpressionStatement(s) && ts.isCallExpression(s.expression) && s.expression.expression.getText() === 'lazy') {
        const [spec, names] = s.expression.arguments;
        if (spec === undefined || !ts.isStringLiteral(spec) || names === undefined || !ts.isArrayLiteralExpression(names)) other.push(s.getText());
        else for (const n of names.elements) lazy.set((n as ts.StringLiteral).text, spec.text);
      } else if (ts.isExpressionStatement(s) && ts.isBinaryExpression(s.expression)) {
        // exports.A = exports.B = … = undefined;
        let e: ts.Expression = s.expression;
        while (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isPropertyAccessExpression(e.left) && e.left.expression.getText() === 'exports') {
          assigned.push(e.left.name.text);
          e = e.right;
        }
        if (e.getText() !== 'undefined') other.push(s.getText());
      } else {
        other.push(s.getText());
      }
    }
    expect(other).toEqual([]);
    expect(reExports).toBeGreaterThan(10);
    expect(lazy.size).toBeGreaterThan(0);
    const sorted = (m: Iterable<string>): string[] => [...m].sort();
    expect(sorted(declared.keys())).toEqual(sorted(lazy.keys()));
    expect(sorted(assigned)).toEqual(sorted(lazy.keys()));
    for (const [name, spec] of lazy) expect(`${name} from ${declared.get(name)}`).toBe(`${name} from ${spec}`);
  });

  test('no module but the index files re-exports at run time', () => {
    const found: string[] = [];
    for (const f of files) {
      const rel = path.relative(lib, f);
      if (rel === 'index.ts' || rel === path.join('testing', 'index.ts')) continue;
      for (const r of reExports(parse(f))) found.push(`${rel}: ${r}`);
    }
    expect(found).toEqual([]);
  });

  test('finds the re-exports that reach run time, and only those', () => {
    const text = [
      "import { a, b, type C } from './x';",
      "import * as ns from './y';",
      "import type { D } from './z';",
      "const local = 1;",
      "export { a };",
      "export { local };",
      "export { type C };",
      "export type { D };",
      "export { ns as space };",
      "export { e } from './w';",
      "export * from './v';",
      "export type { F } from './u';",
      "export { type G } from './t';",
    ].join('\n');
    const source = ts.createSourceFile('example.ts', text, ts.ScriptTarget.Latest, true);
    expect(reExports(source)).toEqual(["export { a };", "export { ns as space };", "export { e } from './w';", "export * from './v';"]);
  });

  // The checker itself: each kind of specifier is found, and a forbidden
  // import is reported, so that the test above can fail.
  test('finds every form of specifier and reports a forbidden one', () => {
    const text = [
      "import { a } from '../log/wal';",
      "import type { B } from '../kv/store';",
      "export { c } from './args';",
      "export * from '../obj/pool';",
      "import '../cli/main';",
      "const d = require('../testing/sim');",
      "const e = import('../log/txlog');",
      "type F = import('../kv/log').KvLog;",
      "import g = require('node:fs');",
      "import h from 'left-pad';",
      "import i from '../../bench/x';",
      '// import { j } from "../kv/args";',
    ].join('\n');
    const file = path.join(lib, 'core', 'example.ts');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    expect(specifiers(source)).toEqual([
      '../log/wal', '../kv/store', './args', '../obj/pool', '../cli/main', '../testing/sim', '../log/txlog', '../kv/log', 'node:fs',
      'left-pad', '../../bench/x',
    ]);
    expect(violations(file, source, dependencies)).toEqual([
      "core/example.ts: '../log/wal' (lib/log) is not allowed from lib/core",
      "core/example.ts: '../kv/store' (lib/kv) is not allowed from lib/core",
      "core/example.ts: '../obj/pool' (lib/obj) is not allowed from lib/core",
      "core/example.ts: '../cli/main' (lib/cli) is not allowed from lib/core",
      "core/example.ts: '../testing/sim' (lib/testing) is not allowed from lib/core",
      "core/example.ts: '../log/txlog' (lib/log) is not allowed from lib/core",
      "core/example.ts: '../kv/log' (lib/kv) is not allowed from lib/core",
      "core/example.ts: 'left-pad' is neither node: nor a dependency",
      "core/example.ts: '../../bench/x' is outside lib/",
    ]);
    const cli = path.join(lib, 'cli', 'example.ts');
    expect(violations(cli, ts.createSourceFile(cli, text, ts.ScriptTarget.Latest, true), dependencies)).toEqual([
      "cli/example.ts: 'left-pad' is neither node: nor a dependency",
      "cli/example.ts: '../../bench/x' is outside lib/",
    ]);
  });
});

describe('native/ sources and binding.gyp', () => {
  // binding.gyp is a Python literal: '#' comments, otherwise JSON here.
  const gyp = JSON.parse(
    fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'),
  ) as { targets: { sources?: string[] }[] };
  const listed = gyp.targets.flatMap((t) => t.sources ?? []);

  test('every native/**/*.cc is listed in binding.gyp', () => {
    const onDisk = filesUnder(path.join(root, 'native'), '.cc').map((f) => path.relative(root, f).split(path.sep).join('/'));
    expect(onDisk.length).toBeGreaterThan(0);
    expect(onDisk.filter((f) => !listed.includes(f))).toEqual([]);
  });

  test('every source binding.gyp lists exists', () => {
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((f) => !fs.existsSync(path.join(root, f)))).toEqual([]);
  });
});
