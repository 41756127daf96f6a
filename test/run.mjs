// The project's test command (npm test): type-check, lint (eslint, the import graph's cycles and engine layers,
// prettier's formatting), unit tests, end-to-end tests on the real loopback host, workflow and bundle checks.
// Prints each stage, then one plain closing line "N passed, N failed" (node:test cases are counted one by one;
// the other stages count as one test each).
// The end-to-end suite runs whole on the modern stack (Docker 26 + compose v2), and its deploy, rollback,
// zero-downtime, fault, database-start and first-deploy files again on the legacy stack (Docker 20.10 +
// docker-compose v1).
// Usage: node test/run.mjs [stage ...]   stages: typecheck lint unit e2e e2e-legacy dist (default: all)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ALL = ['typecheck', 'lint', 'unit', 'e2e', 'e2e-legacy', 'dist'];
const LEGACY_FILES = ['deploy', 'rollback', 'zero-downtime', 'faults', 'db-init', 'first-deploy'].map((f) =>
  join('test/e2e', `${f}.test.ts`),
);
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
for (const w of wanted)
  if (!ALL.includes(w)) {
    console.error(`unknown stage ${w}; stages: ${ALL.join(' ')}`);
    process.exit(2);
  }
const node = process.execPath;
const bin = (name) => join('node_modules', '.bin', name);
let passed = 0;
let failed = 0;
const failures = [];

function stage(name, fn) {
  const t0 = Date.now();
  console.log(`\n=== ${name}`);
  const r = fn();
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.counted) {
    passed += r.pass;
    failed += r.fail;
    if (r.fail || !r.ok) failures.push(name);
    if (!r.ok && r.fail === 0) {
      failed += 1; // the runner itself failed (crash, no TAP summary)
    }
    console.log(`=== ${name}: ${r.pass} passed, ${r.fail} failed (${secs}s)`);
  } else {
    if (r.ok) passed += 1;
    else {
      failed += 1;
      failures.push(name);
    }
    console.log(`=== ${name}: ${r.ok ? 'ok' : 'FAILED'} (${secs}s)`);
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...opts.env } });
  return r.status === 0;
}

/** the two lanes' host engines share the docker0 bridge: only one harness runs at a time */
function harnessDown(stack) {
  spawnSync(node, ['--import', 'tsx', 'test/harness/cli.ts', 'down'], {
    stdio: 'ignore',
    env: { ...process.env, TOGATHER_HARNESS_STACK: stack },
  });
}

function nodeTests(files, extra = [], env = {}) {
  if (files.length === 0) return { counted: true, ok: true, pass: 0, fail: 0 };
  const tap = join(mkdtempSync(join(tmpdir(), 'tgd-test-')), 'out.tap');
  const ok = run(
    node,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...extra,
      ...files,
    ],
    { env },
  );
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const num = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, 'm').exec(text) ?? [])[1] ?? 0);
  return { counted: true, ok, pass: num('pass'), fail: num('fail') + num('cancelled') };
}

/** the *.test.ts files in `dir`, sorted; with `recursive`, those in its subfolders too (e.g. test/unit/engine/stack/state.test.ts) */
const testFiles = (dir, { recursive = false } = {}) =>
  existsSync(dir)
    ? readdirSync(dir, { recursive })
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => join(dir, f))
    : [];

for (const name of wanted) {
  if (name === 'typecheck') stage('typecheck', () => ({ ok: run(bin('tsc'), ['--noEmit', '-p', '.']) }));
  if (name === 'lint') {
    stage('lint', () => ({ ok: run(bin('eslint'), ['--max-warnings=0', 'src', 'test', 'scripts']) }));
    stage('imports (no cycle, engine layers)', () => ({ ok: run(node, ['scripts/check-imports.mjs']) }));
    stage('format (prettier)', () => ({
      ok: run(bin('prettier'), ['--check', '--log-level=warn', 'src', 'test', 'scripts', 'eslint.config.js']),
    }));
  }
  if (name === 'unit') stage('unit', () => nodeTests(testFiles('test/unit', { recursive: true })));
  // one file at a time (they share the loopback host); no test may hang the run for ever
  const e2eOpts = ['--test-concurrency=1', '--test-timeout=1200000'];
  if (name === 'e2e') {
    harnessDown('legacy');
    stage('e2e (modern: Docker 26, compose v2)', () =>
      nodeTests(testFiles('test/e2e'), e2eOpts, { TOGATHER_HARNESS_STACK: 'modern' }),
    );
  }
  if (name === 'e2e-legacy') {
    harnessDown('modern');
    stage('e2e (legacy: Docker 20.10, docker-compose v1)', () =>
      nodeTests(LEGACY_FILES, e2eOpts, { TOGATHER_HARNESS_STACK: 'legacy' }),
    );
  }
  if (name === 'dist') {
    stage('dist is fresh', () => {
      if (!run(node, ['scripts/bundle.mjs'])) return { ok: false };
      const r = spawnSync('git', ['status', '--porcelain', '--', 'dist'], { encoding: 'utf8' });
      if (r.stdout.trim()) {
        console.log(`dist/ differs from the sources; run npm run bundle and commit:\n${r.stdout}`);
        return { ok: false };
      }
      return { ok: true };
    });
  }
}

if (failures.length) console.log(`\nfailed stages: ${failures.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
