/**
 * Proves the loopback target host the other end-to-end tests stand on: pinned-key ssh as the deploy user
 * reaches the HOST engine, an unknown or changed host key is refused, the sample app builds on the RUNNER
 * engine from a git archive on stdin and ships over ssh, and the real docker/compose.yml stack comes up over ssh
 * with Caddy routing to the colour whose gate flag is set.
 *
 * Leaves the harness running (reuse is the point); `npx tsx test/harness/cli.ts down` ends it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hostDocker, hostSsh, runnerDocker, shipImage, sshArgv, upHost, type HarnessInfo } from '../harness/host.js';
import { freePort, pipeline, run, sleep } from '../harness/proc.js';
import { buildSampleImage, makeSampleRepo, type SampleShas } from '../harness/sample-repo.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const timings: Record<string, number> = {};

let info: HarnessInfo;
let work: string;
let shas: SampleShas;
let image: string | undefined;

before(async () => {
  const t0 = Date.now();
  info = await upHost();
  timings.upHost = Date.now() - t0;
  work = mkdtempSync(join(tmpdir(), 'togather-harness-test-'));
  shas = await makeSampleRepo(join(work, 'repo'));
});

after(() => {
  rmSync(work, { recursive: true, force: true });
  process.stdout.write(`# harness timings (ms): ${JSON.stringify(timings)}\n`);
});

test('ssh with the pinned host key logs in as the deploy user and reaches the host engine', async () => {
  const r = await hostSsh(info, 'id -un; id -Gn; echo "$DOCKER_HOST"; docker info --format "{{.DockerRootDir}}"');
  const [user, groups, dockerHost, root] = r.stdout.trim().split('\n');
  assert.equal(user, info.ssh.user);
  assert.notEqual(user, 'root');
  assert.match(groups ?? '', /\btgdocker\b/);
  assert.equal(dockerHost, info.hostDockerHost);
  assert.equal(root, join(info.dir, 'host', 'data'));
  assert.equal(r.stderr, '', 'the login shell must print nothing');
  // the exact command line from the brief works too
  const ps = await run([
    'ssh',
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${info.ssh.knownHostsPath}`,
    '-i',
    info.ssh.privateKeyPath,
    '-p',
    String(info.ssh.port),
    `${info.ssh.user}@127.0.0.1`,
    'docker',
    'ps',
  ]);
  assert.match(ps.stdout, /^CONTAINER ID/);
});

test('an unknown host key is refused', async () => {
  const empty = join(work, 'known_hosts_empty');
  writeFileSync(empty, '');
  const r = await run([...sshArgv(info, ['-o', `UserKnownHostsFile=${empty}`]), 'true'], { check: false });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Host key verification failed/);
});

test('a changed host key is refused', async () => {
  const other = join(work, 'other_key');
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const [type, key] = readFileSync(`${other}.pub`, 'utf8').trim().split(/\s+/);
  const wrong = join(work, 'known_hosts_wrong');
  writeFileSync(wrong, `[127.0.0.1]:${info.ssh.port} ${type} ${key}\n`);
  const r = await run([...sshArgv(info, ['-o', `UserKnownHostsFile=${wrong}`, '-o', 'LogLevel=ERROR']), 'true'], {
    check: false,
  });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
});

test('the runner engine builds the sample app from a git archive on stdin; the image ships over ssh', async () => {
  const sha = shas.v1;
  let t0 = Date.now();
  image = await buildSampleImage(info, join(work, 'repo'), sha, { version: 'v1' });
  timings.buildSample = Date.now() - t0;
  const labels = JSON.parse(
    (await runnerDocker(info, ['image', 'inspect', '--format', '{{json .Config.Labels}}', image])).stdout,
  ) as Record<string, string>;
  assert.equal(labels['org.opencontainers.image.revision'], sha);

  // the host has never seen it: the deploy path must carry it there
  await hostDocker(info, ['rmi', '-f', image], { check: false });
  t0 = Date.now();
  await shipImage(info, image);
  timings.shipSample = Date.now() - t0;
  const size = await runnerDocker(info, ['image', 'inspect', '--format', '{{.Size}}', image]);
  timings.sampleImageMB = Math.round(Number(size.stdout.trim()) / 1e6);
  const onHost = await hostDocker(info, ['image', 'inspect', '--format', '{{.Id}}', image]);
  const onRunner = await runnerDocker(info, ['image', 'inspect', '--format', '{{.Id}}', image]);
  assert.equal(onHost.stdout.trim(), onRunner.stdout.trim());
});

test(
  'docker/compose.yml comes up over ssh; Caddy routes to blue once its gate flag is set',
  { timeout: 120_000 },
  async () => {
    assert.ok(image, 'needs the shipped image from the previous test');
    const stack = `hx${Date.now().toString(36)}`;
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const local = join(work, 'stack');
    mkdirSync(join(local, 'db-init'), { recursive: true });
    mkdirSync(join(local, 'caddy'), { recursive: true });
    // the gates serve these host directories (read-only): the flag file <colour>/ready is what Caddy checks
    mkdirSync(join(local, 'gates', 'blue'), { recursive: true });
    mkdirSync(join(local, 'gates', 'green'), { recursive: true });
    copyFileSync(join(REPO, 'docker', 'compose.yml'), join(local, 'compose.yml'));
    mkdirSync(join(local, 'keeper'), { recursive: true });
    copyFileSync(join(REPO, 'docker', 'keeper.sh'), join(local, 'keeper', 'keeper.sh'));
    writeFileSync(
      join(local, '.env'),
      [
        `TOGATHER_STACK=${stack}`,
        `TOGATHER_APP_IMAGE_BLUE=${image}`,
        `TOGATHER_APP_IMAGE_GREEN=${image}`,
        `TOGATHER_GATE_IMAGE=${info.images.gate}`,
        `TOGATHER_KEEPER_IMAGE=${info.images.keeper}`,
        `TOGATHER_DOCKER_SOCKET=${info.hostDockerHost.replace(/^unix:\/\//, '')}`,
        `TOGATHER_CADDY_IMAGE=${info.images.caddy}`,
        `TOGATHER_POSTGRES_IMAGE=${info.images.postgres}`,
        `TOGATHER_HTTP_PORT=${httpPort}`,
        `TOGATHER_HTTPS_PORT=${httpsPort}`,
        'TOGATHER_BIND=127.0.0.1',
        'TOGATHER_STOP_GRACE=10s',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(local, 'app.env'),
      'ENVIRONMENT=test\nPOSTGRES_PASSWORD=harness-pw\nDATABASE_URL=postgres://togather:harness-pw@db:5432/togather\n',
      { mode: 0o600 },
    );
    // the database's own env file (newer compose.yml); harmless where the db still reads app.env
    writeFileSync(join(local, 'db.env'), 'POSTGRES_PASSWORD=harness-pw\n', { mode: 0o600 });
    writeFileSync(
      join(local, 'caddy', 'Caddyfile'),
      [
        '{',
        '\tauto_https off',
        '}',
        ':80 {',
        '\treverse_proxy app-blue:8080 app-green:8080 {',
        '\t\tlb_policy first',
        '\t\thealth_uri /ready',
        '\t\thealth_port 8081',
        '\t\thealth_interval 500ms',
        '\t\thealth_timeout 400ms',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    const remoteDir = `stacks/${stack}`;
    await pipeline([
      ['tar', '-C', local, '-c', '.'],
      [...sshArgv(info), `mkdir -p ${remoteDir} && tar -C ${remoteDir} -x`],
    ]);
    const compose = `cd ${remoteDir} && docker-compose -p ${stack} -f compose.yml`;
    try {
      const t0 = Date.now();
      await hostSsh(info, `${compose} up -d`, { timeoutMs: 90_000 });
      timings.composeUp = Date.now() - t0;

      const names = (await hostDocker(info, ['ps', '--format', '{{.Names}}'])).stdout.split('\n');
      for (const svc of ['db', 'gate-blue', 'app-blue', 'gate-green', 'app-green', 'caddy', 'keeper']) {
        assert.ok(names.includes(`${stack}-${svc}`), `${stack}-${svc} is running`);
      }

      // no gate set: Caddy has no healthy upstream
      const before = await waitHttp(httpPort, '/version', (s) => s >= 500, 15_000);
      assert.ok(before.status >= 500, `before the gate is set Caddy answers ${before.status}`);

      const t1 = Date.now();
      await hostSsh(info, `touch ${remoteDir}/gates/blue/ready`);
      const version = await waitHttp(httpPort, '/version', (s) => s === 200, 15_000);
      timings.gateToRouted = Date.now() - t1;
      assert.equal(version.status, 200);
      assert.equal((JSON.parse(version.body) as { git_commit: string }).git_commit, shas.v1);
      const echo = await waitHttp(httpPort, '/echo', (s) => s === 200, 5000);
      assert.equal((JSON.parse(echo.body) as { slot: string }).slot, 'blue');

      // the app reaches the database through the stack network
      const health = await waitHttp(
        httpPort,
        '/health',
        (s, body) =>
          s === 200 &&
          (JSON.parse(body) as { checks: { database: { status: string } } }).checks.database.status === 'pass',
        30_000,
      );
      assert.equal((JSON.parse(health.body) as { status: string }).status, 'healthy');
    } finally {
      await hostSsh(info, `${compose} down -v --timeout 5 && cd && rm -rf ${remoteDir}`, {
        check: false,
        timeoutMs: 90_000,
      });
    }
  },
);

test('a second upHost reuses the running harness quickly', async () => {
  const t0 = Date.now();
  const again = await upHost();
  timings.upHostWarm = Date.now() - t0;
  assert.deepEqual(again, info);
  assert.ok(timings.upHostWarm < 2000, `warm upHost took ${timings.upHostWarm} ms`);
});

async function waitHttp(
  port: number,
  path: string,
  done: (status: number, body: string) => boolean,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
      last = { status: res.status, body: await res.text() };
      if (done(last.status, last.body)) return last;
    } catch (e) {
      last = { status: 0, body: String(e) };
    }
    await sleep(100);
  }
  return last;
}
