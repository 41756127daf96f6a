// Shows that the deploy and rollback sequence tests guard the order of the steps: each mutation below moves or
// drops one step in the engine's source, the sequence tests run against it, and each mutation must make at
// least one of them fail. The source is restored after every run (and on Ctrl-C).
// Usage: node scripts/reorder-check.mjs   (exit 1 when a mutation goes unnoticed)
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const TESTS = ['deploy-sequence', 'rollback-sequence', 'failures'].map(
  (f) => `test/unit/engine/operations/${f}.test.ts`,
);

/** one step moved or dropped: [file, what, text to find, text to put instead] */
const MUTATIONS = [
  [
    'src/engine/operations/deploy.ts',
    'deploy: the lock taken after the image is shipped',
    ['    await op.takeLock();\n', '    const image = await shipImage(ctx, op, sha, ref);\n'],
    ['', '    const image = await shipImage(ctx, op, sha, ref);\n    await op.takeLock();\n'],
  ],
  [
    'src/engine/release/cutover.ts',
    'cutover: the new colour routed before its health gate',
    ['  let verdict: HealthVerdict;\n'],
    ['  await switchTo(ctx, layout, c.target, c.live);\n  let verdict: HealthVerdict;\n'],
  ],
  [
    'src/engine/release/cutover.ts',
    'cutover: a failed health gate leaves the new colour running',
    [
      '  } catch (e) {\n    await stopColour(ctx, layout, c.target, 10_000);\n    throw e;\n  }\n  try {\n    await ensureProxyRunning',
    ],
    ['  } catch (e) {\n    throw e;\n  }\n  try {\n    await ensureProxyRunning'],
  ],
  [
    'src/engine/operations/operation.ts',
    'operation: the switch not marked as the point of no return',
    ["    this.switched = true;\n    record.status = 'active';\n"],
    ["    record.status = 'active';\n"],
  ],
  [
    'src/engine/operations/operation.ts',
    'operation: the lock released before the host log and notifications',
    ['    const unlocked = this.lock?.release();\n', '    for (const fn of this.cleanups)'],
    ['    const unlocked = undefined;\n', '    await this.lock?.release();\n    for (const fn of this.cleanups)'],
  ],
  [
    'src/engine/operations/rollback.ts',
    'rollback: the lock taken after the target colour is started',
    ['    if (!ctx.dryRun) await op.takeLock();\n', '    const warm = await startTarget(ctx, op, facts, at, ref);\n'],
    ['', '    const warm = await startTarget(ctx, op, facts, at, ref);\n    await op.takeLock();\n'],
  ],
];

const originals = new Map();
const restore = () => originals.forEach((text, file) => writeFileSync(file, text));
process.on('SIGINT', () => {
  restore();
  process.exit(130);
});

let unnoticed = 0;
for (const [file, what, finds, puts] of MUTATIONS) {
  const text = readFileSync(file, 'utf8');
  originals.set(file, text);
  let mutated = text;
  finds.forEach((find, i) => {
    if (!mutated.includes(find))
      throw new Error(`${what}: the text to mutate is no longer in ${file}; update this script`);
    mutated = mutated.replace(find, puts[i]);
  });
  try {
    writeFileSync(file, mutated);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...TESTS], {
      encoding: 'utf8',
    });
    const failing = [...r.stdout.matchAll(/^ {4}not ok \d+ - (.*)$/gm)].map((m) => m[1]);
    const caught = r.status !== 0 && failing.length > 0;
    if (!caught) unnoticed++;
    console.log(`${caught ? 'caught    ' : 'UNNOTICED '} ${what} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    for (const name of failing) console.log(`             fails: ${name}`);
  } finally {
    writeFileSync(file, text);
  }
}
console.log(`${MUTATIONS.length - unnoticed} of ${MUTATIONS.length} reorderings caught by the sequence tests`);
process.exit(unnoticed ? 1 : 0);
