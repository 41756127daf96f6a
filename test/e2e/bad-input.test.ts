/**
 * Issue 2, must-show 4: bad configurations and inputs, through the CLI and through the action bundle. Each is
 * refused with exit code 2 and a message naming the file and key at fault and the fix, and leaves the host
 * untouched: one environment is deployed first, and after every case its containers, networks, volumes,
 * state.json and the deploy user's whole file tree (contents included) are compared with the snapshot taken
 * before the first case. Injection attempts aim a `touch` at a canary path that must never appear.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { actionWorkspace, runDeployStep } from './action-runner.js';
import { newEnv, runCli, type TestEnv } from './support.js';
import { canaryFired, canaryPath, hostSnapshot, snapshotDiff, type HostSnapshot } from './untouched.js';

type Config = Record<string, unknown> & {
  app: Record<string, unknown>;
  deployment: Record<string, unknown>;
  images: Record<string, unknown>;
  environments: Record<string, Record<string, unknown>>;
};

interface Outcome {
  code: number;
  text: string;
}

/** generous timeouts: these tests are about refusals, and run beside other suites on a busy machine */
const patient = (c: Record<string, unknown>): void => {
  (c.deployment as Record<string, unknown>).verify_timeout = '60s';
  ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '90s';
};

describe('bad configuration and inputs: exit 2, a clear message, the host untouched', { timeout: 900_000 }, () => {
  let env: TestEnv;
  let baseline: HostSnapshot;
  let workspace: string;
  let canary: string;
  let n = 0;
  const results: { label: string; code: number; ms: number }[] = [];

  /** a copy of the environment's config changed by `mutate`, with the env file referenced absolutely */
  const variant = (mutate: (c: Config) => void, raw?: (text: string) => string): string => {
    const c = parse(readFileSync(env.configPath, 'utf8')) as Config;
    c.environments[env.name]!.env_file = env.envFilePath;
    mutate(c);
    const dir = join(env.dir, `variant-${n++}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'deployment.yml');
    writeFileSync(file, raw ? raw(stringify(c)) : stringify(c));
    return file;
  };
  const envFile = (text: string, mode = 0o600): string => {
    const file = join(env.dir, `env-${n++}`);
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    return file;
  };
  const goodEnvText = () => readFileSync(env.envFilePath, 'utf8');
  const cli = async (
    args: string[],
    o: { config?: string; knownHosts?: string; extra?: string[] } = {},
  ): Promise<Outcome> => {
    const r = await runCli(
      [
        ...args.slice(0, 2),
        '--config',
        o.config ?? env.configPath,
        '--identity',
        env.info.ssh.privateKeyPath,
        '--known-hosts',
        o.knownHosts ?? env.info.ssh.knownHostsPath,
        '--repo',
        env.repo.dir,
        ...args.slice(2),
        ...(o.extra ?? []),
      ],
      { ...env.info.runnerEnv },
    );
    return { code: r.code, text: r.stdout + r.stderr };
  };
  const deployCli = (
    o: {
      config?: string;
      version?: string;
      envFile?: string;
      knownHosts?: string;
      extra?: string[];
      environment?: string;
    } = {},
  ) =>
    cli(
      [
        'deploy',
        o.environment ?? env.name,
        '--version',
        o.version ?? 'v2',
        '--skip-ci-check',
        ...(o.envFile ? ['--env-file', o.envFile] : []),
      ],
      o,
    );
  const action = async (inputs: Record<string, string>): Promise<Outcome> => {
    const r = await runDeployStep(env, workspace, goodEnvText(), inputs);
    return { code: r.code, text: r.log + r.stderr };
  };

  /** one case: exit 2, every pattern in the output, and nothing changed on the host since the baseline */
  /** patterns that name the environment are functions of its name (known only once `before` ran) */
  const rejects = (
    label: string,
    attempt: () => Promise<Outcome>,
    ...patterns: (RegExp | ((name: string) => RegExp))[]
  ) =>
    test(label, async () => {
      const t0 = Date.now();
      const r = await attempt();
      results.push({ label, code: r.code, ms: Date.now() - t0 });
      assert.equal(r.code, 2, `exit ${r.code}:\n${r.text}`);
      for (const p of patterns) assert.match(r.text, typeof p === 'function' ? p(env.name) : p);
      assert.match(r.text, /fix:/, 'the message says how to fix it');
      assert.doesNotMatch(r.text, /▶ connect|::group::connect/, 'no connection was attempted');
      assert.equal(canaryFired(env.name), false, 'an injected command ran');
      assert.equal(snapshotDiff(baseline, await hostSnapshot(env.info, env.name)), '', 'the host changed');
    });

  before(async () => {
    env = await newEnv('badin', { config: patient });
    canary = canaryPath(env.name);
    const v1 = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    workspace = actionWorkspace(env, env.repo.shas.v1);
    baseline = await hostSnapshot(env.info, env.name);
    assert.match(baseline.state, /"status": ?"active"/);
    assert.ok(baseline.containers.includes(`tg-${env.name}-app-blue`), baseline.containers);
  });

  after(() => {
    // the matrix, for the closing note
    for (const r of results) console.log(`bad input | ${r.label} | exit ${r.code} | ${r.ms} ms`);
  });

  // ---- deployment.yml ------------------------------------------------------------------------------------
  rejects(
    'missing key: app.image',
    () => deployCli({ config: variant((c) => delete c.app.image) }),
    /deployment\.yml:\d+ app\.image: is required/,
    /fix: add image:/,
  );
  rejects(
    "missing key: the environment's host",
    () => deployCli({ config: variant((c) => delete c.environments[env.name]!.host) }),
    (name) => new RegExp(`environments\\.${name}\\.host: is required`),
    /fix: add host:/,
  );
  rejects(
    'CHANGE_ME in a value of app.env (deployment.yml)',
    () => deployCli({ config: variant((c) => (c.app.env = { SMTP_HOST: 'CHANGE_ME' })) }),
    /deployment\.yml:\d+ app\.env\.SMTP_HOST: still holds the CHANGE_ME placeholder/,
  );
  rejects(
    'unknown environment',
    () => deployCli({ environment: 'nosuchenv' }),
    /environments: has no environment "nosuchenv"/,
    (name) => new RegExp(`deploy one of: ${name}`),
  );
  rejects(
    'bad host: a user in it',
    () => deployCli({ config: variant((c) => (c.environments[env.name]!.host = 'tgdeploy@127.0.0.1')) }),
    (name) => new RegExp(`environments\\.${name}\\.host: "tgdeploy@127\\.0\\.0\\.1" is not valid`),
    /the SSH user goes in user:/,
  );
  rejects(
    'shell metacharacters in the host',
    () => deployCli({ config: variant((c) => (c.environments[env.name]!.host = `127.0.0.1;touch ${canary}`)) }),
    (name) => new RegExp(`environments\\.${name}\\.host: .* is not valid`),
    /write only a host name or IP address/,
  );
  rejects(
    'shell metacharacters in the path',
    () =>
      deployCli({ config: variant((c) => (c.environments[env.name]!.path = `stacks/${env.name}$(touch ${canary})`)) }),
    (name) => new RegExp(`environments\\.${name}\\.path: .* is not valid`),
    /letters, digits/,
  );
  rejects(
    '"../" in the path',
    () => deployCli({ config: variant((c) => (c.environments[env.name]!.path = `stacks/../../${env.name}x`)) }),
    (name) => new RegExp(`environments\\.${name}\\.path`),
    /remove "\.\."/,
  );
  rejects(
    'shell metacharacters in the image',
    () => deployCli({ config: variant((c) => (c.app.image = `togather-test/app;touch ${canary}`)) }),
    /app\.image: .* is not valid/,
    /without tag or shell characters/,
  );
  rejects(
    'shell metacharacters in a service image (images.caddy)',
    () => deployCli({ config: variant((c) => (c.images.caddy = `caddy:2.8 && touch ${canary}`)) }),
    /images\.caddy: .* is not valid/,
    /full image reference without shell characters/,
  );
  rejects(
    'unknown key (a typo)',
    () => deployCli({ config: variant((c) => (c.deployment.drain_timout = '5s')) }),
    /deployment\.drain_timout: is not a known setting/,
    /did you mean drain_timeout\?/,
  );
  rejects(
    'bad duration',
    () => deployCli({ config: variant((c) => (c.deployment.drain_timeout = '5 minutes')) }),
    /deployment\.drain_timeout: "5 minutes" is not (a duration|valid)/,
    /fix: write a number with a unit: 500ms, 2s, 10m or 1h/,
  );
  rejects(
    'a wrong type (port as text)',
    () => deployCli({ config: variant((c) => (c.environments[env.name]!.port = 'twenty-two')) }),
    (name) => new RegExp(`environments\\.${name}\\.port: must be a number`),
  );
  rejects(
    'YAML syntax error',
    () =>
      deployCli({
        config: variant(
          () => undefined,
          (t) => `${t}\napp: [unclosed\n`,
        ),
      }),
    /deployment\.yml:\d+/,
  );
  rejects(
    'a YAML alias bomb',
    () =>
      deployCli({
        config: variant(
          () => undefined,
          (t) =>
            `${t}\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n` +
            `${Array.from({ length: 8 }, (_, i) => `x${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]`).join('\n')}\n`,
        ),
      }),
    /deployment\.yml/,
    /alias/i,
  );
  rejects(
    'several problems at once are all reported in one run',
    () =>
      deployCli({
        config: variant((c) => {
          c.app.image = 'Bad Image';
          c.deployment.drain_timeout = 'soon';
          c.environments[env.name]!.user = 'root;id';
        }),
      }),
    /The configuration has \d+ problems/,
    /app\.image/,
    /deployment\.drain_timeout/,
    (name) => new RegExp(`environments\\.${name}\\.user`),
  );

  // ---- env files -----------------------------------------------------------------------------------------
  rejects(
    'CHANGE_ME in an env-file value',
    () => deployCli({ envFile: envFile(goodEnvText().replace(/^JWT_SECRET=.*$/m, 'JWT_SECRET=CHANGE_ME')) }),
    /env-\d+:\d+ JWT_SECRET: still holds the CHANGE_ME placeholder/,
  );
  rejects(
    'a world-readable env file',
    () => deployCli({ envFile: envFile(goodEnvText(), 0o644) }),
    /env-\d+ is readable or writable by other users \(mode 644\)/,
    /fix: chmod 600 /,
  );
  rejects(
    'a required key missing from the env file',
    () => deployCli({ envFile: envFile(goodEnvText().replace(/^DATABASE_URL=.*\n/m, '')) }),
    /DATABASE_URL/,
    /add DATABASE_URL=/,
  );
  rejects(
    "a value with both ' and $",
    () =>
      deployCli({
        envFile: envFile(goodEnvText().replace(/^ADMIN_PASSWORD=.*$/m, `ADMIN_PASSWORD="it's 5$ (${env.name})"`)),
      }),
    /env-\d+:\d+ ADMIN_PASSWORD: contains both ' and \$/,
  );

  // ---- command line --------------------------------------------------------------------------------------
  rejects(
    'malformed SHA (41 hex digits)',
    () => deployCli({ version: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef1' }),
    /version "deadbeef.*" does not name a commit/,
    /fix: /,
  );
  rejects(
    'shell metacharacters in the version',
    () => deployCli({ version: `v1;touch ${canary}` }),
    /version "v1;touch .*" is not a commit SHA, tag or branch name/,
  );
  rejects(
    'command substitution in the version',
    () => deployCli({ version: `v1$(touch ${canary})` }),
    /is not a commit SHA, tag or branch name/,
  );
  rejects(
    'missing known_hosts file',
    () => deployCli({ knownHosts: join(env.dir, 'no-such-known_hosts') }),
    /known_hosts file not found: .*no-such-known_hosts/,
    /fix: pass --known-hosts/,
  );
  rejects(
    '--set with a bad variable name',
    () => deployCli({ extra: ['--set', `BAD-KEY=x`] }),
    /BAD-KEY: is not a valid variable name/,
  );

  // ---- action inputs, through the bundle ------------------------------------------------------------------
  rejects(
    'action: missing required input ssh-known-hosts',
    () => action({ 'ssh-known-hosts': '' }),
    /::error::[^]*input ssh-known-hosts: is required: pin the host key/,
  );
  rejects(
    'action: shell metacharacters in the environment input',
    () => action({ environment: `staging;touch ${canary}` }),
    /::error::[^]*input environment: an environment name from the config file/,
  );
  rejects(
    'action: bad ci-timeout',
    () => action({ 'ci-timeout': 'soon', 'skip-ci-check': 'false' }),
    /::error::[^]*input ci-timeout: a duration like 20m/,
  );
  rejects('action: bad boolean', () => action({ 'dry-run': 'maybe' }), /::error::[^]*input dry-run/);
  rejects(
    'action: CHANGE_ME in the env-file input',
    () => action({ 'env-file': goodEnvText().replace(/^JWT_SECRET=.*$/m, 'JWT_SECRET=CHANGE_ME') }),
    /::error .*::env-file input:\d+ JWT_SECRET: still holds the CHANGE_ME placeholder — fix: /,
  );
  rejects(
    'action: shell metacharacters in the version input',
    () => action({ version: `v1 && touch ${canary}` }),
    /::error::.*is not a commit SHA, tag or branch name/,
  );
  rejects(
    'action: a config path outside the workspace',
    () => action({ config: '../../../etc/passwd' }),
    /::error::[^]*input config: a path inside the workspace: relative, without "\.\."/,
  );
});
