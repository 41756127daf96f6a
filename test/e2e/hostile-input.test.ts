/**
 * Issue 9, hostile input: CLI flags, action inputs (the bundle, under Node 24, as the runner runs it),
 * deployment.yml and env files carrying shell metacharacters, $(…), backticks, newlines, quotes, "../",
 * overlong values, unicode lookalikes, YAML tricks and invalid UTF-8. Every injection attempt aims a `touch`
 * at a canary path; each case is either rejected (exit 2, the problem named, no connection made) or handled
 * safely (the value reaches the app byte for byte, as data). After the rejected cases the host is compared
 * with its snapshot: nothing changed. bad-input.test.ts covers the plainer bad configurations and a few
 * injections (host, path, image, version, environment input); those are not repeated here.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { hostDocker } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { runDeployer } from '../fault/deployer.js';
import { Matrix } from '../fault/matrix.js';
import { actionWorkspace, runDeployStep } from './action-runner.js';
import { cliArgs, newEnv, ROOT, type TestEnv } from './support.js';
import { canaryFired, canaryPath, hostSnapshot, snapshotDiff, type HostSnapshot } from './untouched.js';

interface Outcome {
  code: number;
  text: string;
  ms: number;
  /** the action's outputs file, parsed (action cases only) */
  outputs?: Record<string, string>;
}

interface Case {
  name: string;
  attempt: () => Promise<Outcome>;
  /** the exit code and a pattern the output must match */
  code: number;
  message: RegExp;
  /** more checks on the outcome; returns problems */
  also?: (o: Outcome) => string[];
}

const LIMIT = 3; // cases run at once: each is a process start on a small machine

async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe('hostile input: rejected or handled safely, nothing runs, the host unchanged', { timeout: 900_000 }, () => {
  const matrix = new Matrix('hostile-input');
  let env: TestEnv;
  let baseline: HostSnapshot;
  let workspace: string;
  let canary: string;
  let n = 0;
  const file = (name: string, content: string | Buffer, mode = 0o600): string => {
    const f = join(env.dir, `h${n++}-${name}`);
    writeFileSync(f, content, { mode });
    chmodSync(f, mode);
    return f;
  };
  const goodEnv = () => readFileSync(env.envFilePath, 'utf8');
  /** the environment's config changed by `mutate` (env_file made absolute), or raw text */
  const config = (mutate: (c: Record<string, Record<string, unknown>>) => void): string => {
    const c = parse(readFileSync(env.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
    (c.environments![env.name] as Record<string, unknown>).env_file = env.envFilePath;
    mutate(c);
    const dir = join(env.dir, `cfg${n++}`);
    mkdirSync(dir);
    const f = join(dir, 'deployment.yml');
    writeFileSync(f, stringify(c));
    return f;
  };
  const rawConfig = (text: string | Buffer): string => {
    const dir = join(env.dir, `cfg${n++}`);
    mkdirSync(dir);
    const f = join(dir, 'deployment.yml');
    writeFileSync(f, text);
    return f;
  };
  const envLine = (k: string) =>
    goodEnv()
      .split('\n')
      .find((l) => l.startsWith(`${k}=`)) ?? '';
  const cli = async (args: string[], o: { config?: string; environment?: string } = {}): Promise<Outcome> => {
    const r = await runDeployer(env, [args[0]!, o.environment ?? env.name, ...args.slice(1)], { config: o.config });
    return { code: r.code ?? 128, text: r.stdout + r.stderr, ms: r.ms };
  };
  /** the CLI as installed: dist/cli/index.js (or TOGATHER_TEST_CLI_BUNDLE) started through its #! line */
  const installedCli = async (args: string[]): Promise<Outcome> => {
    const t0 = Date.now();
    const bin = process.env.TOGATHER_TEST_CLI_BUNDLE ?? join(ROOT, 'dist/cli/index.js');
    const r = await run([bin, ...cliArgs(env, [args[0]!, env.name, ...args.slice(1)])], {
      check: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
    });
    return { code: r.code, text: r.stdout + r.stderr, ms: Date.now() - t0 };
  };
  const deployCli = (extra: string[] = [], o: { config?: string; environment?: string } = {}) =>
    cli(['deploy', '--skip-ci-check', ...(extra.includes('--version') ? [] : ['--version', 'v2']), ...extra], o);
  const action = async (inputs: Record<string, string>): Promise<Outcome> => {
    const t0 = Date.now();
    const r = await runDeployStep(env, workspace, goodEnv(), inputs);
    return { code: r.code, text: r.stdout + r.stderr, ms: Date.now() - t0, outputs: r.outputs };
  };

  /** runs a group of cases that must be refused; one matrix row each; then the host must equal the baseline */
  async function refusals(group: string, cases: Case[]): Promise<void> {
    const results = await pool(cases, LIMIT, async (c) => ({ c, o: await c.attempt() }));
    const failed: string[] = [];
    for (const { c, o } of results) {
      const problems: string[] = [];
      if (o.code !== c.code) problems.push(`exit ${o.code}, expected ${c.code}`);
      if (!c.message.test(o.text)) problems.push(`output does not match ${c.message}`);
      if (/▶ connect|::group::connect/.test(o.text)) problems.push('a connection was attempted');
      if (o.text.length > 20_000) problems.push(`${o.text.length} characters of output (an echoed value?)`);
      if (canaryFired(env.name)) problems.push('the canary fired: an injected command ran');
      problems.push(...(c.also?.(o) ?? []));
      // the line naming the problem (config errors start with a count line)
      const lines = o.text
        .replace(/%0A/g, '\n')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const shown = (
        lines.find((l) =>
          /is not|not valid|does not|has no|contains|too |must|already set|not closed|may hold|ends with|is required|alias|input /.test(
            l,
          ),
        ) ??
        lines[0] ??
        ''
      ).slice(0, 220);
      matrix.add({
        group,
        case: c.name,
        expected: `rejected (exit ${c.code}), nothing run`,
        observed: `exit ${o.code} in ${(o.ms / 1000).toFixed(1)}s: ${shown}${problems.length ? `. FAILED: ${problems.join('; ')}` : ''}`,
        pass: problems.length === 0,
      });
      if (problems.length) failed.push(`${c.name}: ${problems.join('; ')}\n${o.text.slice(0, 1500)}`);
    }
    const diff = snapshotDiff(baseline, await hostSnapshot(env.info, env.name));
    matrix.add({
      group,
      case: `host after the ${cases.length} cases above`,
      expected: 'unchanged (files, modes, contents, containers, state), canary absent',
      observed: diff ? `CHANGED: ${diff}` : `unchanged; canary ${canaryFired(env.name) ? 'FIRED' : 'absent'}`,
      pass: !diff && !canaryFired(env.name),
    });
    if (diff) failed.push(`the host changed: ${diff}`);
    assert.deepEqual(failed, []);
  }

  before(async () => {
    // an image repository of its own: other suites' deploys prune togather-test/app on the shared host
    env = await newEnv('hostile', {
      config: (c) => {
        const app = c.app as Record<string, Record<string, unknown>>;
        (app as Record<string, unknown>).image = 'togather-test/hostile-app';
        app.health!.start_timeout = '90s';
        (c.deployment as Record<string, unknown>).verify_timeout = '60s';
      },
    });
    canary = canaryPath(env.name);
    const v1 = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    workspace = actionWorkspace(env, env.repo.shas.v1);
    baseline = await hostSnapshot(env.info, env.name);
  });

  after(async () => {
    matrix.finish();
    process.stdout.write(
      '(also refused, see bad-input.test.ts: metacharacters in host, path, image, images.caddy, version and the environment input; ' +
        '"../" in path and config input; a YAML alias bomb)\n',
    );
  });

  const touch = () => `touch ${canary}`;

  test('CLI flags and arguments', () =>
    refusals('CLI', [
      {
        name: '--version with backticks',
        attempt: () => deployCli(['--version', `\`${touch()}\``]),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: '--version with a newline and a second command',
        attempt: () => deployCli(['--version', `v1\n${touch()}`]),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: '--version as a git option (--upload-pack=…)',
        attempt: () => deployCli([`--version=--upload-pack=${touch()}`]),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: '--version climbing out with ../',
        attempt: () => deployCli(['--version', '../../../../etc/passwd']),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: '--version of 5000 characters',
        attempt: () => deployCli(['--version', 'a'.repeat(5000)]),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
        also: (o) => (o.text.includes('a'.repeat(200)) ? ['the long value is echoed whole'] : []),
      },
      {
        name: '--version in fullwidth lookalikes (ｖ１)',
        attempt: () => deployCli(['--version', 'ｖ１']),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: '--version with a zero-width space (v1\\u200b)',
        attempt: () => deployCli(['--version', 'v1\u200b']),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: 'environment argument with ; and a command',
        attempt: () => deployCli([], { environment: `${'x'};${touch()}` }),
        code: 2,
        message: /has no environment/,
      },
      {
        name: 'environment argument "../../etc"',
        attempt: () => deployCli([], { environment: '../../etc' }),
        code: 2,
        message: /has no environment/,
      },
      {
        name: 'environment argument with a Cyrillic lookalike letter',
        attempt: () => deployCli([], { environment: env.name.replace('e', '\u0435') }),
        code: 2,
        message: /has no environment/,
      },
      {
        name: '--set with a newline in the value',
        attempt: () => deployCli(['--set', `EXTRA=ok\n${touch()}`]),
        code: 2,
        message: /EXTRA: contains a line break/,
      },
      {
        name: "--set with both ' and $(…)",
        attempt: () => deployCli(['--set', `EXTRA='$(${touch()})'`]),
        code: 2,
        message: /EXTRA: contains both ' and \$/,
      },
      {
        name: '--set with $(…) in the name',
        attempt: () => deployCli(['--set', `X$(${touch()})=1`]),
        code: 2,
        message: /is not a valid variable name/,
      },
      {
        name: '--config naming $(…)',
        attempt: () => deployCli([], { config: `/tmp/$(${touch()})/deployment.yml` }),
        code: 2,
        message: /does not exist/,
      },
      {
        name: '--env-file naming `…`',
        attempt: () => deployCli(['--env-file', `\`${touch()}\``]),
        code: 2,
        message: /does not exist/,
      },
      {
        name: 'installed CLI (#! line): --env-file naming a missing file with $(…)',
        attempt: () =>
          installedCli(['deploy', '--version', 'v2', '--skip-ci-check', '--env-file', `/nonexistent/$(${touch()})`]),
        code: 2,
        message: /does not exist/,
      },
    ]));

  test('action inputs (the bundle under Node 24)', () =>
    refusals('action input', [
      {
        name: 'environment with $(…)',
        attempt: () => action({ environment: `$(${touch()})` }),
        code: 2,
        message: /input environment: an environment name/,
      },
      {
        name: 'environment of 300 characters',
        attempt: () => action({ environment: 'a'.repeat(300) }),
        code: 2,
        message: /input environment/,
      },
      {
        name: 'version with backticks',
        attempt: () => action({ version: `\`${touch()}\`` }),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
      },
      {
        name: 'version smuggling a workflow command after a newline (::set-output)',
        attempt: () => action({ version: `v1\n::set-output name=version::pwned\n::add-path::/tmp/evil` }),
        code: 2,
        message: /is not a commit SHA, tag or branch name/,
        also: (o) => [
          ...(/^::(set-output|add-path|set-env|stop-commands)/m.test(o.text)
            ? ['a workflow command reached the log unescaped']
            : []),
          ...(Object.values(o.outputs ?? {}).some((v) => v.includes('pwned')) ? ['an output was set'] : []),
        ],
      },
      {
        name: 'version of 201 characters',
        attempt: () => action({ version: 'v'.repeat(201) }),
        code: 2,
        message: /input version/,
      },
      {
        name: 'config with $(…)',
        attempt: () => action({ config: `config/$(${touch()}).yml` }),
        code: 2,
        message: /input config/,
      },
      {
        name: 'config as an absolute path (/etc/shadow)',
        attempt: () => action({ config: '/etc/shadow' }),
        code: 2,
        message: /input config/,
      },
      {
        name: 'dry-run "true; touch …"',
        attempt: () => action({ 'dry-run': `true; ${touch()}` }),
        code: 2,
        message: /input dry-run/,
      },
      {
        name: 'skip-ci-check with $(…)',
        attempt: () => action({ 'skip-ci-check': `$(${touch()})` }),
        code: 2,
        message: /input skip-ci-check/,
      },
      {
        name: 'ci-timeout with backticks',
        attempt: () => action({ 'ci-timeout': `20m\`${touch()}\``, 'skip-ci-check': 'false' }),
        code: 2,
        message: /input ci-timeout/,
      },
      {
        name: 'command "deploy && touch …"',
        attempt: () => action({ command: `deploy && ${touch()}` }),
        code: 2,
        message: /input command/,
      },
      {
        name: 'env-file input re-assigning JWT_SECRET on a second line',
        attempt: () => action({ 'env-file': `${goodEnv()}JWT_SECRET=$(${touch()})\n` }),
        code: 2,
        message: /JWT_SECRET: is already set on line \d+/,
      },
    ]));

  test('deployment.yml', () =>
    refusals('deployment.yml', [
      {
        name: 'host as an ssh option (-oProxyCommand=…)',
        attempt: () =>
          deployCli([], {
            config: config(
              (c) => ((c.environments![env.name] as Record<string, unknown>).host = `-oProxyCommand=${touch()}`),
            ),
          }),
        code: 2,
        message: /host: .* is not valid/,
      },
      {
        name: 'user with ; and a command',
        attempt: () =>
          deployCli([], {
            config: config(
              (c) => ((c.environments![env.name] as Record<string, unknown>).user = `tgdeploy;${touch()}`),
            ),
          }),
        code: 2,
        message: /user: .* is not valid/,
      },
      {
        name: 'app.name with backticks',
        attempt: () => deployCli([], { config: config((c) => (c.app!.name = `tg\`${touch()}\``)) }),
        code: 2,
        message: /app\.name: .* is not valid/,
      },
      {
        name: 'health path with ;',
        attempt: () =>
          deployCli([], {
            config: config((c) => ((c.app!.health as Record<string, unknown>).path = `/health;${touch()}`)),
          }),
        code: 2,
        message: /app\.health\.path: .* is not valid/,
      },
      {
        name: 'a domain carrying a Caddyfile block',
        attempt: () =>
          deployCli([], { config: config((c) => (c.proxy!.domains = ['example.org {\n  respond "pwned"\n}\nx.org'])) }),
        code: 2,
        message: /proxy\.domains\[0\]: .* is not valid/,
      },
      {
        name: 'snapshots path with ../',
        attempt: () =>
          deployCli([], {
            config: config((c) => ((c.database as Record<string, unknown>).snapshots = { path: '../../../../tmp/x' })),
          }),
        code: 2,
        message: /database\.snapshots\.path/,
      },
      {
        name: 'a YAML tag asking for code (!!python/object/apply)',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              readFileSync(
                config(() => undefined),
                'utf8',
              ).replace(/^ {2}name: .*$/m, `  name: !!python/object/apply:os.system ["${touch()}"]`),
            ),
          }),
        code: 2,
        message: /app\.name/,
      },
      {
        name: 'an environment key with a Cyrillic lookalike letter',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              readFileSync(
                config(() => undefined),
                'utf8',
              ).replace(`  ${env.name}:`, `  ${env.name.replace('e', '\u0435')}:`),
            ),
          }),
        code: 2,
        message: /is not a valid name|has no environment/,
      },
      {
        name: 'YAML nested 20,000 levels deep',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              `x-deep: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n${readFileSync(
                config(() => undefined),
                'utf8',
              )}`,
            ),
          }),
        code: 2,
        message: /is not valid YAML/,
      },
      {
        name: 'YAML merge keys multiplying an anchor',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              `${readFileSync(
                config(() => undefined),
                'utf8',
              )}x-a: &a0 {k: v}\n${Array.from({ length: 6 }, (_, i) => `x-b${i + 1}: &a${i + 1} {<<: [${Array(8).fill(`*a${i}`).join(', ')}]}`).join('\n')}\n`,
            ),
          }),
        code: 2,
        message: /alias/,
      },
      {
        name: 'invalid UTF-8 bytes',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              Buffer.concat([
                Buffer.from(
                  readFileSync(
                    config(() => undefined),
                    'utf8',
                  ),
                ),
                Buffer.from([0x23, 0x20, 0xc3, 0x28, 0xff, 0x0a]),
              ]),
            ),
          }),
        code: 2,
        message: /is not valid UTF-8/,
      },
      {
        name: 'a file of 1.5 MiB',
        attempt: () =>
          deployCli([], {
            config: rawConfig(
              `${readFileSync(
                config(() => undefined),
                'utf8',
              )}x-pad: "${'a'.repeat(1_500_000)}"\n`,
            ),
          }),
        code: 2,
        message: /a config file may hold at most/,
      },
      {
        name: 'a 200,000-character value (not echoed back)',
        attempt: () =>
          deployCli([], { config: config((c) => (c.app!.image = `togather/${'a'.repeat(200_000)}$(${touch()})`)) }),
        code: 2,
        message: /app\.image: .* is not valid/,
      },
    ]));

  test('env files', () =>
    refusals('env file', [
      {
        name: 'invalid UTF-8 in a value',
        attempt: () =>
          deployCli([
            '--env-file',
            file('bad-utf8', Buffer.concat([Buffer.from(goodEnv()), Buffer.from('EXTRA=\xc3\x28\n', 'latin1')])),
          ]),
        code: 2,
        message: /:\d+ is not valid UTF-8/,
      },
      {
        name: 'a key with ; and a command',
        attempt: () => deployCli(['--env-file', file('key-inject', `${goodEnv()}A;${touch()}=1\n`)]),
        code: 2,
        message: /not a valid variable name/,
      },
      {
        name: 'a key with a Cyrillic lookalike letter (DАTABASE_URL)',
        attempt: () =>
          deployCli([
            '--env-file',
            file('key-lookalike', `${goodEnv().replace(/^DATABASE_URL=/m, 'D\u0410TABASE_URL=')}`),
          ]),
        code: 2,
        message: /not a valid variable name/,
      },
      {
        name: 'a quote left open (value would swallow the next lines)',
        attempt: () => deployCli(['--env-file', file('open-quote', `EXTRA="$(${touch()})\n${goodEnv()}`)]),
        code: 2,
        message: /quote that is not closed/,
      },
      {
        name: 'an escaped newline inside double quotes',
        attempt: () => deployCli(['--env-file', file('esc-newline', `${goodEnv()}EXTRA="ok\\n${touch()}"\n`)]),
        code: 2,
        message: /EXTRA: contains a line break/,
      },
      {
        name: "a value with ' and $(…)",
        attempt: () => deployCli(['--env-file', file('quote-dollar', `${goodEnv()}EXTRA=it's $(${touch()})\n`)]),
        code: 2,
        message: /EXTRA: contains both ' and \$/,
      },
      {
        name: 'DATABASE_URL re-assigned further down',
        attempt: () =>
          deployCli([
            '--env-file',
            file('dup', `${goodEnv()}${envLine('DATABASE_URL').replace('@db:', '@evil.example:')}\n`),
          ]),
        code: 2,
        message: /DATABASE_URL: is already set on line/,
      },
      {
        name: 'a value holding ${HOME} (compose v1 would substitute it)',
        attempt: () => deployCli(['--env-file', file('brace-var', `${goodEnv()}EXTRA='x\${HOME}'\n`)]),
        code: 2,
        message: /EXTRA: contains \$\{…\}/,
      },
      {
        name: 'a value ending in a backslash (compose v1 would swallow the next line)',
        attempt: () => deployCli(['--env-file', file('final-backslash', `${goodEnv()}EXTRA=abc\\\n`)]),
        code: 2,
        message: /EXTRA: ends with a backslash/,
      },
      {
        name: 'a value with $ and a double backslash',
        attempt: () => deployCli(['--env-file', file('dollar-backslashes', `${goodEnv()}EXTRA='p$w\\\\x'\n`)]),
        code: 2,
        message: /EXTRA: contains \$ together with a double backslash/,
      },
      {
        name: 'a NUL byte in a value',
        attempt: () => deployCli(['--env-file', file('nul', `${goodEnv()}EXTRA=a\u0000$(${touch()})\n`)]),
        code: 2,
        message: /EXTRA: contains a NUL character/,
      },
      {
        name: 'a file of 300 KiB',
        attempt: () => deployCli(['--env-file', file('big', `${goodEnv()}PAD=${'p'.repeat(300 * 1024)}\n`)]),
        code: 2,
        message: /an env file may hold at most 256 KiB/,
      },
    ]));

  test('values that are data: every metacharacter reaches the app byte for byte, nothing runs', async () => {
    const values: Record<string, string> = {
      H_SUBST: `$(${touch()})`,
      H_BACKTICK: `\`${touch()}\``,
      H_SEMICOLON: `x;${touch()}`,
      H_PIPE_AND: `x|${touch()}&&y`,
      H_VARS: '$HOME:$PATH:${TOGATHER_STACK:?boom}',
      H_DOUBLE_QUOTES: `say "hi" $(${touch()})`,
      H_SINGLE_QUOTE: "it's fine",
      H_HASH: 'pa#ss',
      H_GLOB: '*',
      H_BACKSLASHES: 'a\\b\\\\c"d \\n',
      H_BACKSLASH_DOLLAR: 'a\\b$c',
      H_UNICODE: 'ｐａｓｓ\u200b\u202eevil\u00e9',
      H_DASHES: '--privileged',
      H_EQUALS: 'a=b=c',
      H_PERCENT: '%2F%00%s%n',
      H_REDIRECT: `> /tmp/x 2>&1 < /etc/passwd`,
    };
    // how each is written in the env file: quoted where the format needs it
    const lines = Object.entries(values).map(([k, v]) => {
      if (k === 'H_DOUBLE_QUOTES') return `${k}="${v.replace(/"/g, '\\"')}"`;
      if (k === 'H_SINGLE_QUOTE') return `${k}="${v}"`;
      if (
        k === 'H_UNICODE' ||
        k === 'H_HASH' ||
        k === 'H_GLOB' ||
        k === 'H_DASHES' ||
        k === 'H_EQUALS' ||
        k === 'H_PERCENT' ||
        k === 'H_BACKSLASHES'
      )
        return `${k}=${v}`;
      return `${k}='${v}'`;
    });
    const setValue = `$(${touch()});\`${touch()}\`|x "q"`;
    const envFile = file('data', `${goodEnv()}${lines.join('\n')}\n`);
    const r = await deployCli(['--env-file', envFile, '--set', `H_SET=${setValue}`]);
    const expect = { ...values, H_SET: setValue };
    const state = JSON.parse((await env.hostFile('state.json')) ?? '{}') as { current?: { colour?: string } };
    const colour = state.current?.colour ?? 'green';
    const inspect = await hostDocker(
      env.info,
      ['inspect', '-f', '{{json .Config.Env}}', `${env.stackPrefix}-app-${colour}`],
      { check: false },
    );
    const appEnv = new Map(
      ((JSON.parse(inspect.stdout || '[]') as string[]) ?? []).map((kv) => [
        kv.slice(0, kv.indexOf('=')),
        kv.slice(kv.indexOf('=') + 1),
      ]),
    );
    const failed: string[] = [];
    if (r.code !== 0) failed.push(`deploy exit ${r.code}: ${r.text.slice(-1500)}`);
    for (const [k, v] of Object.entries(expect)) {
      const got = appEnv.get(k);
      const ok = r.code === 0 && got === v && !canaryFired(env.name);
      matrix.add({
        group: 'data, not code',
        case: `${k === 'H_SET' ? '--set' : 'env-file'} value ${JSON.stringify(v).slice(0, 60)}`,
        expected: 'deployed; the app sees exactly this value; nothing runs',
        observed:
          r.code !== 0
            ? `deploy exit ${r.code}`
            : got === v
              ? `app sees it unchanged; canary ${canaryFired(env.name) ? 'FIRED' : 'absent'}`
              : `app sees ${JSON.stringify(got)?.slice(0, 80)}`,
        pass: ok,
      });
      if (!ok) failed.push(`${k}: app has ${JSON.stringify(got)}, expected ${JSON.stringify(v)}`);
    }
    if (canaryFired(env.name)) failed.push('the canary fired');
    assert.deepEqual(failed, []);
  });
});
