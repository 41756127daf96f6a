/**
 * The CLI as an operator installs it: `npm pack` of this checkout, installed offline into an empty prefix with
 * the machine's own node and npm, then `--help` and a real deploy against the loopback host from the installed
 * package — no tsx, no node_modules of this repository, no sources.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { run } from '../harness/proc.js';
import { ROOT, runCommand, type CliResult } from '../harness/run-cli.js';
import { cliArgs, newEnv, type TestEnv } from './support.js';

describe('the npm package, installed into an empty prefix', { timeout: 600_000 }, () => {
  let prefix: string;
  let bin: string;
  let env: TestEnv;
  before(async () => {
    const out = mkdtempSync(join(tmpdir(), 'tgd-pack-'));
    const packed = await run(['npm', 'pack', '--silent', '--pack-destination', out], { cwd: ROOT });
    const tarball = join(out, packed.stdout.trim().split('\n').pop()!);
    prefix = mkdtempSync(join(tmpdir(), 'tgd-prefix-'));
    // --offline: the package must need nothing from a registry (everything it runs is in the bundle)
    await run(['npm', 'install', '--global', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], {
      cwd: out,
    });
    bin = join(prefix, 'bin', 'togather-deploy');
    console.log(`tarball ${statSync(tarball).size} bytes; installed under ${prefix}`);
    env = await newEnv('pkg');
  });

  /** the installed command, run from an unrelated directory with a minimal environment */
  const installed = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    runCommand([bin, ...args], env, tmpdir());

  test('the installed package holds the bundle and its assets, and no dependency', () => {
    const pkgDir = join(prefix, 'lib', 'node_modules', 'togather-deploy');
    const top = readdirSync(pkgDir).sort();
    assert.ok(top.includes('dist') && top.includes('docker'), top.join(' '));
    for (const absent of ['src', 'test', 'node_modules', '.github'])
      assert.ok(!top.includes(absent), `${absent} is in the package`);
  });

  test('togather-deploy --help works from the installed package', async () => {
    const r = await installed(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const command of ['init', 'validate', 'setup', 'deploy', 'rollback'])
      assert.match(r.stdout, new RegExp(`\\b${command}\\b`));
  });

  test('a deploy to the loopback host from the installed package: its compose file and Caddyfile reach the host', async () => {
    const r = await installed(
      cliArgs(env, ['deploy', env.name, '--version', 'v1', '--skip-ci-check']),
      env.info.runnerEnv,
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const version = JSON.parse((await env.get('/version')).body) as { git_commit: string };
    assert.equal(version.git_commit, env.repo.shas.v1);
  });
});
