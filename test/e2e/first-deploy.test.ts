/**
 * A new operator's first sitting, on the real loopback host: a git repository holding only the app → `init` →
 * replace the CHANGE_ME secrets (the one hand edit) → `validate` → `setup` → the first deploy from the workstation
 * → a second release → a rollback run the way GitHub runs the generated rollback caller: its dispatch inputs, its
 * `with:` into this repository's rollback.yml, that workflow's `with:` into the action bundle.
 *
 * The host has no registry: the images the generated config names (caddy, postgis, busybox, docker-cli, migrate)
 * are the harness's offline builds tagged under those names on the host engine. The database image is the real
 * builtin one: the deploy builds docker/db/Dockerfile on the host over that PostGIS image, whose apt-get reaches
 * the Debian mirror this machine's own apt uses (the harness's PostGIS image is made from it too).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { FakeGitHubApi } from '../fakes/github-api.js';
import { hostDocker, hostSsh, type HarnessInfo } from '../harness/host.js';
import { freePort, run } from '../harness/proc.js';
import { runCli, ROOT, type CliResult } from '../harness/run-cli.js';
import { initSampleGit, SAMPLE_APP_DIR, SAMPLE_MIGRATIONS, SAMPLE_MIGRATIONS_DIR } from '../harness/sample-repo.js';
import { checkoutWorkspace, runStep } from './action-runner.js';
import { httpGet, sharedHost } from './support.js';

const ENV = 'staging';
const STACK = `togather-${ENV}`;

/** every file under dir (but .git) with its content's digest and mode: "init changed nothing" is this, unchanged */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    if (f === '.git' || f.startsWith(`.git/`)) continue;
    const p = join(dir, f);
    const st = statSync(p);
    if (!st.isFile()) continue;
    out[relative(dir, p)] =
      `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${(st.mode & 0o777).toString(8)}`;
  }
  return out;
}

/**
 * `${{ a || b }}` over inputs/secrets/github, as the runner evaluates the plain references a `with:` holds; each
 * alternative may also be `x != 'lit' && y == 'lit' && 'lit'` (string comparisons, a literal or a reference)
 */
function evaluate(value: unknown, ctx: Record<string, Record<string, string>>): string {
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  const text = String(value ?? '');
  const m = /^\$\{\{\s*(.+?)\s*\}\}$/.exec(text);
  if (!m) {
    assert.ok(!text.includes('${{'), `unsupported expression in ${text}`);
    return text;
  }
  const operand = (term: string): string => {
    const literal = /^'([^']*)'$/.exec(term);
    if (literal) return literal[1]!;
    const ref = /^(inputs|secrets|github|matrix)\.([A-Za-z0-9_-]+)$/.exec(term);
    assert.ok(ref, `unsupported expression ${term}`);
    return ctx[ref[1]!]?.[ref[2]!] ?? '';
  };
  for (const alt of m[1]!.split('||').map((s) => s.trim())) {
    let v = '';
    for (const term of alt.split('&&').map((s) => s.trim())) {
      const cmp = /^(.+?)\s*(==|!=)\s*(.+)$/.exec(term);
      v = cmp ? ((operand(cmp[1]!) === operand(cmp[3]!)) === (cmp[2] === '==') ? 'true' : '') : operand(term);
      if (v === '') break;
    }
    if (v !== '') return v;
  }
  return '';
}

interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown>;
  steps?: { uses?: string; with?: Record<string, unknown>; if?: string }[];
}

async function cleanStack(info: HarnessInfo): Promise<void> {
  const ids = (await hostDocker(info, ['ps', '-aq', '--filter', `name=^${STACK}-`], { check: false })).stdout.split(
    '\n',
  );
  if (ids.some(Boolean)) await hostDocker(info, ['rm', '-f', '-v', ...ids.filter(Boolean)], { check: false });
  const vols = (
    await hostDocker(info, ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${STACK}`], {
      check: false,
    })
  ).stdout.split('\n');
  if (vols.some(Boolean)) await hostDocker(info, ['volume', 'rm', '-f', ...vols.filter(Boolean)], { check: false });
  await hostDocker(info, ['network', 'rm', `${STACK}_togather`], { check: false });
  await hostSsh(info, `rm -rf togather/${ENV}`, { check: false });
}

describe('from an empty repository to a deployed, rolled-back environment', { timeout: 1_200_000 }, () => {
  let info: HarnessInfo;
  let repo: string;
  let git: Awaited<ReturnType<typeof initSampleGit>>;
  let httpPort: number;
  let httpsPort: number;
  let fingerprint: string;
  const shas: string[] = [];
  const outputs: CliResult[] = [];
  /** the secret values the operator wrote into the env file */
  const secrets: string[] = [];
  const config = () => join(repo, 'config/deployment.yml');
  const cli = async (args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await runCli(args, { ...info.runnerEnv, ...env });
    outputs.push(r);
    return r;
  };
  const key = () => ['--identity', info.ssh.privateKeyPath];
  const initArgs = () => [
    'init',
    '--dir',
    repo,
    '--environments',
    'staging,production',
    '--host',
    info.ssh.host,
    '--ssh-port',
    String(info.ssh.port),
    '--user',
    info.ssh.user,
    // one server: production on 80/443, staging on ports of its own (plain HTTP), as the quickstart advises
    '--http-port',
    `staging=${httpPort}`,
    '--https-port',
    `staging=${httpsPort}`,
    '--image',
    'togather-e2e/server',
    '--fingerprint',
    fingerprint,
    '--non-interactive',
  ];

  before(async () => {
    ({ info } = await sharedHost());
    await cleanStack(info);
    httpPort = await freePort();
    httpsPort = await freePort();
    // the fingerprint an operator reads off the provider's console: here, of the harness's pinned key
    const fp = await run(['ssh-keygen', '-l', '-f', info.ssh.knownHostsPath]);
    fingerprint = fp.stdout.split(/\s+/)[1]!;
    repo = mkdtempSync(join(tmpdir(), 'tgd-operator-'));
    git = await initSampleGit(repo, 'Operator', 'operator@example.org');
    // the app as the Togather server ships: an image contract Dockerfile (the four build args, the migrations at
    // /app/migrations) at the repository root, and two migrations that the first deploy runs
    copyFileSync(join(SAMPLE_APP_DIR, 'server.mjs'), join(repo, 'server.mjs'));
    const dockerfile = readFileSync(join(SAMPLE_APP_DIR, 'Dockerfile'), 'utf8').trimEnd();
    writeFileSync(join(repo, 'Dockerfile'), `${dockerfile}\nCOPY migrations /app/migrations\n`);
    writeFileSync(join(repo, 'mode'), 'normal\n');
    mkdirSync(join(repo, 'migrations'));
    for (const [name, fixture] of SAMPLE_MIGRATIONS.m1!)
      copyFileSync(join(SAMPLE_MIGRATIONS_DIR, fixture), join(repo, 'migrations', name));
    await git.git('add', '-A');
    await git.commit('the app', '2026-12-01T10:00:00Z');
    // the host's image cache under the names the generated config uses (no registry here)
    const tags: [string, string][] = [
      [info.images.caddy, 'caddy:2.8'],
      [info.images.postgres, 'postgis/postgis:16-3.4'],
      [info.images.gate, 'busybox:1.36'],
      [info.images.keeper, 'docker:27-cli'],
      [info.images.migrateFixture, 'migrate/migrate:v4.19.0'],
    ];
    for (const [from, to] of tags) await hostDocker(info, ['tag', from, to]);
  });

  after(async () => {
    if (!process.env.TOGATHER_KEEP_ENVS) await cleanStack(info);
  });

  test('init writes the config, env files, pinned host key and caller workflows; a second run changes nothing', async () => {
    const first = await cli(initArgs());
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    const written = tree(repo);
    for (const f of [
      'config/deployment.yml',
      'config/known_hosts',
      'config/environments/.env.staging',
      'config/environments/.env.production',
      '.gitignore',
      '.github/workflows/togather-deploy.yml',
      '.github/workflows/togather-rollback.yml',
      '.github/workflows/togather-snapshot.yml',
    ])
      assert.ok(written[f], `init wrote no ${f}: ${Object.keys(written).join(' ')}`);
    assert.ok(!written['docker/Dockerfile'], 'the repository has its own Dockerfile: init must not add one');
    assert.match(written['config/environments/.env.staging']!, / 600$/);
    const pinned = readFileSync(join(repo, 'config/known_hosts'), 'utf8').split('\n');
    assert.deepEqual(
      pinned.filter((l) => l && !l.startsWith('#')),
      [info.ssh.knownHostsLine.trim()],
    );

    const second = await cli(initArgs());
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(tree(repo), written, 'the second init changed a file');
    assert.doesNotMatch(second.stdout, /\bwrote\b|overwrote/);

    // a bad answer: a clear error, and nothing written
    const bad = await cli([...initArgs(), '--domain', 'staging=not a domain', '--force']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr + bad.stdout, /--domain/);
    assert.deepEqual(tree(repo), written, 'a refused init changed a file');
  });

  test('validate refuses the CHANGE_ME secrets, then accepts the env file once they are set (no network)', async () => {
    const refused = await cli(['validate', ENV, '--config', config(), ...key()]);
    assert.equal(refused.code, 2, refused.stdout);
    assert.match(refused.stderr, /POSTGRES_PASSWORD: still holds the .* placeholder/);

    // the operator's one hand edit: real secrets for CHANGE_ME (the database password twice: URL and server)
    const file = join(repo, 'config/environments/.env.staging');
    const password = `pg-${randomBytes(12).toString('hex')}`;
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => {
        if (line.startsWith('#') || !line.includes('CHANGE_ME')) return line;
        const k = line.slice(0, line.indexOf('='));
        const value = k === 'POSTGRES_PASSWORD' || k === 'DATABASE_URL' ? password : randomBytes(24).toString('hex');
        secrets.push(value);
        return line.replaceAll('CHANGE_ME', value);
      });
    writeFileSync(file, lines.join('\n'));
    const ok = await cli(['validate', ENV, '--config', config(), ...key()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid: staging/);

    // the operator commits what init wrote; .gitignore keeps the env files (secrets) out
    await git.git('add', '-A');
    const staged = (await git.git('diff', '--cached', '--name-only')).stdout;
    assert.doesNotMatch(staged, /\.env\.(staging|production)\b/, 'an env file would be committed');
    await git.commit('deployment config', '2026-12-01T11:00:00Z');
    shas.push((await git.git('rev-parse', 'HEAD')).stdout.trim());
  });

  test('setup finds the host ready and creates the stack directory; a second run changes nothing', async () => {
    const first = await cli(['setup', ENV, '--config', config(), ...key()]);
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, /ready/);
    assert.equal((await hostSsh(info, `test -d togather/${ENV}`, { check: false })).code, 0, 'no stack directory');
    const second = await cli(['setup', ENV, '--config', config(), ...key(), '--json']);
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(second.stdout) as { ready: boolean; changed: boolean; checks: { status: string }[] };
    assert.equal(report.ready, true);
    assert.equal(report.changed, false, second.stdout);
    assert.ok(!report.checks.some((c) => c.status === 'created' || c.status === 'installed'), second.stdout);
  });

  test('the first deploy from the workstation, then a second release', async () => {
    const base = ['--config', config(), ...key(), '--repo', repo, '--skip-ci-check'];
    const first = await cli(['deploy', ENV, ...base]);
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    let served = JSON.parse((await httpGet(httpPort, '/version')).body) as { git_commit: string };
    assert.equal(served.git_commit, shas[0]);
    // the database is the builtin image, built on the host: its extensions are there, and the migrations ran
    const image = (await hostDocker(info, ['inspect', '-f', '{{.Config.Image}}', `${STACK}-db`])).stdout.trim();
    assert.match(image, /^togather-postgres:[0-9a-f]{16}$/);
    const psql = ['exec', `${STACK}-db`, 'psql', '-X', '-U', 'togather', '-d', 'togather', '-At', '-c'];
    const extensions = (await hostDocker(info, [...psql, 'SELECT extname FROM pg_extension ORDER BY 1'])).stdout;
    for (const ext of ['pg_trgm', 'postgis', 'vector']) assert.match(extensions, new RegExp(`^${ext}$`, 'm'));
    const schema = (await hostDocker(info, [...psql, 'SELECT version, dirty FROM schema_migrations'])).stdout;
    assert.equal(schema.trim(), '2|f');

    writeFileSync(join(repo, 'server.mjs'), readFileSync(join(repo, 'server.mjs'), 'utf8') + '\n// release two\n');
    await git.git('add', 'server.mjs');
    await git.commit('release two', '2026-12-02T10:00:00Z');
    shas.push((await git.git('rev-parse', 'HEAD')).stdout.trim());
    const second = await cli(['deploy', ENV, ...base]);
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    served = JSON.parse((await httpGet(httpPort, '/version')).body) as { git_commit: string };
    assert.equal(served.git_commit, shas[1]);
  });

  test("a rollback with the generated rollback caller's inputs, through rollback.yml into the action", async () => {
    const caller = parse(readFileSync(join(repo, '.github/workflows/togather-rollback.yml'), 'utf8')) as {
      on: { workflow_dispatch: { inputs: Record<string, { default?: unknown; options?: string[] }> } };
      jobs: Record<string, Job>;
    };
    // what the Run-workflow form submits: the environment picked, every other input at its default
    const dispatch: Record<string, string> = {};
    for (const [name, spec] of Object.entries(caller.on.workflow_dispatch.inputs))
      dispatch[name] = spec.default === undefined ? '' : String(spec.default);
    assert.ok(caller.on.workflow_dispatch.inputs.environment?.options?.includes(ENV));
    dispatch.environment = ENV;
    assert.ok(caller.on.workflow_dispatch.inputs.command?.options?.includes('rollback'));
    dispatch.command = 'rollback';
    const [callerJob] = Object.values(caller.jobs);
    assert.match(callerJob!.uses!, /^togather\/togather-deploy\/\.github\/workflows\/rollback\.yml@v1$/);

    const secrets = {
      SSH_PRIVATE_KEY: readFileSync(info.ssh.privateKeyPath, 'utf8'),
      SSH_KNOWN_HOSTS: readFileSync(join(repo, 'config/known_hosts'), 'utf8'),
      ENV_FILE: readFileSync(join(repo, 'config/environments/.env.staging'), 'utf8'),
    };
    const called: Record<string, string> = {};
    for (const [k, v] of Object.entries(callerJob!.with ?? {})) called[k] = evaluate(v, { inputs: dispatch });
    const passed: Record<string, string> = {};
    for (const [k, v] of Object.entries(callerJob!.secrets ?? {})) passed[k] = evaluate(v, { secrets });

    // this repository's reusable workflow: its declared inputs' defaults, then the action step's with:
    const reusable = parse(readFileSync(join(ROOT, '.github/workflows/rollback.yml'), 'utf8')) as {
      on: { workflow_call: { inputs: Record<string, { default?: unknown }> } };
      jobs: Record<string, Job>;
    };
    const inputs: Record<string, string> = {};
    for (const [name, spec] of Object.entries(reusable.on.workflow_call.inputs))
      inputs[name] = called[name] ?? (spec.default === undefined ? '' : String(spec.default));
    for (const name of Object.keys(called)) assert.ok(name in inputs, `rollback.yml has no input ${name}`);
    // the job that rolls back (versions/status run in another job, without the lock)
    const actionStep = reusable.jobs.rollback?.steps?.find((s) => s.uses?.startsWith('togather/togather-deploy@'));
    assert.ok(actionStep, 'rollback.yml runs no togather-deploy action step');
    const github = { sha: shas[1]! };
    const actionInputs: Record<string, string> = {};
    for (const [k, v] of Object.entries(actionStep.with ?? {}))
      actionInputs[k] = evaluate(v, { inputs, secrets: passed, github });
    assert.equal(actionInputs.environment, ENV);

    const token = `ghs_firstdeploy${randomBytes(8).toString('hex')}`;
    const fake = await FakeGitHubApi.start({ token });
    try {
      const r = await runStep({
        inputs: Object.fromEntries(Object.entries(actionInputs).filter(([, v]) => v !== '')),
        env: {
          GITHUB_SHA: shas[1]!,
          GITHUB_REF: 'refs/heads/main',
          GITHUB_REPOSITORY: `${fake.owner}/${fake.repo}`,
          GITHUB_RUN_ID: '7000000001',
          GITHUB_RUN_ATTEMPT: '1',
          GITHUB_ACTOR: 'operator',
          GITHUB_SERVER_URL: 'https://github.com',
          GITHUB_API_URL: fake.url,
          GITHUB_EVENT_NAME: 'workflow_dispatch',
          GITHUB_JOB: 'rollback',
          ...info.runnerEnv,
        },
        workspace: checkoutWorkspace(repo, shas[1]!),
        token,
      });
      assert.equal(r.code, 0, `${r.log}\n${r.stderr}`);
      const served = JSON.parse((await httpGet(httpPort, '/version')).body) as { git_commit: string };
      assert.equal(served.git_commit, shas[0], 'the rollback did not bring the first release back');
      for (const secret of Object.values(secrets))
        for (const line of secret.split('\n').filter((l) => l.length > 24 && !l.includes('ssh-ed25519')))
          assert.ok(!r.files.includes(line), 'a secret line reached a file command');
    } finally {
      await fake.close();
    }
  });

  test('no secret of the env file appears in anything init, validate, setup or deploy printed', () => {
    assert.ok(secrets.length >= 4, `${secrets.length} secrets`);
    assert.ok(outputs.length >= 8, `${outputs.length} commands`);
    for (const r of outputs)
      for (const v of secrets) assert.ok(!(r.stdout + r.stderr).includes(v), 'a secret value was printed');
  });
});
