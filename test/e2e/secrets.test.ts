/**
 * Issue 9, secret hygiene: an environment whose env file holds a distinctive value for every secret the
 * Togather server takes (plus the notification channels' URL, HMAC key and token), deployed, failed and
 * inspected through the CLI and the action bundle (with the SSH private key and a GitHub token as inputs).
 * Then every place a value could end up is searched for each secret in its plain, URL-encoded, base64 and
 * JSON-escaped forms: all output streams, error messages, the job summary and the runner's file-command
 * files, every file of the environment on the host (state, history, per-deployment logs, audit, snapshots
 * and their metadata; app.env and db.env are the two files that must hold them, at mode 600), the webhook
 * and ntfy payloads and the deployment statuses sent to GitHub. Zero hits.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostSsh } from '../harness/host.js';
import { FakeGitHubApi } from '../fakes/github-api.js';
import { Matrix } from '../fault/matrix.js';
import { faultRepo, type FaultRepo } from '../fault/repo.js';
import { actionWorkspace, runStep } from './action-runner.js';
import { newEnv, type TestEnv } from './support.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** the forms a value is searched in */
function forms(value: string): string[] {
  return [
    ...new Set([
      value,
      encodeURIComponent(value),
      Buffer.from(value).toString('base64'),
      JSON.stringify(value).slice(1, -1),
    ]),
  ];
}

const patient = (c: Record<string, unknown>): void => {
  // an image repository of its own: other suites' deploys prune togather-test/app on the shared host
  (c.app as Record<string, unknown>).image = 'togather-test/secrets-app';
  (c.deployment as Record<string, unknown>).verify_timeout = '60s';
  ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '90s';
};

describe('secret hygiene: no secret value in any output, file, payload or message', { timeout: 900_000 }, () => {
  const matrix = new Matrix('secrets');
  let env: TestEnv;
  let receiver: Server;
  let fake: FakeGitHubApi;
  const received: Received[] = [];
  /** name → value of everything secret */
  const secrets: Record<string, string> = {};
  /** where each text came from → the text */
  const haystacks = new Map<string, string>();
  const runs: { what: string; code: number }[] = [];
  let workspace: string;
  let repo: FaultRepo;

  /** the fault suite's releases: they carry a migration, so snapshots, migrate output and db-client.env exist too */
  const cli = async (what: string, args: string[], expectCode: number) => {
    const r = await env.cli([...args, '--repo', repo.dir]);
    haystacks.set(`CLI ${what}: stdout+stderr`, r.stdout + r.stderr);
    runs.push({ what, code: r.code });
    assert.equal(r.code, expectCode, `${what}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
    return r;
  };

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;

    // distinctive values, with the characters that make the encoded forms differ from the plain one
    const tag = `${process.pid % 10000}`;
    Object.assign(secrets, {
      POSTGRES_PASSWORD: `pgPw-${tag}-Lq7/+x@y:z`,
      JWT_SECRET: `jwtS-${tag}-c2ZkZmdo/+Vw9Rt4Yp1Zs8Xq`,
      ADMIN_PASSWORD: `admP-${tag}-M8%2F#"q w`,
      CSRF_KEY: `csrf-${tag}-e3b0c44298fc1c149afbf4c8996fb924`,
      RESEND_API_KEY: `re_${tag}_Zx81QnvL0kPq`,
      SMTP_PASSWORD: `smtp-${tag}-P@ss/w0rd+`,
      SENTRY_DSN: `https://sntryKey${tag}Qz7@o123.ingest.sentry.example/4567`,
      OTLP_HEADERS: `Authorization=Bearer otlpTok${tag}Vb3Nm`,
      ALERT_WEBHOOK_AUTH: `alertAuth-${tag}-Hj5Kl9`,
      GRAFANA_PASSWORD: `grafPw-${tag}-Tt0/+==`,
      WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/whTok${tag}Ab12Cd34Ef56`,
      WEBHOOK_SECRET: `whSecret-${tag}-Gh78Ij90`,
      NTFY_URL: `http://127.0.0.1:${port}/ntfyTopic${tag}Kl12Mn34`,
      NTFY_TOKEN: `tk_ntfy${tag}Op56Qr78St90`,
    });
    const envLines = (name: string) => [
      `ENVIRONMENT=${name}`,
      `DATABASE_URL=postgres://togather:${encodeURIComponent(secrets.POSTGRES_PASSWORD!)}@db:5432/togather`,
      ...Object.entries(secrets).map(([k, v]) => `${k}=${/[#"\s]/.test(v) ? `'${v}'` : v}`),
      'LOG_LEVEL=info',
    ];
    repo = await faultRepo();
    env = await newEnv('secrets', {
      config: (c) => {
        patient(c);
        (c.database as Record<string, unknown>).migrations = {
          image: 'togather-test/migrate-fixture:1',
          timeout: '60s',
        };
        c.notifications = {
          webhook: { url_env: 'WEBHOOK_URL', secret_env: 'WEBHOOK_SECRET', retries: 0, timeout: '5s' },
          ntfy: { url_env: 'NTFY_URL', token_env: 'NTFY_TOKEN', retries: 0, timeout: '5s' },
        };
      },
      envFile: '',
    });
    writeFileSync(env.envFilePath, envLines(env.name).join('\n') + '\n', { mode: 0o600 });
    secrets.DATABASE_URL = `postgres://togather:${encodeURIComponent(secrets.POSTGRES_PASSWORD!)}@db:5432/togather`;
    secrets.SSH_PRIVATE_KEY = readFileSync(env.info.ssh.privateKeyPath, 'utf8').trim();
    secrets.GITHUB_TOKEN = `ghs_${tag}SecretsTokenQx7Lm2Vw9`;

    fake = await FakeGitHubApi.start({ token: secrets.GITHUB_TOKEN });
    const sha = repo.shas.fb;
    fake.setCommit(sha, { checkRuns: [fake.checkRun({ name: 'build', sha }), fake.checkRun({ name: 'test', sha })] });
    fake.addDeployment({ sha, environment: env.name });
    workspace = actionWorkspace({ ...env, repo: { dir: repo.dir, shas: env.repo.shas } }, sha);
  });

  after(async () => {
    matrix.finish();
    await new Promise<void>((r) => receiver?.close(() => r()));
    await fake?.close();
  });

  test('operations that print, record, notify and fail', async () => {
    await cli(
      'first deploy: snapshot, migration (--verbose)',
      ['deploy', env.name, '--version', 'fa', '--skip-ci-check', '--verbose'],
      0,
    );
    await cli(
      'deploy of a release that crashes at boot',
      ['deploy', env.name, '--version', 'fx', '--skip-ci-check', '--verbose'],
      10,
    );
    await Promise.all([
      cli('status', ['status', env.name], 0),
      cli('status --json', ['status', env.name, '--json'], 0),
      cli('versions --json', ['versions', env.name, '--json'], 0),
      cli('deploy --dry-run', ['deploy', env.name, '--version', 'fb', '--skip-ci-check', '--dry-run', '--verbose'], 0),
    ]);

    // an env file broken around its secrets: the problems must name lines and keys, never the values
    const broken = join(env.dir, 'broken.env');
    writeFileSync(
      broken,
      [
        ...readFileSync(env.envFilePath, 'utf8')
          .trim()
          .split('\n')
          .filter((l) => !/^(JWT_SECRET|SMTP_PASSWORD|CSRF_KEY)=/.test(l)),
        `JWT_SECRET ${secrets.JWT_SECRET}`,
        `SMTP_PASSWORD="${secrets.SMTP_PASSWORD}`,
        `${secrets.CSRF_KEY}`,
        `CSRF_KEY=${secrets.CSRF_KEY}'$x'`,
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    await cli(
      'deploy with a broken env file (exit 2)',
      ['deploy', env.name, '--version', 'fb', '--skip-ci-check', '--env-file', broken],
      2,
    );

    // the action: env file, SSH key, GitHub token and webhook secret as inputs; CI gate and deployment statuses
    const step = await runStep({
      inputs: {
        environment: env.name,
        'env-file': readFileSync(env.envFilePath, 'utf8'),
        'ssh-private-key': secrets.SSH_PRIVATE_KEY!,
        'ssh-known-hosts': env.info.ssh.knownHostsLine,
        'webhook-secret': secrets.WEBHOOK_SECRET!,
      },
      env: {
        GITHUB_SHA: repo.shas.fb,
        GITHUB_REF: 'refs/heads/main',
        GITHUB_REPOSITORY: `${fake.owner}/${fake.repo}`,
        GITHUB_RUN_ID: '777',
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_ACTOR: 'octo-deployer',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_API_URL: fake.url,
        ...env.info.runnerEnv,
      },
      workspace,
      token: secrets.GITHUB_TOKEN,
    });
    runs.push({ what: 'action deploy', code: step.code });
    haystacks.set('action deploy: log (without ::add-mask::) + stderr', step.log + step.stderr);
    haystacks.set('action deploy: job summary', step.summary);
    haystacks.set('action deploy: outputs, state, env, path files', step.files);
    assert.equal(step.code, 0, `${step.log}\n${step.stderr}`);
    const post = await runStep({
      inputs: {
        environment: env.name,
        'ssh-private-key': secrets.SSH_PRIVATE_KEY!,
        'ssh-known-hosts': env.info.ssh.knownHostsLine,
      },
      env: {},
      workspace,
      state: step.state,
      token: secrets.GITHUB_TOKEN,
    });
    haystacks.set('action post step: log + stderr + files', post.log + post.stderr + post.files);

    // give the last notifications a moment (they are settled before exit, but the receiver logs asynchronously)
    await new Promise((r) => setTimeout(r, 200));
  });

  test('zero hits of any secret, in any form, anywhere', async () => {
    // everything the environment keeps on the host, except the files whose job is to hold the secrets: the
    // app's env file, the database's, and the database clients' (PGPASSWORD for snapshots and migrations)
    const holders = ['app.env', 'db.env', 'db-client.env'];
    const host = await hostSsh(
      env.info,
      [
        `cd stacks/${env.name} && for f in $(find . -type f ${holders.map((h) => `! -name ${h}`).join(' ')} | sort);`,
        'do echo "=== $f"; case "$f" in *.gz) gzip -dc "$f";; *) cat "$f";; esac; echo; done',
      ].join(' '),
    );
    const files = host.stdout.split(/^=== /m).filter(Boolean);
    for (const f of files) haystacks.set(`host file ${f.split('\n')[0]}`, f);
    const modes = await hostSsh(env.info, `cd stacks/${env.name} && stat -c '%a %U %n' ${holders.join(' ')}`, {
      check: false,
    });
    const audit = await hostSsh(env.info, 'cat audit.jsonl 2>/dev/null; true');
    haystacks.set('host audit.jsonl', audit.stdout);
    const webhook = received.filter((r) => r.path.startsWith('/hooks/'));
    const ntfy = received.filter((r) => r.path.startsWith('/ntfyTopic'));
    // the channel's own credential goes where it belongs (ntfy's Authorization header, the URL path): not searched
    for (const [i, r] of received.entries()) {
      const { authorization: _auth, ...headers } = r.headers;
      haystacks.set(
        `notification ${i + 1} (${r.path.startsWith('/hooks/') ? 'webhook' : 'ntfy'}): body + headers`,
        `${r.body}\n${JSON.stringify(headers)}`,
      );
    }
    const statuses = fake.requests.filter((r) => /\/deployments\/\d+\/statuses/.test(r.path) && r.method === 'POST');
    haystacks.set(
      'GitHub deployment statuses (request bodies)',
      statuses.map((r) => JSON.stringify(r.body)).join('\n'),
    );

    // the private key: each of its base64 lines is a form of its own
    const keyLines = secrets.SSH_PRIVATE_KEY!.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
    const needles: { name: string; form: string }[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      if (name === 'SSH_PRIVATE_KEY') for (const l of keyLines) needles.push({ name, form: l });
      for (const form of forms(value)) needles.push({ name, form });
    }

    const hitsBy = new Map<string, string[]>();
    for (const [where, text] of haystacks) {
      for (const n of needles)
        if (text.includes(n.form))
          (hitsBy.get(where) ?? hitsBy.set(where, []).get(where)!).push(
            `${n.name} (${n.form === secrets[n.name] ? 'plain' : 'encoded'})`,
          );
    }
    const group = (re: RegExp) => [...haystacks.keys()].filter((k) => re.test(k));
    const rows: [string, string[]][] = [
      [
        `CLI output streams and error messages (${runs.filter((r) => r.what !== 'action deploy').length} runs: ` +
          'deploy ok, deploy of a release that crashes, config error, status, versions, dry-run; --verbose)',
        group(/^CLI /),
      ],
      ['action log, stderr and error annotations', group(/^action deploy: log/)],
      ['job summary', group(/job summary/)],
      ['runner file-command files (outputs, state, env, path) and the post step', group(/files|post step/)],
      [
        'host files: state.json, history.jsonl, logs/*.jsonl (migrate output included), snapshots (decompressed) and their metadata, ' +
          `compose/caddy files (${files.length} files), audit.jsonl`,
        group(/^host /),
      ],
      [`notification payloads (webhook ${webhook.length}, ntfy ${ntfy.length})`, group(/^notification /)],
      [`deployment statuses sent to GitHub (${statuses.length})`, group(/^GitHub /)],
    ];
    const failed: string[] = [];
    for (const [what, keys] of rows) {
      const hits = keys.flatMap((k) => (hitsBy.get(k) ?? []).map((h) => `${h} in ${k}`));
      const empty = keys.length === 0 || keys.every((k) => !haystacks.get(k));
      matrix.add({
        group: 'secret hygiene',
        case: what,
        expected: `0 hits of ${Object.keys(secrets).length} secrets × plain/URL-encoded/base64/JSON forms`,
        observed: empty
          ? 'NOTHING SEARCHED'
          : hits.length
            ? `${hits.length} hits: ${hits.slice(0, 5).join('; ')}`
            : `0 hits in ${keys.reduce((n, k) => n + (haystacks.get(k)?.length ?? 0), 0)} characters`,
        pass: !empty && hits.length === 0,
      });
      if (hits.length || empty) failed.push(`${what}: ${empty ? 'nothing searched' : hits.join('; ')}`);
    }
    // the search itself is checked where the values do belong: app.env holds them
    const appEnv = (await env.hostFile('app.env')) ?? '';
    const found = ['JWT_SECRET', 'CSRF_KEY', 'RESEND_API_KEY', 'SENTRY_DSN'].filter((k) =>
      appEnv.includes(secrets[k]!),
    );
    matrix.add({
      group: 'secret hygiene',
      case: 'control: the same search over app.env on the host',
      expected: 'finds the secrets there',
      observed: `found ${found.length} of 4 (${found.join(', ')})`,
      pass: found.length === 4,
    });
    if (found.length !== 4) failed.push(`the search does not find the secrets in app.env: ${found.join(', ')}`);
    const modeOk =
      modes.code === 0 &&
      modes.stdout.split('\n').filter(Boolean).length === holders.length &&
      modes.stdout
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith(`600 ${env.info.ssh.user} `));
    matrix.add({
      group: 'secret hygiene',
      case: 'app.env, db.env, db-client.env on the host (the files meant to hold them)',
      expected: `mode 600, owned by ${env.info.ssh.user}`,
      observed: modes.stdout.trim().replace(/\n/g, '; '),
      pass: modeOk,
    });
    if (!modeOk) failed.push(`modes: ${modes.stdout}`);
    if (webhook.length < 3 || ntfy.length < 3)
      failed.push(`too few notifications to judge: webhook ${webhook.length}, ntfy ${ntfy.length}`);
    if (statuses.length === 0) failed.push('no deployment status reached the fake GitHub');
    assert.deepEqual(failed, []);
  });
});
