/**
 * The action itself, end to end: the committed bundle (dist/index.js) under Node 24, invoked the way the GitHub
 * runner invokes it (INPUT_* variables, file commands, the workspace as working directory), then its post step
 * with the saved state as STATE_*. The CI gate runs for real against the loopback GitHub API, the deploy for
 * real against the loopback host. Issue 2 must-shows 6 and 7 for the action; issue 4's summary and outputs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeGitHubApi } from '../fakes/github-api.js';
import { hostSsh } from '../harness/host.js';
import { actionWorkspace, runStep, sshMastersFor, type StepResult } from './action-runner.js';
import { newEnv, type TestEnv } from './support.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const RUN_ID = '7012345678';

/** generous timeouts: these tests are about the action's plumbing, and run beside other suites on a busy machine */
/** poll until `done` holds or 20 s have passed; the last reading either way */
async function settle<T>(read: () => T, done: (v: T) => boolean): Promise<T> {
  let v = read();
  for (let i = 0; i < 200 && !done(v); i++) {
    await new Promise((res) => setTimeout(res, 100));
    v = read();
  }
  return v;
}

const patient = (c: Record<string, unknown>): void => {
  (c.deployment as Record<string, unknown>).verify_timeout = '60s';
  ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '90s';
};

describe('the action bundle under Node 24, run as the GitHub runner runs it', { timeout: 600_000 }, () => {
  let env: TestEnv;
  let fake: FakeGitHubApi;
  let workspace: string;
  let token: string;
  let privateKey: string;
  let envFileText: string;
  const steps: StepResult[] = [];

  const context = (sha: string): Record<string, string> => ({
    GITHUB_SHA: sha,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REPOSITORY: `${fake.owner}/${fake.repo}`,
    GITHUB_RUN_ID: RUN_ID,
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octo-deployer',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: fake.url,
    GITHUB_EVENT_NAME: 'push',
    GITHUB_JOB: 'deploy',
    // the runner's own engine builds the image
    ...env.info.runnerEnv,
  });
  const inputs = (extra: Record<string, string> = {}): Record<string, string> => ({
    environment: env.name,
    'env-file': envFileText,
    'ssh-private-key': privateKey,
    'ssh-known-hosts': env.info.ssh.knownHostsLine,
    ...extra,
  });
  const step = async (sha: string, extra: Record<string, string> = {}, state?: Record<string, string>) => {
    const r = await runStep({
      inputs: inputs(extra),
      env: context(sha),
      workspace,
      token,
      ...(state ? { state } : {}),
    });
    steps.push(r);
    return r;
  };
  /** the ssh-session the main step saved: where its key copy and control socket live */
  const sshSession = (r: StepResult) => JSON.parse(r.state['ssh-session']!) as { workDir: string; controlPath: string };

  before(async () => {
    env = await newEnv('action', { config: patient });
    token = `ghs_${env.name}TokenQx7Lm2Vw9Rt4Yp1Zs8`;
    privateKey = readFileSync(env.info.ssh.privateKeyPath, 'utf8');
    envFileText = readFileSync(env.envFilePath, 'utf8');
    fake = await FakeGitHubApi.start({ token });
    const shas = env.repo.shas;
    const green = (sha: string) => ({
      checkRuns: [
        fake.checkRun({ name: 'build', sha }),
        fake.checkRun({ name: 'test', sha }),
        // this very run's own job, still in progress: the gate must not wait for itself
        fake.checkRun({ name: 'deploy', sha, conclusion: null, runId: Number(RUN_ID) }),
      ],
      statuses: [fake.status({ context: 'ci/external', state: 'success' })],
    });
    fake.setCommit(shas.v1, green(shas.v1));
    fake.setCommit(shas.v2, green(shas.v2));
    fake.setCommit(shas.v6, {
      checkRuns: [
        fake.checkRun({ name: 'build', sha: shas.v6 }),
        fake.checkRun({
          name: 'integration tests',
          sha: shas.v6,
          conclusion: 'failure',
          url: 'https://github.com/togather/server/actions/runs/555/job/666',
        }),
      ],
    });
    // the deployment GitHub creates for a job with `environment:`; the action adds statuses to it
    fake.addDeployment({ sha: shas.v1, environment: env.name });
    fake.addDeployment({ sha: shas.v2, environment: env.name });

    // actions/checkout's result: the commit detached in GITHUB_WORKSPACE, the config at its default path,
    // the env file coming only from the env-file input
    workspace = actionWorkspace(env, shas.v1);
  });

  after(async () => {
    await fake?.close();
  });

  test('a first deploy (v1 = GITHUB_SHA) through the bundle: outputs, summary, deployment status, then the post step', async () => {
    const shas = env.repo.shas;
    const r = await step(shas.v1);
    assert.equal(r.code, 0, `${r.log}\n${r.stderr}`);
    assert.match(r.outputs['deployment-id'] ?? '', ULID);
    assert.equal(r.outputs.version, shas.v1);
    assert.equal(r.outputs.colour, 'blue');
    assert.equal(r.outputs['previous-version'], '');
    assert.equal(r.outputs.url?.replace(/\/$/, ''), `http://127.0.0.1:${env.httpPort}`);
    assert.match(r.outputs['duration-seconds'] ?? '', /^\d+(\.\d)?$/);
    assert.ok(Number(r.outputs['duration-seconds']) > 0 && Number(r.outputs['duration-seconds']) < 300);
    // a group per phase in the runner log, with its duration
    for (const phase of [
      'resolve version',
      'CI check',
      'connect',
      'preflight',
      'lock',
      'image',
      'health gate',
      'switch',
      'record',
    ]) {
      assert.match(r.log, new RegExp(`^::group::${phase}`, 'm'), `no group for ${phase}`);
    }
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, shas.v1);

    // the job summary: environment, version, colour, phases with durations
    assert.ok(r.summary.includes(env.name), r.summary);
    assert.ok(r.summary.includes(shas.v1), 'full SHA in the summary');
    assert.ok(r.summary.includes(r.outputs['deployment-id']!));
    for (const phase of ['CI check', 'image', 'health gate', 'switch'])
      assert.ok(r.summary.includes(phase), `phase ${phase} missing from the summary`);
    assert.match(r.summary, /blue/);

    // GitHub sees the CI gate's reads and a success status on the job's deployment, with URLs
    assert.ok(fake.requestsTo(`/commits/${shas.v1}/check-runs`).length >= 1);
    assert.ok(fake.requestsTo(`/commits/${shas.v1}/statuses`).length >= 1);
    const posted = fake.requests.filter((q) => q.method === 'POST' && /\/deployments\/\d+\/statuses$/.test(q.path));
    assert.equal(posted.length, 1, 'one deployment status');
    const body = posted[0]!.body as { state: string; environment_url?: string; log_url?: string };
    assert.equal(body.state, 'success');
    assert.equal(body.environment_url?.replace(/\/$/, ''), `http://127.0.0.1:${env.httpPort}`);
    assert.equal(body.log_url, `https://github.com/togather/server/actions/runs/${RUN_ID}`);

    // the host records who deployed, from the runner's context
    const state = JSON.parse((await env.hostFile('state.json'))!);
    assert.equal(state.current.version, shas.v1);
    assert.match(state.current.deployed_by, new RegExp(`octo-deployer .*${RUN_ID}`));
    assert.equal(state.current.flags.skip_ci_check, false);

    // the post step, as the runner runs it: every saved state value as STATE_<name>
    assert.equal(r.state['is-post'], 'true');
    const session = sshSession(r);
    const post = await step(shas.v1, {}, r.state);
    assert.equal(post.code, 0, post.stderr);
    assert.doesNotMatch(post.log, /::(error|warning)/);
    assert.equal(existsSync(session.workDir), false, 'key material directory removed');
    assert.deepEqual(sshMastersFor(session.controlPath), [], 'no SSH master left for the control path');
  });

  test('the post step cleans up after a main step that was killed while connected', async () => {
    const shas = env.repo.shas;
    let session: { workDir: string; controlPath: string } | undefined;
    let mastersAtKill: number[] = [];
    let keyModeAtKill = 0;
    const killed = await runStep({
      inputs: inputs({ 'dry-run': 'true' }),
      env: context(shas.v1),
      workspace,
      token,
      onSpawn: (child, files) => {
        const timer = setInterval(() => {
          const saved = readFileSync(files.state, 'utf8');
          const m = /ssh-session<<(\S+)\n([\s\S]*?)\n\1/.exec(saved);
          if (!m) return;
          session = JSON.parse(m[2]!) as { workDir: string; controlPath: string };
          if (!existsSync(session.controlPath)) return;
          clearInterval(timer);
          // freeze, look, then kill -9: the runner cancelling a job does no better
          child.kill('SIGSTOP');
          mastersAtKill = sshMastersFor(session.controlPath);
          keyModeAtKill = existsSync(join(session.workDir, 'id'))
            ? statSync(join(session.workDir, 'id')).mode & 0o777
            : 0;
          child.kill('SIGKILL');
        }, 5);
        child.on('close', () => clearInterval(timer));
      },
    });
    steps.push(killed);
    // every assertion below says what the step printed: a failure on a slow machine must explain itself
    const said = (what: string): string => `${what}\n--- the killed step's log:\n${killed.log}\n${killed.stderr}`;
    assert.notEqual(killed.code, 0, said('the step ended by itself before it was killed'));
    assert.ok(session, said('the main step saved its SSH session before connecting'));
    // at the kill the master may still be forking into the background (the ssh -M -f parent and its child)
    assert.ok(mastersAtKill.length >= 1, said('no SSH master was running when the step was killed'));
    assert.equal(keyModeAtKill, 0o600, said('the key copy is private'));
    assert.ok(existsSync(session.workDir), said('a killed main step leaves its key material behind'));
    // the master finishes going to the background on its own (never two of them); it then closes by itself
    // CONTROL_PERSIST_S after its last session, the killed step's hold, ended: on a slow machine it can be gone
    // before the post step runs, and either way nothing may be left once the post step has
    const masters = await settle(
      () => sshMastersFor(session!.controlPath),
      (m) => m.length <= 1,
    );
    assert.ok(masters.length <= 1, said(`one master at most after the kill (masters: ${masters.join(',')})`));

    const post = await step(shas.v1, {}, killed.state);
    assert.equal(post.code, 0, `${post.log}\n${post.stderr}`);
    assert.match(post.log, /closed the SSH connection and removed the key material/, post.stderr);
    assert.equal(existsSync(session.workDir), false, 'key material directory removed by the post step');
    const left = await settle(
      () => sshMastersFor(session!.controlPath),
      (m) => m.length === 0,
    );
    assert.deepEqual(left, [], `master closed by the post step\n${post.log}`);
  });

  test('a second deploy through the action (version input v2): green serves v2, v1 is the rollback target', async () => {
    const shas = env.repo.shas;
    const r = await step(shas.v1, { version: 'v2' });
    assert.equal(r.code, 0, `${r.log}\n${r.stderr}`);
    assert.equal(r.outputs.version, shas.v2);
    assert.equal(r.outputs.colour, 'green');
    assert.equal(r.outputs['previous-version'], shas.v1);
    assert.match(r.outputs['deployment-id'] ?? '', ULID);
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, shas.v2);
    assert.ok(r.summary.includes(shas.v1.slice(0, 12)), 'the rollback target is in the summary');
    const post = await step(shas.v1, {}, r.state);
    assert.equal(post.code, 0);
    assert.equal(existsSync(sshSession(r).workDir), false);
    assert.deepEqual(sshMastersFor(sshSession(r).controlPath), []);
  });

  test('a commit with a failed required check is refused with exit code 3; v2 keeps serving', async () => {
    const shas = env.repo.shas;
    const before = (await hostSsh(env.info, `cat stacks/${env.name}/state.json`)).stdout;
    const r = await step(shas.v6, { 'required-checks': 'build\nintegration tests' });
    assert.equal(r.code, 3, `${r.log}\n${r.stderr}`);
    assert.match(r.log, /integration tests/);
    assert.ok(
      r.log.includes('https://github.com/togather/server/actions/runs/555/job/666'),
      "the failing check's link",
    );
    assert.match(r.log, /^::error::/m);
    assert.doesNotMatch(r.log, /::group::connect/, 'no connection was opened');
    assert.equal(r.outputs.version, undefined);
    assert.ok(r.summary.includes('integration tests'), r.summary);
    assert.equal((await hostSsh(env.info, `cat stacks/${env.name}/state.json`)).stdout, before, 'state untouched');
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, shas.v2);
    const post = await step(shas.v6, {}, r.state);
    assert.equal(post.code, 0);
  });

  test('the status command through the bundle', async () => {
    const shas = env.repo.shas;
    const r = await step(shas.v2, { command: 'status' });
    assert.equal(r.code, 0, `${r.log}\n${r.stderr}`);
    assert.equal(r.outputs.version, shas.v2);
    assert.equal(r.outputs.colour, 'green');
    assert.equal(r.outputs['previous-version'], shas.v1);
    assert.ok(r.log.includes(shas.v2.slice(0, 12)), r.log);
    assert.ok(r.summary.includes(env.name) && r.summary.includes(shas.v2.slice(0, 12)), r.summary);
    const post = await step(shas.v2, {}, r.state);
    assert.equal(post.code, 0);
    assert.equal(existsSync(sshSession(r).workDir), false);
  });

  test('the rollback path as the dispatch workflow runs it: an unknown version lists the choices, an empty one goes back', async () => {
    const shas = env.repo.shas;
    // rollback.yml passes version and confirm straight through to the action with command: rollback
    const unknown = await step(shas.v2, { command: 'rollback', version: shas.v4 });
    assert.equal(unknown.code, 13, `${unknown.log}\n${unknown.stderr}`);
    assert.match(unknown.summary, /can be rolled back to/);
    assert.ok(unknown.summary.includes(shas.v1.slice(0, 12)), unknown.summary);
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, shas.v2);
    assert.equal((await step(shas.v2, {}, unknown.state)).code, 0);

    const back = await step(shas.v2, { command: 'rollback', version: '' });
    assert.equal(back.code, 0, `${back.log}\n${back.stderr}`);
    assert.equal(back.outputs.version, shas.v1);
    assert.equal(back.outputs.colour, 'blue');
    assert.equal(back.outputs['previous-version'], shas.v2);
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, shas.v1);
    const post = await step(shas.v2, {}, back.state);
    assert.equal(post.code, 0);
    assert.equal(existsSync(sshSession(back).workDir), false);
  });

  test('no secret (env-file values, DATABASE_URL password, private key, token) in any output, summary, state or host file', async () => {
    const dbUrl = /^DATABASE_URL=(.*)$/m.exec(envFileText)![1]!;
    const secrets = [
      ...Object.values(env.secrets),
      new URL(dbUrl).password,
      token,
      // every line of the key's body (the armour lines are not secret)
      ...privateKey.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')),
    ];
    const host = await hostSsh(env.info, `cd stacks/${env.name} && cat state.json history.jsonl logs/*.jsonl`);
    const haystacks: [string, string][] = [
      ...steps.flatMap((s, i): [string, string][] => [
        [`step ${i} runner log`, s.log],
        [`step ${i} stderr`, s.stderr],
        [`step ${i} summary`, s.summary],
        [`step ${i} outputs/state/env files`, s.files],
      ]),
      ['host state, history and logs', host.stdout],
      ['requests to the GitHub API', JSON.stringify(fake.requests.map((q) => q.body ?? null))],
    ];
    for (const secret of secrets) {
      for (const form of [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]) {
        for (const [where, text] of haystacks)
          assert.ok(!text.includes(form), `a secret (${form.slice(0, 5)}…) leaked into ${where}`);
      }
    }
    // the runner masks them too: each was registered with ::add-mask:: (which the runner consumes, never shows)
    const masks = steps[0]!.stdout
      .split('\n')
      .filter((l) => l.startsWith('::add-mask::'))
      .map((l) => unescapeCommandData(l.slice('::add-mask::'.length)));
    for (const secret of [...Object.values(env.secrets), token])
      assert.ok(masks.includes(secret), `${secret.slice(0, 5)}… not masked`);
    assert.ok(steps.length >= 9, `${steps.length} steps searched`);
  });
});

/** workflow command data is escaped by @actions/core: % CR LF as %25 %0D %0A */
function unescapeCommandData(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}
