/**
 * The fault suite's own release repository: the sample app (test/fixtures/sample-app) with one golang-migrate
 * migration baked into the image at /app/migrations, so that a deploy can have a pending migration (and so a
 * snapshot and a migrate phase to crash in). Commits get fixed dates, so their SHAs — and the images built
 * from them — are the same on every run and are built once per machine.
 *
 * Only one schema version exists (1): the sample app always reports `migrations.details.version: 1`, and the
 * health gate compares that with what the database was migrated to. A case that needs a pending migration
 * resets schema_migrations first (resetSchema).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDocker, runnerDocker, type HarnessInfo } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { SAMPLE_APP_DIR, buildSampleImage } from '../harness/sample-repo.js';

/** fa fb fc fn: healthy releases; fs: healthy after 3 s (a health gate long enough to act during it); fx: exits at boot */
export const FAULT_VERSIONS = { fa: 'normal', fb: 'normal', fc: 'normal', fn: 'normal', fs: 'slow-start 3', fx: 'crash' } as const;
export type FaultLabel = keyof typeof FAULT_VERSIONS;

export interface FaultRepo {
  dir: string;
  shas: Record<FaultLabel, string>;
}

export const MIGRATION_UP = 'CREATE TABLE IF NOT EXISTS fault_marker (id integer);\n';

let made: Promise<FaultRepo> | undefined;

export function faultRepo(): Promise<FaultRepo> {
  made ??= makeFaultRepo();
  return made;
}

async function makeFaultRepo(): Promise<FaultRepo> {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-fault-repo-'));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Togather Fault Tests',
    GIT_AUTHOR_EMAIL: 'faults@togather.invalid',
    GIT_COMMITTER_NAME: 'Togather Fault Tests',
    GIT_COMMITTER_EMAIL: 'faults@togather.invalid',
  };
  const git = (...args: string[]) => run(['git', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], { cwd: dir, env });
  await git('init', '-q', '-b', 'main');
  for (const name of readdirSync(SAMPLE_APP_DIR)) if (name !== 'mode') copyFileSync(join(SAMPLE_APP_DIR, name), join(dir, name));
  // the sample Dockerfile plus the migrations directory (WORKDIR is /app)
  writeFileSync(join(dir, 'Dockerfile'), `${readFileSync(join(dir, 'Dockerfile'), 'utf8').trimEnd()}\nCOPY migrations ./migrations/\n`);
  mkdirSync(join(dir, 'migrations'));
  writeFileSync(join(dir, 'migrations', '1_fault_marker.up.sql'), MIGRATION_UP);
  writeFileSync(join(dir, 'migrations', '1_fault_marker.down.sql'), 'DROP TABLE IF EXISTS fault_marker;\n');
  const shas = {} as Record<FaultLabel, string>;
  for (const [i, label] of (Object.keys(FAULT_VERSIONS) as FaultLabel[]).entries()) {
    writeFileSync(join(dir, 'mode'), `# fault suite ${label}\n${FAULT_VERSIONS[label]}\n`);
    const date = `2026-02-01T00:0${i}:00Z`;
    await git('add', '-A');
    await run(['git', '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', `fault suite ${label}`], { cwd: dir, env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
    await git('tag', label);
    shas[label] = (await git('rev-parse', 'HEAD')).stdout.trim();
  }
  return { dir, shas };
}

/** Makes migration 1 pending again: the next deploy snapshots, then migrates. */
export async function resetSchema(info: HarnessInfo, stack: string): Promise<void> {
  await hostDocker(info, ['exec', `${stack}-db`, 'psql', '-X', '-q', '-U', 'togather', '-d', 'togather', '-c', 'DROP TABLE IF EXISTS schema_migrations, fault_marker']);
}

/**
 * The release image on the runner (built the way the deployer builds it) and NOT on the host, so the next
 * deploy of it ships ~40 MB over SSH: a transfer long enough to cut.
 */
export async function onRunnerOnly(info: HarnessInfo, repo: FaultRepo, label: FaultLabel, imageRepo: string): Promise<void> {
  const sha = repo.shas[label];
  const ref = `${imageRepo}:${sha}`;
  if ((await runnerDocker(info, ['image', 'inspect', ref], { check: false })).code !== 0) {
    const short = await buildSampleImage(info, repo.dir, sha, { repository: imageRepo, version: label });
    await runnerDocker(info, ['tag', short, ref]);
  }
  await hostDocker(info, ['image', 'rm', ref], { check: false });
}
