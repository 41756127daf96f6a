/**
 * The npm package is the CLI: `npm pack --dry-run` must list the bundle, every asset the engine reads at run time
 * (the docker/ files beside the installation, found by src/engine/assets.ts) and the legal and release files — and
 * none of the sources, tests, workflows or the action's own bundle. package.json declares no runtime dependency:
 * ncc bundles everything. test/e2e/package.test.ts installs the tarball and deploys with it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

/** docker/ files the engine never reads: examples and test data, kept out of the package */
const NOT_SHIPPED = ['docker/Caddyfile.production', 'docker/Caddyfile.staging', 'docker/monitoring/prometheus/tests/'];

interface PackFile {
  path: string;
  size: number;
  mode: number;
}
interface Pack {
  name: string;
  version: string;
  size: number;
  unpackedSize: number;
  files: PackFile[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  type?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  files?: string[];
};

/** every file under a directory of the repository, as a path relative to the root */
function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1))
    .sort();
}

/** the literal paths of readAsset('docker', …) calls in src/ (those built from variables are covered by docker/) */
function readAssetCalls(): string[] {
  const out = new Set<string>();
  for (const f of filesUnder('src').filter((p) => p.endsWith('.ts'))) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/\breadAsset\(((?:\s*'[^']+'\s*,?)+)\)/g))
      out.add([...m[1]!.matchAll(/'([^']+)'/g)].map((a) => a[1]).join('/'));
  }
  return [...out].sort();
}

describe('the npm package (npm pack --dry-run)', () => {
  let pack: Pack;
  let paths: string[];
  before(() => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--offline'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    pack = (JSON.parse(r.stdout) as Pack[])[0]!;
    paths = pack.files.map((f) => f.path).sort();
  });

  test('is togather-deploy at package.json’s version, an ES module for Node.js 20 or newer', () => {
    assert.equal(pack.name, 'togather-deploy');
    assert.equal(pack.version, pkg.version);
    assert.equal(pkg.type, 'module');
    assert.equal(pkg.engines?.node, '>=20');
  });

  test('declares no runtime dependency (ncc bundles them all)', () => {
    assert.deepEqual(pkg.dependencies ?? {}, {});
  });

  test('ships the CLI bundle as the togather-deploy command, executable, with its shebang', () => {
    assert.deepEqual(pkg.bin, { 'togather-deploy': 'dist/cli/index.js' });
    for (const p of ['dist/cli/index.js', 'dist/cli/package.json', 'dist/cli/licenses.txt', 'package.json'])
      assert.ok(paths.includes(p), `${p} is missing`);
    const bin = pack.files.find((f) => f.path === 'dist/cli/index.js')!;
    assert.ok(bin.mode & 0o111, `dist/cli/index.js mode ${bin.mode.toString(8)}`);
    assert.ok(readFileSync(join(ROOT, 'dist/cli/index.js'), 'utf8').startsWith('#!/usr/bin/env -S node --\n'));
  });

  test('ships every docker/ asset the engine reads, and only those', () => {
    const shipped = filesUnder('docker').filter((p) => !NOT_SHIPPED.some((n) => p === n || p.startsWith(n)));
    assert.deepEqual(
      paths.filter((p) => p.startsWith('docker/')),
      shipped,
    );
    for (const n of NOT_SHIPPED) assert.ok(!paths.some((p) => p.startsWith(n)), `${n} is shipped`);
    const calls = readAssetCalls();
    assert.ok(calls.includes('docker/compose.yml') && calls.includes('docker/keeper.sh'), calls.join(' '));
    for (const c of calls) assert.ok(paths.includes(c), `readAsset('${c}') would not find its file`);
  });

  test('ships the schema, the readme, the licence and the changelog', () => {
    for (const p of ['config/deployment.schema.json', 'README.md', 'LICENSE', 'CHANGELOG.md'])
      assert.ok(paths.includes(p), `${p} is missing`);
  });

  test('ships no sources, tests, workflows, bench results, source maps, env files or the action bundle', () => {
    const banned = [
      /^src\//,
      /^test\//,
      /^scripts\//,
      /^node_modules\//,
      /^\.github\//,
      /^bench-results\//,
      /\.map$/,
      /(^|\/)\.env/,
      /^dist\/index\.js$/,
      /^config\/deployment\.yml$/,
      /^action\.yml$/,
    ];
    assert.deepEqual(
      paths.filter((p) => banned.some((b) => b.test(p))),
      [],
    );
  });

  test('stays small (packed under 2 MB)', () => {
    assert.ok(pack.size < 2_000_000, `${pack.size} bytes packed`);
  });
});
