/**
 * The runbooks' commands, run as written on the real loopback host. Every ```sh block of docs/*.md marked
 * <!-- runs-in-ci … --> runs here, in document order, one fresh environment per document (docs/README.md
 * describes the markers). The placeholders of the docs are swapped for the harness's values:
 *
 *   togather-deploy                    node --import tsx src/cli/index.ts of this checkout
 *   staging / production / development this document's environment on the harness
 *   --identity, --known-hosts          the harness's deploy key and known_hosts (added when absent)
 *   --config, --env-file, --repo       the environment's files and a clone of the sample app (added when absent)
 *   v1.3.0 … v2.1.0                    tags of that clone (TAGS below)
 *   a snapshot file name               the environment's newest snapshot
 *   GITHUB_TOKEN / GITHUB_REPOSITORY   a loopback stand-in for GitHub's API where every commit passed CI
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateIdentity } from '../../src/crypto/age.js';
import { FakeGitHubApi } from '../fakes/github-api.js';
import { hostSsh } from '../harness/host.js';
import { docFiles, readDoc, runnableBlocks, cliInvocations, type RunnableBlock } from '../unit/docs-markdown.js';
import { destroyEnv, newEnv, runCli, sharedHost, type CliResult, type TestEnv } from './support.js';

/** the release tags the docs use → the sample app's commits (test/harness/sample-repo.ts) */
export const TAGS: Record<string, string> = {
  'v1.3.0': 'v1',
  'v1.4.0': 'v2',
  'v1.5.0': 'v6',
  'v2.0.0': 'm1',
  'v2.0.1': 'm2', // its migration 003 breaks midway
  'v2.1.0': 'm3',
};
const DOC_ENVIRONMENTS = new Set(['staging', 'production', 'development']);
/** a snapshot file name as the docs write one (src/engine/database/snapshot.ts names them so) */
const SNAPSHOT_FILE_RE = /^[A-Za-z0-9_-]+_\d{8}_\d{6}_[0-9a-f]{7}\.sql\.gz$/;
/** flags whose value the test replaces; the value is what the harness or the environment provides */
const VALUE_FLAGS = ['--identity', '-i', '--known-hosts', '--config', '-c', '--env-file', '--repo'] as const;

/**
 * Documents whose environment copies its snapshots off the host: an rclone `alias` remote onto a directory of
 * this machine, and the age identity and rclone settings in the environment, as the drill's `export` lines say.
 */
const OFFSITE_DOCS = new Set(['docs/snapshots.md']);
const OFFSITE_REMOTE = 'docsoff';
const offsiteKeys = generateIdentity();
let offsiteDir: string | undefined;
function offsiteEnv(): Record<string, string> {
  offsiteDir ??= mkdtempSync(join(tmpdir(), 'tgd-docs-offsite-'));
  return {
    TOGATHER_SNAPSHOT_IDENTITY: offsiteKeys.identity,
    RCLONE_CONFIG: '/dev/null',
    [`RCLONE_CONFIG_${OFFSITE_REMOTE.toUpperCase()}_TYPE`]: 'alias',
    [`RCLONE_CONFIG_${OFFSITE_REMOTE.toUpperCase()}_REMOTE`]: offsiteDir,
  };
}

/** TOGATHER_DOCS=rollback.md,snapshots.md runs only those documents (when editing them) */
const only = (process.env.TOGATHER_DOCS ?? '')
  .split(',')
  .map((f) => f.trim())
  .filter(Boolean);
const blocksByDoc = docFiles()
  .filter((f) => f.startsWith('docs/') && (only.length === 0 || only.some((o) => f === `docs/${o}` || f === o)))
  .map((f) => ({ file: f, blocks: runnableBlocks(readDoc(f)) }))
  .filter((d) => d.blocks.length > 0);

function git(dir: string, ...args: string[]): string {
  const r = spawnSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** a clone of the sample repository with the docs' release tags */
function taggedClone(env: TestEnv): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'tgd-docs-repo-')), 'repo');
  const r = spawnSync('git', ['clone', '--quiet', env.repo.dir, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const [tag, label] of Object.entries(TAGS)) {
    const sha = (env.repo.shas as Record<string, string>)[label];
    if (sha) git(dir, 'tag', '-f', tag, sha);
  }
  return dir;
}

/** the doc's argv with the harness's values in place of the placeholders */
export function substitute(args: string[], env: TestEnv, repo: string): string[] {
  const values: Record<(typeof VALUE_FLAGS)[number], string> = {
    '--identity': env.info.ssh.privateKeyPath,
    '-i': env.info.ssh.privateKeyPath,
    '--known-hosts': env.info.ssh.knownHostsPath,
    '--config': env.configPath,
    '-c': env.configPath,
    '--env-file': env.envFilePath,
    '--repo': repo,
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const flag = VALUE_FLAGS.find((f) => a === f || a.startsWith(`${f}=`));
    if (flag) {
      out.push(flag, values[flag]);
      if (a === flag) i++;
    } else if (!a.startsWith('-') && DOC_ENVIRONMENTS.has(a)) out.push(env.name);
    else out.push(a);
  }
  const has = (...names: string[]) => out.some((a) => names.includes(a));
  if (!has('--identity', '-i')) out.push('--identity', values['--identity']);
  if (!has('--known-hosts')) out.push('--known-hosts', values['--known-hosts']);
  if (!has('--config', '-c')) out.push('--config', env.configPath);
  if (!has('--repo')) out.push('--repo', repo);
  return out;
}

/** a lock held by an operation on another machine that is still sending heartbeats: nothing takes it over */
async function plantLock(env: TestEnv): Promise<void> {
  const now = Date.now();
  const info = {
    lock_id: '01JDOCSTESTLOCK0000000000A',
    environment: env.name,
    acquired_at: new Date(now - 60_000).toISOString(),
    acquired_by: 'octo-deployer (GitHub Actions run 4242)',
    deployment_id: '01JDOCSTESTDEPLOY00000000A',
    operation: 'deploy',
    pid: 4242,
    hostname: 'runner-gone-7',
    expires_at: new Date(now + 30 * 60_000).toISOString(),
  };
  const dir = `stacks/${env.name}/lock`;
  await hostSsh(
    env.info,
    `mkdir -p ${dir} && printf '%s' '${JSON.stringify(info)}' > ${dir}/info.json && touch ${dir}/heartbeat`,
  );
}

describe('docs: runnable commands on the loopback host', { timeout: 1_800_000 }, () => {
  let fake: FakeGitHubApi;
  const token = 'ghs_docsTestToken8Hq2Lr5';
  const ran: string[] = [];

  before(async () => {
    fake = await FakeGitHubApi.start({ token });
  });
  after(async () => {
    await fake?.close();
  });

  test('the docs have runnable blocks', () => {
    assert.ok(blocksByDoc.length > 0, 'no <!-- runs-in-ci --> block in docs/');
  });

  for (const { file, blocks } of blocksByDoc) {
    describe(file, () => {
      let env: TestEnv;
      let repo: string;
      const deployed: string[] = [];

      before(async () => {
        const label = file
          .replace(/^docs\/|\.md$/g, '')
          .replace(/[^a-z]/g, '')
          .slice(0, 8);
        // the harness's stand-in for golang-migrate, when it has one
        const migrate = ((await sharedHost()).info.images as Record<string, string | undefined>).migrateFixture;
        env = await newEnv(`d${label}`, {
          config: (c) => {
            if (migrate) (c.database as Record<string, unknown>).migrations = { image: migrate };
            if (OFFSITE_DOCS.has(file))
              (c.database as Record<string, unknown>).snapshots = {
                offsite: { remote: `${OFFSITE_REMOTE}:snapshots`, recipients: [offsiteKeys.recipient] },
              };
          },
        });
        repo = taggedClone(env);
        for (const sha of Object.values(env.repo.shas))
          fake.setCommit(sha, { checkRuns: [fake.checkRun({ name: 'ci', sha })] });
      });
      // one document's stack at a time on the shared machine (TOGATHER_KEEP_ENVS=1 keeps them for a look)
      after(async () => {
        if (env && !process.env.TOGATHER_KEEP_ENVS) await destroyEnv(env).catch(() => undefined);
      });

      const run = (args: string[]): Promise<CliResult> =>
        runCli(substitute(args, env, repo), {
          ...env.info.runnerEnv,
          GITHUB_TOKEN: token,
          GITHUB_REPOSITORY: 'togather/server',
          GITHUB_API_URL: fake.url,
          ...(OFFSITE_DOCS.has(file) ? offsiteEnv() : {}),
        });
      // a snapshot file name in the docs stands for the environment's newest snapshot
      const cli = async (args: string[]): Promise<CliResult> => {
        if (!args.some((a) => SNAPSHOT_FILE_RE.test(a))) return run(args);
        const list = await run(['snapshot', 'list', 'staging', '--json']);
        assert.equal(list.code, 0, `snapshot list (to find the newest snapshot) failed:\n${list.stderr}`);
        const newest = (JSON.parse(list.stdout) as { snapshots: { file: string }[] }).snapshots[0]?.file;
        assert.ok(newest, 'the environment has a snapshot to stand for the one named in the docs');
        return run(args.map((a) => (SNAPSHOT_FILE_RE.test(a) ? newest : a)));
      };

      async function establish(b: RunnableBlock): Promise<void> {
        for (const g of b.given) {
          if (g === 'locked') await plantLock(env);
          else if (g.startsWith('deployed:')) {
            for (const v of g.slice('deployed:'.length).split(',')) {
              if (deployed[deployed.length - 1] === v) continue;
              const r = await cli(['deploy', 'staging', '--version', v]);
              assert.equal(r.code, 0, `given ${g}: deploy ${v} failed:\n${r.stderr}`);
              deployed.push(v);
            }
          }
        }
      }

      // the blocks of a document build on each other: after a failure the rest would only fail in its wake
      let failedAt: number | undefined;
      for (const b of blocks) {
        test(`line ${b.line}: ${cliInvocations(b.body)
          .map((i) => i.args.slice(0, 2).join(' '))
          .join('; ')}`, async (t) => {
          if (failedAt !== undefined) {
            t.skip(`the block at line ${failedAt} of this document failed`);
            return;
          }
          failedAt = b.line; // cleared when the block passes
          await establish(b);
          const invocations = cliInvocations(b.body);
          assert.ok(invocations.length > 0, 'a runnable block holds at least one togather-deploy command');
          for (let i = 0; i < invocations.length; i++) {
            const inv = invocations[i]!;
            const last = i === invocations.length - 1;
            const want = last ? b.exit : 0;
            const r = await cli(inv.args);
            ran.push(
              `${file}:${b.line} togather-deploy ${inv.args.join(' ')} → ${r.code} (${(r.ms / 1000).toFixed(1)}s)`,
            );
            assert.equal(
              r.code,
              want,
              `togather-deploy ${inv.args.join(' ')} exited ${r.code}, the doc expects ${want}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
            );
            if (inv.args[0] === 'deploy' && !inv.args.includes('--dry-run') && r.code === 0) {
              // no --version deploys HEAD
              const at = inv.args.indexOf('--version');
              deployed.push(at >= 0 ? inv.args[at + 1]! : 'HEAD');
            }
          }
          failedAt = undefined;
        });
      }
    });
  }

  after(() => {
    process.stdout.write(`# docs commands run:\n${ran.map((l) => `#   ${l}`).join('\n')}\n`);
  });
});
