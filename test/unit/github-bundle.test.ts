/**
 * The GitHub transport must work where it really runs: inside an ncc ESM bundle, under Node 24 (the
 * runner's) as well as Node 20. @actions/github carries its own undici, which bundlers have broken
 * before, so the gate is bundled and run against the loopback fake under both. Takes ~15 s (the bundling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeGitHubApi } from '../fakes/github-api.js';

const ROOT = resolve(import.meta.dirname, '../..');
const NCC = join(ROOT, 'node_modules/@vercel/ncc/dist/ncc/cli.js');
const NODE24 = join(ROOT, 'node_modules/node/bin/node');
const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const TOKEN = 'ghs_bundleTOKENbundleTOKEN0123';

function runNode(
  bin: string,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(bin, [script], { env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => done({ code, out }));
  });
}

test('the CI gate works from an ncc ESM bundle under Node 20 and Node 24', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-gh-bundle-'));
  const fake = await FakeGitHubApi.start({ token: TOKEN });
  try {
    // bundling the module itself needs no entry file inside the work tree; ncc keeps its exports
    execFileSync(
      process.execPath,
      [NCC, 'build', join(ROOT, 'src/github/ci-gate.ts'), '-o', join(dir, 'lib'), '--quiet'],
      {
        cwd: ROOT,
        stdio: 'pipe',
      },
    );
    const script = join(dir, 'run.mjs');
    writeFileSync(
      script,
      `import { verifyCommitPassed } from './lib/index.js';
const e = process.env;
const r = await verifyCommitPassed({ apiUrl: e.API, token: e.TOK, owner: 'togather', repo: 'server', sha: e.SHA,
  required: [], deadlineMs: 10000, pollIntervalMs: 50 });
console.log('RESULT ' + JSON.stringify({ n: r.checks.length, state: r.checks[0].state }));
`,
    );
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build', id: 1 })] });
    const bins = [process.execPath, ...(existsSync(NODE24) ? [NODE24] : [])];
    for (const bin of bins) {
      const { code, out } = await runNode(bin, script, { API: fake.url, TOK: TOKEN, SHA });
      assert.equal(code, 0, `${bin}: ${out}`);
      assert.match(out, /RESULT \{"n":1,"state":"success"\}/, `${bin}: ${out}`);
      assert.ok(!out.includes(TOKEN));
    }
    assert.equal(fake.requestsTo('/check-runs').length, bins.length);
    assert.ok(fake.requests.every((r) => r.headers.authorization === `token ${TOKEN}`));
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
