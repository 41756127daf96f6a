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
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDocker, runnerDocker, type HarnessInfo } from '../harness/host.js';
import { buildSampleImage, initSampleGit } from '../harness/sample-repo.js';

/** fa fb fc fn: healthy releases; fs: healthy after 3 s (a health gate long enough to act during it); fx: exits at boot */
export const FAULT_VERSIONS = {
  fa: 'normal',
  fb: 'normal',
  fc: 'normal',
  fn: 'normal',
  fs: 'slow-start 3',
  fx: 'crash',
} as const;
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
  const { git, commit } = await initSampleGit(dir, 'Togather Fault Tests', 'faults@togather.invalid');
  // the sample Dockerfile plus the migrations directory (WORKDIR is /app)
  writeFileSync(
    join(dir, 'Dockerfile'),
    `${readFileSync(join(dir, 'Dockerfile'), 'utf8').trimEnd()}\nCOPY migrations ./migrations/\n`,
  );
  mkdirSync(join(dir, 'migrations'));
  writeFileSync(join(dir, 'migrations', '1_fault_marker.up.sql'), MIGRATION_UP);
  writeFileSync(join(dir, 'migrations', '1_fault_marker.down.sql'), 'DROP TABLE IF EXISTS fault_marker;\n');
  const shas = {} as Record<FaultLabel, string>;
  for (const [i, label] of (Object.keys(FAULT_VERSIONS) as FaultLabel[]).entries()) {
    writeFileSync(join(dir, 'mode'), `# fault suite ${label}\n${FAULT_VERSIONS[label]}\n`);
    const date = `2026-02-01T00:0${i}:00Z`;
    await commit(`fault suite ${label}`, date);
    await git('tag', label);
    shas[label] = (await git('rev-parse', 'HEAD')).stdout.trim();
  }
  return { dir, shas };
}

/** Makes migration 1 pending again: the next deploy snapshots, then migrates. */
export async function resetSchema(info: HarnessInfo, stack: string): Promise<void> {
  await hostDocker(info, [
    'exec',
    `${stack}-db`,
    'psql',
    '-X',
    '-q',
    '-U',
    'togather',
    '-d',
    'togather',
    '-c',
    'DROP TABLE IF EXISTS schema_migrations, fault_marker',
  ]);
}

/**
 * The release image on the runner (built the way the deployer builds it) and NOT on the host, so the next
 * deploy of it ships ~40 MB over SSH: a transfer long enough to cut.
 */
export async function onRunnerOnly(
  info: HarnessInfo,
  repo: FaultRepo,
  label: FaultLabel,
  imageRepo: string,
): Promise<void> {
  const sha = repo.shas[label];
  const ref = `${imageRepo}:${sha}`;
  if ((await runnerDocker(info, ['image', 'inspect', ref], { check: false })).code !== 0) {
    const short = await buildSampleImage(info, repo.dir, sha, { repository: imageRepo, version: label });
    await runnerDocker(info, ['tag', short, ref]);
  }
  await hostDocker(info, ['image', 'rm', ref], { check: false });
}
