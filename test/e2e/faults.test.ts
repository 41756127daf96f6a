/**
 * Issue 9, faults: the deploy attacked on the real loopback host while traffic runs through the proxy.
 *  - crash: kill -9 of the deployer at every phase (after the lock, the image, provisioning, the snapshot, the
 *    migration, the start of the new colour; during the health gate; right after the switch; during the
 *    record). Traffic never fails, and the next deploy recovers by itself: the dead holder's lock is taken over
 *    at once (same machine, pid gone), a half-started colour is replaced, state follows the proxy (logged).
 *  - SSH cut mid-deploy: the master connection killed during the image upload, the host's sshd session killed
 *    during the health gate. Same guarantees.
 *  - dependencies failing: database stopped, hung, refusing connections, refusing credentials (wrong password,
 *    rotated password), disk full for snapshots: a clear error (or, for a stopped database, the deploy starts
 *    it), nothing switched, no secret in the message.
 *  - a Docker daemon restart on the host while idle (last: it touches the shared host engine): the proxy and
 *    the live colour come back by their restart policies and `status` says so.
 * The matrix (case → expected → observed, requests, failures) is printed at the end and kept in bench-results/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { hostDocker, hostSsh, upHost } from '../harness/host.js';
import { alive, pidMatches, sleep } from '../harness/proc.js';
import { phaseAt, runDeployer, type DeployerRun, type KillPlan } from '../fault/deployer.js';
import { Matrix } from '../fault/matrix.js';
import { faultRepo, onRunnerOnly, resetSchema, type FaultLabel, type FaultRepo } from '../fault/repo.js';
import { describeTraffic, startTraffic, type TrafficResult } from '../fault/traffic.js';
import { hostContainers, newEnv, type TestEnv } from './support.js';

const short = (s: string | undefined) => (s ? s.slice(0, 7) : 'none');
/** for working on one group: TOGATHER_FAULTS_SKIP=crash,ssh,deps,restart leaves those out */
const SKIP = new Set((process.env.TOGATHER_FAULTS_SKIP ?? '').split(',').filter(Boolean));
const MIGRATE_IMAGE = 'togather-test/migrate-fixture:1';
/**
 * An image repository of the suite's own: deploys of other suites' environments prune togather-test/app on the
 * shared host (keep the newest five) and know nothing of these environments, so they could remove an image
 * between this suite's image phase and its use.
 */
const IMAGE_REPO = 'togather-test/fault-app';

/** a busy machine (several suites at once on two cores) must not turn slowness into a failed case */
const patient = (c: Record<string, unknown>): void => {
  (c.app as Record<string, unknown>).image = IMAGE_REPO;
  (c.deployment as Record<string, unknown>).verify_timeout = '60s';
  ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '90s';
};

interface Served {
  commit?: string;
  upstream?: string;
}

async function served(env: TestEnv): Promise<Served> {
  try {
    const r = await env.get('/version');
    return {
      commit: (JSON.parse(r.body) as { git_commit?: string }).git_commit,
      upstream: r.headers['x-togather-upstream'],
    };
  } catch {
    return {};
  }
}

interface StateFile {
  current?: { id: string; version: string; colour: string; status: string; deployed_by: string };
  history: {
    id: string;
    version: string;
    status: string;
    deployed_by: string;
    failure?: { exit_code: number; message: string };
  }[];
}

async function stateOf(env: TestEnv): Promise<StateFile> {
  return JSON.parse((await env.hostFile('state.json')) ?? '{"history":[]}') as StateFile;
}

/** app colour states and anything left over that a deploy should not leave (migrate or tool containers) */
async function stackView(env: TestEnv): Promise<{ blue: string; green: string; others: string[]; all: string[] }> {
  const all = await hostContainers(env.info, env.stackPrefix);
  const of = (c: string) => all.find((l) => l.startsWith(`${env.stackPrefix}-app-${c} `))?.split(' ')[1] ?? 'absent';
  const known = ['db', 'caddy', 'gate-blue', 'gate-green', 'app-blue', 'app-green', 'keeper'].map(
    (s) => `${env.stackPrefix}-${s}`,
  );
  return { blue: of('blue'), green: of('green'), others: all.filter((l) => !known.includes(l.split(' ')[0]!)), all };
}

/** collects failed expectations, so that the matrix row is written before the test fails */
class Checks {
  readonly failed: string[] = [];
  ok(cond: unknown, what: string): void {
    if (!cond) this.failed.push(what);
  }
}

describe(
  'faults: crashes, SSH cuts, failing dependencies, daemon restart — traffic never fails',
  { timeout: 3_600_000 },
  () => {
    const matrix = new Matrix('faults');
    let env: TestEnv;
    let repo: FaultRepo;
    let migrations = false;
    const sha = (l: FaultLabel) => repo.shas[l];
    const deploy = (version: string, o: Parameters<typeof runDeployer>[2] = {}) =>
      runDeployer(env, ['deploy', env.name, '--version', version, '--skip-ci-check'], { repo: repo.dir, ...o });

    before(async () => {
      repo = await faultRepo();
      env = await newEnv('crash', {
        config: (c) => {
          patient(c);
          (c.database as Record<string, unknown>).migrations = { image: MIGRATE_IMAGE, timeout: '60s' };
        },
      });
      migrations = (await hostDocker(env.info, ['image', 'inspect', MIGRATE_IMAGE], { check: false })).code === 0;
      const first = await deploy('fa');
      assert.equal(first.code, 0, first.stderr);
    });

    after(async () => {
      matrix.finish();
    });

    interface CrashCase {
      name: string;
      kill: KillPlan;
      /** deploy the slow-starting release (a health gate of 3 s) */
      slow?: boolean;
      /** the crash comes after the switch: the proxy serves the crashed deploy's version */
      afterSwitch?: boolean;
      /** needs a pending migration (snapshot and migrate phases) */
      pending?: boolean;
    }

    const labelOf = (commit: string | undefined) =>
      (Object.keys(repo.shas) as FaultLabel[]).find((l) => repo.shas[l] === commit);
    const pick = (from: FaultLabel[], not: (FaultLabel | undefined)[]) => from.find((l) => !not.includes(l))!;

    async function crashCase(c: CrashCase): Promise<void> {
      const check = new Checks();
      if (c.pending) await resetSchema(env.info, env.stackPrefix);
      const before = await served(env);
      const stateBefore = await stateOf(env);
      // a release that is not live; the retry deploys the same one, unless the crash left it live already
      const version: FaultLabel = c.slow ? 'fs' : pick(['fa', 'fb'], [labelOf(before.commit)]);
      const recover: FaultLabel = c.afterSwitch
        ? pick(['fc', 'fa', 'fb'], [version])
        : c.slow
          ? pick(['fa', 'fb'], [labelOf(before.commit)])
          : version;
      const traffic = startTraffic(env.httpPort);
      const crashed = await deploy(version, { kill: c.kill });
      const afterCrash = await served(env);
      const lockLeft = await env.hostFile('lock/info.json');
      const viewAfterCrash = await stackView(env);
      const recovery = await deploy(recover);
      const t = await traffic.stop();
      const state = await stateOf(env);
      const now = await served(env);
      const view = await stackView(env);
      const log = state.current ? ((await env.hostFile(`logs/${state.current.id}.jsonl`)) ?? '') : '';
      const lockPhase = /^✔ lock \(([\d.]+)(ms|s)\)/m.exec(recovery.stderr);
      const lockMs = lockPhase ? Number(lockPhase[1]) * (lockPhase[2] === 's' ? 1000 : 1) : undefined;
      const reconciled = /state reconciled from the proxy/.test(recovery.stderr);
      const live = state.current?.colour;

      check.ok(crashed.struck, `the line ${c.kill.on} never appeared: ${crashed.stderr.slice(-600)}`);
      check.ok(
        crashed.signal === 'SIGKILL',
        `the deployer ended by ${crashed.signal ?? `exit ${crashed.code}`}, not kill -9`,
      );
      check.ok(lockLeft?.includes(`"pid":${crashed.pid}`), 'the killed deployer left its lock behind');
      const expectedAfterCrash = c.afterSwitch ? sha(version) : before.commit;
      check.ok(
        afterCrash.commit === expectedAfterCrash,
        `after the crash the proxy served ${short(afterCrash.commit)}, expected ${short(expectedAfterCrash)}`,
      );
      check.ok(recovery.code === 0, `recovery deploy exit ${recovery.code}: ${recovery.stderr.slice(-1500)}`);
      check.ok(
        recovery.stderr.includes(`because its process ${crashed.pid} on this machine is gone`),
        'the recovery took over the dead lock (same machine, pid gone)',
      );
      check.ok(lockMs !== undefined && lockMs < 5000, `taking the lock over took ${lockMs} ms`);
      if (
        c.afterSwitch &&
        stateBefore.current?.version !== afterCrash.commit &&
        !stateHas(stateBefore, afterCrash.commit)
      ) {
        // state.json never learnt of the crashed deploy's switch (unless the record landed before the kill)
        const recorded = recoveryStateHadRecord(state, afterCrash.commit);
        check.ok(reconciled || recorded, 'state was reconciled from the proxy (or the record had landed)');
        if (reconciled) check.ok(log.includes('"event":"state.reconciled"'), 'the reconciliation is in the host log');
      }
      if (!c.afterSwitch) check.ok(!reconciled, 'no reconciliation when the switch had not happened');
      check.ok(now.commit === sha(recover), `the proxy serves ${short(now.commit)}, expected ${short(sha(recover))}`);
      check.ok(
        state.current?.version === sha(recover) && state.current.status === 'active',
        'state.json names the served version as active',
      );
      check.ok(now.upstream?.startsWith(`app-${live}`), `the proxy answers from ${now.upstream}, state says ${live}`);
      check.ok(
        live && view[live as 'blue' | 'green'] === 'Up',
        `live colour ${live} is ${live ? view[live as 'blue' | 'green'] : '?'}`,
      );
      const idle = live === 'blue' ? 'green' : 'blue';
      check.ok(view[idle] === 'Exited', `the other colour is ${view[idle]} (a half-started colour must not stay up)`);
      check.ok(view.others.length === 0, `left-over containers: ${view.others.join(', ')}`);
      check.ok((await env.hostFile('lock/info.json')) === undefined, 'the lock is released');
      check.ok(
        t.failed === 0,
        `failed requests: ${failuresByPhase(t, [
          ['crashed deploy', crashed],
          ['recovery', recovery],
        ])}`,
      );
      check.ok(t.total >= 50, `only ${t.total} requests ran`);
      check.ok(
        [...t.versions].every((v) => [before.commit, sha(version), sha(recover)].includes(v)),
        `unexpected versions served: ${[...t.versions].map(short).join(', ')}`,
      );
      if (c.pending) {
        const partials = await hostSsh(env.info, `ls -A stacks/${env.name}/snapshots | grep -c '^\\.partial-' || true`);
        check.ok(partials.stdout.trim() === '0', 'no partial snapshot left');
        const schema = await hostDocker(env.info, [
          'exec',
          `${env.stackPrefix}-db`,
          'psql',
          '-X',
          '-At',
          '-U',
          'togather',
          '-d',
          'togather',
          '-c',
          'SELECT version, dirty FROM schema_migrations',
        ]);
        check.ok(
          schema.stdout.trim() === '1|f',
          `schema_migrations is ${schema.stdout.trim() || 'empty'} after recovery`,
        );
      }

      const crashedAt = crashed.struck
        ? `${crashed.struck.line.trim()} (+${(crashed.struck.atMs / 1000).toFixed(1)}s)`
        : 'never';
      matrix.add({
        group: 'crash (kill -9)',
        case: c.name,
        expected:
          `0 failed requests; proxy serves ${c.afterSwitch ? 'the new' : 'the old'} version; ` +
          'next deploy takes the dead lock over at once, ' +
          `${c.afterSwitch ? 'reconciles state from the proxy, ' : ''}cleans up, succeeds`,
        observed:
          `killed at "${crashedAt}"; proxy then served ${short(afterCrash.commit)}; ` +
          `left: ${viewAfterCrash.blue}/${viewAfterCrash.green} (blue/green), lock of pid ${crashed.pid}. ` +
          `Next deploy: exit ${recovery.code} in ${(recovery.ms / 1000).toFixed(1)}s, ` +
          `lock taken over in ${lockMs ?? '?'}ms${reconciled ? ', state reconciled (logged)' : ''}; ` +
          `serves ${short(now.commit)} from ${live}; ${describeTraffic(t)}` +
          (check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''),
        requests: t.total,
        failures: t.failed,
        pass: check.failed.length === 0,
      });
      assert.deepEqual(check.failed, []);
    }

    function stateHas(s: StateFile, commit: string | undefined): boolean {
      return !!commit && s.history.some((h) => h.version === commit && h.status === 'active');
    }
    function recoveryStateHadRecord(s: StateFile, commit: string | undefined): boolean {
      return (
        !!commit &&
        s.history.some(
          (h) =>
            h.version === commit &&
            h.deployed_by !== 'reconciled from the proxy' &&
            (h.status === 'superseded' || h.status === 'active'),
        )
      );
    }

    test('control: a plain deploy under the same traffic', async () => {
      const check = new Checks();
      const before = await served(env);
      const traffic = startTraffic(env.httpPort);
      const r = await deploy(before.commit === sha('fb') ? 'fa' : 'fb');
      const t = await traffic.stop();
      const now = await served(env);
      check.ok(r.code === 0, `exit ${r.code}: ${r.stderr.slice(-1500)}`);
      check.ok(t.failed === 0, `failed requests: ${failuresByPhase(t, [['deploy', r]])}`);
      matrix.add({
        group: 'control',
        case: 'plain deploy, no fault',
        expected: '0 failed requests, new version served',
        observed:
          `exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s; ${short(before.commit)} → ${short(now.commit)}; ` +
          `${describeTraffic(t)}${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
        requests: t.total,
        failures: t.failed,
        pass: check.failed.length === 0,
      });
      assert.deepEqual(check.failed, []);
    });

    const crashes: (CrashCase & { needsMigrations?: boolean })[] = [
      { name: 'after the lock', kill: { on: /^✔ lock /, what: 'deployer' } },
      { name: 'after the image', kill: { on: /^✔ image /, what: 'deployer' } },
      { name: 'after provisioning', kill: { on: /^✔ provision /, what: 'deployer' } },
      {
        name: 'after the snapshot (migration pending)',
        kill: { on: /^✔ snapshot /, what: 'deployer' },
        pending: true,
        needsMigrations: true,
      },
      {
        name: 'after the migration',
        kill: { on: /^✔ migrate /, what: 'deployer' },
        pending: true,
        needsMigrations: true,
      },
      { name: 'after starting the new colour', kill: { on: /^✔ start (blue|green) /, what: 'deployer' } },
      {
        name: 'during the health gate (slow release)',
        kill: { on: /^▶ health gate/, delayMs: 1000, what: 'deployer' },
        slow: true,
      },
      { name: 'right after the switch', kill: { on: /^✔ switch /, what: 'deployer' }, afterSwitch: true },
      { name: 'during the record', kill: { on: /^▶ record/, what: 'deployer' }, afterSwitch: true },
    ];
    for (const c of crashes) {
      test(`crash ${c.name}`, { skip: SKIP.has('crash') }, async (t) => {
        if (c.needsMigrations && !migrations) {
          matrix.add({
            group: 'crash (kill -9)',
            case: c.name,
            expected: 'as above',
            observed: `not run: ${MIGRATE_IMAGE} is not on the harness host`,
            pass: false,
          });
          t.skip(`${MIGRATE_IMAGE} missing`);
          return;
        }
        await crashCase(c);
      });
    }

    // ---------------------------------------------------------------------------------------------------------
    // SSH cut mid-deploy

    async function sshCut(
      name: string,
      kill: KillPlan,
      version: FaultLabel,
      prepare?: () => Promise<void>,
    ): Promise<void> {
      const check = new Checks();
      await prepare?.();
      const before = await served(env);
      const recover = version === 'fs' ? pick(['fa', 'fb', 'fc'], [labelOf(before.commit)]) : version;
      const stateBefore = await stateOf(env);
      const traffic = startTraffic(env.httpPort);
      const cut = await deploy(version, { kill });
      const afterCut = await served(env);
      const stateAfterCut = await stateOf(env);
      const lockAfterCut = await env.hostFile('lock/info.json');
      const recovery = await deploy(recover);
      const t = await traffic.stop();
      const now = await served(env);
      const state = await stateOf(env);
      const view = await stackView(env);
      const live = state.current?.colour as 'blue' | 'green' | undefined;

      const hung = cut.signal === 'SIGKILL';
      const completed = cut.code === 0;
      check.ok(cut.struck && cut.struck.pids.length > 0, `nothing was cut: ${JSON.stringify(cut.struck)}`);
      check.ok(
        !hung,
        `the deployer hung after the cut and was killed after ${(cut.ms / 1000).toFixed(0)}s: ${cut.stderr.slice(-800)}`,
      );
      if (completed) {
        // a cut between two commands is survivable: later commands open a connection of their own
        check.ok(
          afterCut.commit === sha(version) && stateAfterCut.current?.version === sha(version),
          `completed despite the cut, but the proxy serves ${short(afterCut.commit)} and state says ${short(stateAfterCut.current?.version)}`,
        );
      } else {
        check.ok(
          /lost the SSH connection|connection/i.test(cut.stderr),
          `the error does not name the lost connection: ${firstError(cut.stderr)}`,
        );
        check.ok(
          afterCut.commit === before.commit,
          `the proxy served ${short(afterCut.commit)} after the cut, expected ${short(before.commit)}`,
        );
        check.ok(stateAfterCut.current?.id === stateBefore.current?.id, 'state.json still names the live deployment');
      }
      check.ok(!lockAfterCut, 'the lock was released after the cut');
      check.ok(recovery.code === 0, `recovery exit ${recovery.code}: ${recovery.stderr.slice(-1200)}`);
      check.ok(
        now.commit === sha(recover) && state.current?.version === sha(recover),
        `after recovery the proxy serves ${short(now.commit)}, state says ${short(state.current?.version)}`,
      );
      check.ok(
        live && view[live] === 'Up' && view[live === 'blue' ? 'green' : 'blue'] === 'Exited',
        `colours after recovery: blue ${view.blue}, green ${view.green}`,
      );
      check.ok(view.others.length === 0, `left-over containers: ${view.others.join(', ')}`);
      check.ok(
        t.failed === 0,
        `failed requests: ${failuresByPhase(t, [
          ['cut deploy', cut],
          ['recovery', recovery],
        ])}`,
      );
      const failure = stateAfterCut.history[0];
      matrix.add({
        group: 'SSH cut',
        case: name,
        expected:
          'no hang; a clear connection error with nothing switched (or, cut between commands, a completed deploy); ' +
          'lock released; 0 failed requests; the next deploy succeeds',
        observed:
          `cut at "${cut.struck?.line ?? 'never'}" (killed pid ${cut.struck?.pids.join(',') ?? '-'}); ` +
          `deploy ${hung ? 'HUNG' : `exit ${cut.code}`} in ${(cut.ms / 1000).toFixed(1)}s: ` +
          `"${completed ? 'completed' : firstError(cut.stderr)}"; ` +
          `${lockAfterCut ? 'lock still held' : 'lock released'}; ` +
          `history: ${failure?.status ?? '?'}${failure?.failure ? ` (exit ${failure.failure.exit_code})` : ''}; ` +
          `proxy then served ${short(afterCut.commit)}. ` +
          `Next deploy exit ${recovery.code}${/took over the lock/.test(recovery.stderr) ? ' (took the lock over)' : ''}; ${describeTraffic(t)}` +
          (check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''),
        requests: t.total,
        failures: t.failed,
        pass: check.failed.length === 0,
      });
      assert.deepEqual(check.failed, []);
    }

    test(
      'SSH cut: the master connection is killed while the image is being uploaded',
      { skip: SKIP.has('ssh') },
      async () => {
        await sshCut(
          'master connection killed during the image upload (docker load)',
          { onCommand: /docker'? '?load/, delayMs: 300, what: 'ssh-master' },
          'fn',
          () => onRunnerOnly(env.info, repo, 'fn', IMAGE_REPO),
        );
      },
    );

    test(
      'SSH cut: the host-side sshd session is killed during the health gate',
      { skip: SKIP.has('ssh') },
      async () => {
        await sshCut(
          'host sshd session killed during the health gate',
          { on: /^▶ health gate/, delayMs: 800, what: 'sshd-session' },
          'fs',
        );
      },
    );

    // ---------------------------------------------------------------------------------------------------------
    // dependencies failing: an environment of its own (the sample repo's releases)

    describe('dependencies failing: clear errors, nothing switched', { skip: SKIP.has('deps') }, () => {
      let denv: TestEnv;
      let fullDir: string | undefined;
      // the fault repo's releases carry a migration, so every deploy reads the database before it starts anything
      const ddeploy = (version: FaultLabel, o: Parameters<typeof runDeployer>[2] = {}, extra: string[] = []) =>
        runDeployer(denv, ['deploy', denv.name, '--version', version, '--skip-ci-check', ...extra], {
          repo: repo.dir,
          ...o,
        });
      const db = () => `${denv.stackPrefix}-db`;
      const psqlSuper = (sql: string) =>
        hostDocker(denv.info, ['exec', db(), 'psql', '-X', '-q', '-U', 'togather', '-d', 'postgres', '-c', sql]);

      before(async () => {
        denv = await newEnv('deps', {
          config: (c) => {
            patient(c);
            (c.database as Record<string, unknown>).migrations = { image: MIGRATE_IMAGE, timeout: '60s' };
          },
        });
        const first = await ddeploy('fa');
        assert.equal(first.code, 0, first.stderr);
      });

      after(async () => {
        if (fullDir) {
          execFileSync('umount', [fullDir], { stdio: 'ignore' });
          rmSync(fullDir, { recursive: true, force: true });
        }
      });

      interface DepCase {
        name: string;
        expected: string;
        /** breaks the dependency; returns how to mend it */
        breakIt: () => Promise<() => Promise<void>>;
        version: FaultLabel;
        code: number;
        message: RegExp;
        options?: () => Parameters<typeof runDeployer>[2];
        /** more CLI arguments (e.g. --env-file) */
        args?: string[];
        /** values that must not appear in the output */
        secrets?: () => string[];
      }

      async function depCase(c: DepCase): Promise<void> {
        const check = new Checks();
        const before = await served(denv);
        const stateBefore = await stateOf(denv);
        const viewBefore = await stackView(denv);
        const mend = await c.breakIt();
        const traffic = startTraffic(denv.httpPort);
        let r: DeployerRun;
        try {
          r = await ddeploy(c.version, c.options?.(), c.args);
        } finally {
          await mend();
        }
        const t = await traffic.stop();
        const state = await stateOf(denv);
        const now = await served(denv);
        const view = await stackView(denv);
        const target = stateBefore.current?.colour === 'blue' ? 'green' : 'blue';
        const msg = firstError(r.stderr);
        check.ok(r.code === c.code, `exit ${r.code}, expected ${c.code}: ${r.stderr.slice(-1500)}`);
        check.ok(c.message.test(r.stderr), `the message does not say ${c.message}: ${msg}`);
        check.ok(
          now.commit === before.commit && [...t.versions].every((v) => v === before.commit),
          `served ${[...t.versions].map(short).join(',')}, expected only ${short(before.commit)}`,
        );
        check.ok(state.current?.id === stateBefore.current?.id, 'state.json still names the live deployment');
        check.ok(
          state.history[0]?.status === 'failed' && state.history[0].failure?.exit_code === c.code,
          `history records ${state.history[0]?.status} exit ${state.history[0]?.failure?.exit_code}`,
        );
        check.ok(
          view[target] === viewBefore[target],
          `the idle colour ${target} went ${viewBefore[target]} → ${view[target]}: it must not be started`,
        );
        check.ok((await denv.hostFile('lock/info.json')) === undefined, 'the lock is released');
        check.ok(t.failed === 0, `failed requests: ${failuresByPhase(t, [['deploy', r]])}`);
        for (const s of [...Object.values(denv.secrets), ...(c.secrets?.() ?? [])]) {
          for (const form of [s, encodeURIComponent(s), Buffer.from(s).toString('base64')])
            check.ok(!(r.stdout + r.stderr).includes(form), `a secret (${form.slice(0, 4)}…) is in the output`);
        }
        matrix.add({
          group: 'dependency failing',
          case: c.name,
          expected: c.expected,
          observed:
            `exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s: "${msg}"; still serving ${short(now.commit)}; ` +
            `${target} ${view[target]}; ${describeTraffic(t)}${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
          requests: t.total,
          failures: t.failed,
          pass: check.failed.length === 0,
        });
        assert.deepEqual(check.failed, []);
      }

      test('database container stopped: the deploy starts it again, then deploys', async () => {
        const check = new Checks();
        await hostDocker(denv.info, ['stop', db()]);
        const traffic = startTraffic(denv.httpPort);
        const r = await ddeploy('fb');
        const t = await traffic.stop();
        const now = await served(denv);
        const dbState = (
          await hostDocker(denv.info, ['inspect', '-f', '{{.State.Health.Status}}', db()])
        ).stdout.trim();
        check.ok(r.code === 0, `exit ${r.code}: ${r.stderr.slice(-1500)}`);
        check.ok(now.commit === sha('fb'), `serves ${short(now.commit)}`);
        check.ok(dbState === 'healthy', `database ${dbState}`);
        check.ok(t.failed === 0, `failed requests: ${failuresByPhase(t, [['deploy', r]])}`);
        matrix.add({
          group: 'dependency failing',
          case: 'database container stopped',
          expected: 'provisioning starts the database again and waits for it; the deploy goes on',
          observed:
            `exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s; database ${dbState}; serves ${short(now.commit)}; ` +
            `${describeTraffic(t)}${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
          requests: t.total,
          failures: t.failed,
          pass: check.failed.length === 0,
        });
        assert.deepEqual(check.failed, []);
      });

      test('database hung (container paused)', () =>
        depCase({
          name: 'database hung (container paused)',
          expected: 'clear error naming the database container, nothing switched',
          breakIt: async () => {
            await hostDocker(denv.info, ['pause', db()]);
            return async () => void (await hostDocker(denv.info, ['unpause', db()]));
          },
          version: 'fa',
          code: 6,
          message: /database container \S+ is paused/,
        }));

      test('database refusing connections', () =>
        depCase({
          name: 'database refusing connections (ALLOW_CONNECTIONS false)',
          expected: 'clear error before any snapshot or migration, nothing switched',
          breakIt: async () => {
            await psqlSuper('ALTER DATABASE togather WITH ALLOW_CONNECTIONS false');
            return async () => void (await psqlSuper('ALTER DATABASE togather WITH ALLOW_CONNECTIONS true'));
          },
          version: 'fa',
          code: 8,
          message: /could not read schema_migrations from the database: .*not currently accepting connections/,
        }));

      /** the environment's env file with some lines replaced, as a file of its own */
      /** the environment's deployment.yml with one edit, written beside it; returns its path */
      const configVariant = (name: string, edit: (c: Record<string, Record<string, unknown>>) => void): string => {
        const config = parse(readFileSync(denv.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
        edit(config);
        const path = join(denv.dir, name);
        writeFileSync(path, stringify(config));
        return path;
      };
      const envVariant = (name: string, replace: Record<string, string>): string => {
        let text = readFileSync(denv.envFilePath, 'utf8');
        for (const [k, v] of Object.entries(replace)) text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`);
        const file = join(denv.dir, name);
        writeFileSync(file, text, { mode: 0o600 });
        return file;
      };

      test('database refusing credentials: wrong password in DATABASE_URL', async () => {
        const wrong = 'Wr0ng-pw-Qx7%/+zz';
        const file = envVariant('wrong-url.env', {
          DATABASE_URL: `postgres://togather:${encodeURIComponent(wrong)}@db:5432/togather`,
        });
        await depCase({
          name: 'wrong password in DATABASE_URL',
          expected: 'clear authentication error, password not shown, nothing switched',
          breakIt: async () => async () => undefined,
          args: ['--env-file', file],
          version: 'fa',
          code: 8,
          message: /password authentication failed for user "togather"/,
          secrets: () => [wrong],
        });
      });

      test('database refusing credentials, migrations skipped: the health gate names what the app reports', async () => {
        const wrong = 'Wr0ng-pw-Nm4%/+yy';
        const file = envVariant('wrong-url-nomig.env', {
          DATABASE_URL: `postgres://togather:${encodeURIComponent(wrong)}@db:5432/togather`,
        });
        // the app is never healthy: a short start timeout keeps the case quick
        const configShort = configVariant(
          'deployment-short-start.yml',
          (c) => ((c.app!.health as Record<string, unknown>).start_timeout = '12s'),
        );
        await depCase({
          name: 'wrong password in DATABASE_URL, no migrations run (--skip-migrations)',
          expected: 'exit 10 naming the authentication failure the app reports, password not shown, nothing switched',
          breakIt: async () => async () => undefined,
          options: () => ({ config: configShort }),
          args: ['--env-file', file, '--skip-migrations'],
          version: 'fa',
          code: 10,
          message: /did not become healthy[^\n]*password authentication failed/,
          secrets: () => [wrong],
        });
      });

      test('database refusing credentials: POSTGRES_PASSWORD rotated in the env file only', async () => {
        const rotated = 'R0tated-pw-Kd3%/+qq';
        const file = envVariant('rotated.env', {
          DATABASE_URL: `postgres://togather:${encodeURIComponent(rotated)}@db:5432/togather`,
          POSTGRES_PASSWORD: rotated,
        });
        await depCase({
          name: 'POSTGRES_PASSWORD and DATABASE_URL rotated in the env file (the database keeps its password)',
          expected: 'clear authentication error, nothing switched; deploying the right env file again works',
          breakIt: async () => async () => undefined,
          args: ['--env-file', file],
          version: 'fa',
          code: 8,
          message: /password authentication failed for user "togather"/,
          secrets: () => [rotated],
        });
      });

      test('the right env file again: the deploy recovers (database recreated with its own password)', async () => {
        const check = new Checks();
        const traffic = startTraffic(denv.httpPort);
        const r = await ddeploy('fa');
        const t = await traffic.stop();
        const now = await served(denv);
        check.ok(r.code === 0, `exit ${r.code}: ${r.stderr.slice(-1500)}`);
        check.ok(now.commit === sha('fa'), `serves ${short(now.commit)}`);
        check.ok(t.failed === 0, `failed requests: ${failuresByPhase(t, [['deploy', r]])}`);
        matrix.add({
          group: 'dependency failing',
          case: 'back to the right credentials',
          expected: 'the next deploy with the right env file succeeds',
          observed:
            `exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s${r.code ? `: ${firstError(r.stderr)}` : ''}; ` +
            `serves ${short(now.commit)}; ${describeTraffic(t)}${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
          requests: t.total,
          failures: t.failed,
          pass: check.failed.length === 0,
        });
        assert.deepEqual(check.failed, []);
      });

      test('disk full for snapshots', async () => {
        fullDir = `/tmp/tgd-full-${denv.name}`;
        mkdirSync(fullDir, { recursive: true });
        const user = denv.info.ssh.user;
        const uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim();
        const gid = execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim();
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=256k,uid=${uid},gid=${gid},mode=0700`, 'tmpfs', fullDir]);
        // fill it to the last block
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${fullDir}/filler`, 'bs=4096'], { stdio: 'ignore' });
        } catch {
          // ENOSPC is the point
        }
        const configFull = configVariant(
          'deployment-full.yml',
          (c) => (c.database!.snapshots = { when: 'every-deploy', path: fullDir }),
        );
        await depCase({
          name: 'disk full for snapshots (every-deploy snapshot on a full filesystem)',
          expected: 'clear snapshot error naming the full disk, no partial file left, nothing migrated or switched',
          breakIt: async () => async () => undefined,
          options: () => ({ config: configFull }),
          version: 'fb',
          code: 8,
          message:
            /writing the compressed dump failed .*is the disk of .* full\?\)[\s\S]*No snapshot file was left behind/,
        });
        const left = execFileSync('ls', ['-A', fullDir], { encoding: 'utf8' }).trim();
        assert.equal(left, 'filler', `left in the snapshots directory: ${left}`);
      });
    });

    test(
      'the live app lost the start-up race with its gate (as after a daemon restart): the keeper starts it again',
      { skip: SKIP.has('restart') },
      async () => {
        const check = new Checks();
        const live = (await stateOf(env)).current?.colour as 'blue' | 'green';
        const before = await served(env);
        const [gate, app, keeper] = [`gate-${live}`, `app-${live}`, 'keeper'].map((s) => `${env.stackPrefix}-${s}`) as [
          string,
          string,
          string,
        ];
        // what dockerd does when it starts the app before its gate: the start fails and is never retried
        await hostDocker(env.info, ['stop', '-t', '1', app, gate]);
        const failed = await hostDocker(env.info, ['start', app], { check: false });
        const error = (await hostDocker(env.info, ['inspect', '-f', '{{.State.Error}}', app])).stdout.trim();
        check.ok(
          failed.code !== 0 && /non running container/.test(error),
          `the app's start failed as after a restart: ${error}`,
        );
        await hostDocker(env.info, ['start', gate]);
        const t0 = Date.now();
        await hostDocker(env.info, ['restart', '-t', '1', keeper]); // the keeper acts when its container starts
        let back: Served = {};
        while (Date.now() - t0 < 60_000 && back.commit !== before.commit) {
          back = await served(env);
          if (back.commit !== before.commit) await sleep(250);
        }
        const ms = Date.now() - t0;
        const view = await stackView(env);
        const log = (await hostDocker(env.info, ['logs', keeper], { check: false })).stdout;
        check.ok(back.commit === before.commit, `the proxy serves ${short(back.commit)} again`);
        check.ok(view[live] === 'Up', `live colour ${live}: ${view[live]}`);
        check.ok(log.includes(`started ${app}`), `keeper log: ${log}`);
        matrix.add({
          group: 'docker daemon restart',
          case: 'the routed app failed to start because its gate was not up yet (the restart race)',
          expected: 'the keeper starts it again; the proxy serves the live version',
          observed:
            `start failed with "${error.slice(0, 60)}…"; keeper restarted: ${live} ${view[live]}, ` +
            `proxy serving ${short(back.commit)} ${(ms / 1000).toFixed(1)}s later${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
          pass: check.failed.length === 0,
        });
        assert.deepEqual(check.failed, []);
      },
    );

    // ---------------------------------------------------------------------------------------------------------
    // last: it restarts the shared host engine (every other stack on it restarts too)

    test(
      'docker daemon restart on the host while idle: proxy and live colour come back, status is right',
      { skip: SKIP.has('restart') },
      async () => {
        const check = new Checks();
        const state = await stateOf(env);
        const live = state.current?.colour as 'blue' | 'green';
        const idle = live === 'blue' ? 'green' : 'blue';
        const before = await served(env);
        assert.equal(await env.hostFile('lock/info.json'), undefined, 'idle: no operation holds the lock');
        const pidfile = join(env.info.dir, 'host', 'dockerd.pid');
        const pid = Number(readFileSync(pidfile, 'utf8').trim());
        assert.ok(pidMatches(pid, ['dockerd', pidfile]), `pid ${pid} is not the host engine`);

        const t0 = Date.now();
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 1200 && alive(pid); i++) await sleep(100);
        const downMs = Date.now() - t0;
        check.ok(!alive(pid), 'the host engine stopped');
        await upHost(); // starts the engine again exactly as the harness does
        let back: Served = {};
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && back.commit !== before.commit) {
          back = await served(env);
          if (back.commit !== before.commit) await sleep(250);
        }
        const backMs = Date.now() - t0;
        const view = await stackView(env);
        const status = await runDeployer(env, ['status', env.name]);
        const caddy = view.all.find((l) => l.startsWith(`${env.stackPrefix}-caddy `));
        // what the keeper did: it starts a routed app that lost the start-up race with its gate (docker/keeper.sh)
        const keeperLog = (
          await hostDocker(env.info, ['logs', '--since', new Date(t0).toISOString(), `${env.stackPrefix}-keeper`], {
            check: false,
          })
        ).stdout;
        const kept = keeperLog.split('\n').filter((l) => l.includes('started ')).length;
        check.ok(
          back.commit === before.commit && back.upstream?.startsWith(`app-${live}`),
          `after the restart the proxy answers ${short(back.commit)} from ${back.upstream}`,
        );
        check.ok(caddy?.endsWith(' Up'), `caddy: ${caddy}`);
        check.ok(view[live] === 'Up', `live colour ${live}: ${view[live]}`);
        check.ok(view[idle] === 'Exited', `retired colour ${idle}: ${view[idle]} (it must stay stopped)`);
        check.ok(status.code === 0, `status exit ${status.code}: ${status.stderr}`);
        check.ok(
          new RegExp(`^serving\\s+${live} — ${before.commit?.slice(0, 12)}`, 'm').test(status.stdout),
          `status: ${status.stdout}`,
        );
        check.ok(
          new RegExp(`^proxy\\s+HTTP 200 from app-${live}`, 'm').test(status.stdout),
          'status reports the proxy answering from the live colour',
        );
        check.ok(!/^drift/m.test(status.stdout), 'status reports no drift');
        matrix.add({
          group: 'docker daemon restart',
          case: 'host engine stopped (SIGTERM) and started again while idle',
          expected:
            'caddy, gates, database and the live colour restart by policy; the retired colour stays stopped; status right',
          observed:
            `engine down after ${(downMs / 1000).toFixed(1)}s, ` +
            `proxy serving ${short(back.commit)} from ${back.upstream ?? 'nothing'} again ${(backMs / 1000).toFixed(1)}s after the stop ` +
            `(keeper started ${kept} app${kept === 1 ? '' : 's'}); ` +
            `${live} ${view[live]}, ${idle} ${view[idle]}, caddy ${caddy?.split(' ')[1]}; status: ${status.stdout
              .split('\n')
              .filter((l) => /^(serving|proxy|drift)/.test(l))
              .map((l) => l.replace(/\s+/g, ' '))
              .join(' / ')}${check.failed.length ? `. FAILED: ${check.failed.join('; ')}` : ''}`,
          pass: check.failed.length === 0,
        });
        assert.deepEqual(check.failed, []);
      },
    );
  },
);

/** where failed requests happened: "ka-post http-503 ×3 in recovery: switch" */
function failuresByPhase(t: TrafficResult, runs: [string, DeployerRun][]): string {
  const counts = new Map<string, number>();
  for (const f of t.failures) {
    let where = 'between operations';
    for (const [label, r] of runs) {
      const last = r.timeline.at(-1)?.at ?? 0;
      const p = f.at <= last + 500 ? phaseAt(r, f.at) : undefined;
      if (p) where = `${label}: ${p}`;
    }
    const key = `${f.lane} ${f.kind} in ${where}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ×${n}`).join('; ');
}

function firstError(stderr: string): string {
  const m = /^error: (.*)$/m.exec(stderr);
  return (m?.[1] ?? stderr.trim().split('\n').pop() ?? '').slice(0, 300);
}
