/**
 * A git repository whose commits are the sample app (test/fixtures/sample-app) in different modes — what a
 * deploy test checks out, builds (`git archive <sha> | docker build -`) and ships:
 *   v1 normal · v2 normal, other content · v3 crash · v4 unhealthy · v5 slow-start 3 s · v6 normal
 * then, for the database tests, commits whose image ships golang-migrate files in /app/migrations
 * (test/fixtures/sample-migrations):
 *   m1 two migrations · m2 + a migration that breaks midway · m3 the fixed one + one rewriting every event
 * Each commit is tagged with its label. App files sit at the repository root (Dockerfile, server.mjs, mode).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HarnessInfo } from './host.js';
import { pipeline, run } from './proc.js';

export const SAMPLE_APP_DIR = fileURLToPath(new URL('../fixtures/sample-app/', import.meta.url));

export type SampleLabel = 'v1' | 'v2' | 'v3' | 'v4' | 'v5' | 'v6' | 'm1' | 'm2' | 'm3';

/** The mode file of each version; the comment line makes every tree differ even when the mode repeats. */
export const SAMPLE_VERSIONS: Record<SampleLabel, string> = {
  v1: 'normal',
  v2: 'normal',
  v3: 'crash',
  v4: 'unhealthy',
  v5: 'slow-start 3',
  v6: 'normal',
  m1: 'normal',
  m2: 'normal',
  m3: 'normal',
};

export const SAMPLE_MIGRATIONS_DIR = fileURLToPath(new URL('../fixtures/sample-migrations/', import.meta.url));

/** migrations/ of the m-commits: name in the commit ← fixture file */
const M1: [string, string][] = [
  ['001_create_events.up.sql', '001_create_events.up.sql'],
  ['001_create_events.down.sql', '001_create_events.down.sql'],
  ['002_create_venues.up.sql', '002_create_venues.up.sql'],
  ['002_create_venues.down.sql', '002_create_venues.down.sql'],
];
export const SAMPLE_MIGRATIONS: Partial<Record<SampleLabel, [string, string][]>> = {
  m1: M1,
  m2: [
    ...M1,
    ['003_add_capacity.up.sql', '003_add_capacity.broken.up.sql'],
    ['003_add_capacity.down.sql', '003_add_capacity.down.sql'],
  ],
  m3: [
    ...M1,
    ['003_add_capacity.up.sql', '003_add_capacity.up.sql'],
    ['003_add_capacity.down.sql', '003_add_capacity.down.sql'],
    ['004_events_by_day.up.sql', '004_events_by_day.up.sql'],
    ['004_events_by_day.down.sql', '004_events_by_day.down.sql'],
  ],
};
/** the schema version each m-commit migrates to */
export const SAMPLE_SCHEMA: Partial<Record<SampleLabel, number>> = { m1: 2, m2: 3, m3: 4 };

export type SampleShas = Record<SampleLabel, string>;

/**
 * `git init` in `dir` with the sample app's files (not its `mode` file) copied in; returns a git runner with a
 * fixed identity: no dependence on the machine's git config, and nothing signs.
 */
export async function initSampleGit(
  dir: string,
  name: string,
  email: string,
): Promise<{
  git: (...args: string[]) => ReturnType<typeof run>;
  commit: (message: string, date: string) => ReturnType<typeof run>;
}> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
  };
  const git = (...args: string[]) =>
    run(['git', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], { cwd: dir, env });
  await git('init', '-q', '-b', 'main');
  for (const f of readdirSync(SAMPLE_APP_DIR)) if (f !== 'mode') copyFileSync(join(SAMPLE_APP_DIR, f), join(dir, f));
  // everything staged, committed at a fixed date: the same SHAs on every machine
  const commit = async (message: string, date: string) => {
    await git('add', '-A');
    return run(['git', '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', message], {
      cwd: dir,
      env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
    });
  };
  return { git, commit };
}

/** Create (or recreate, if `dir` is not yet a repo) the sample repository; returns full SHAs by label. */
export async function makeSampleRepo(dir: string): Promise<SampleShas> {
  mkdirSync(dir, { recursive: true });
  if (existsSync(join(dir, '.git'))) {
    throw new Error(`${dir} already holds a git repository; give makeSampleRepo a fresh directory`);
  }
  const { git, commit } = await initSampleGit(dir, 'Togather Tests', 'tests@togather.invalid');
  const shas = {} as SampleShas;
  const labels = Object.keys(SAMPLE_VERSIONS) as SampleLabel[];
  for (const [i, label] of labels.entries()) {
    writeFileSync(join(dir, 'mode'), `# sample app ${label}\n${SAMPLE_VERSIONS[label]}\n`);
    const migrations = SAMPLE_MIGRATIONS[label];
    if (migrations) {
      // the image ships the migrations where the Togather image keeps them; v1..v6 stay as they were
      rmSync(join(dir, 'migrations'), { recursive: true, force: true });
      mkdirSync(join(dir, 'migrations'));
      for (const [name, fixture] of migrations)
        copyFileSync(join(SAMPLE_MIGRATIONS_DIR, fixture), join(dir, 'migrations', name));
      writeFileSync(
        join(dir, 'Dockerfile'),
        `${readFileSync(join(SAMPLE_APP_DIR, 'Dockerfile'), 'utf8').trimEnd()}\nCOPY migrations /app/migrations\n`,
      );
    }
    const date = `2026-01-01T00:${String(i).padStart(2, '0')}:00Z`;
    await commit(`sample app ${label}: ${SAMPLE_VERSIONS[label]}`, date);
    await git('tag', label);
    shas[label] = (await git('rev-parse', 'HEAD')).stdout.trim();
  }
  return shas;
}

/**
 * Build one version of the sample app on the runner engine exactly as the deployer does: the commit's tree as
 * a tar context on stdin, build args carrying the commit. Returns the image reference (tagged with the short SHA).
 */
export async function buildSampleImage(
  info: HarnessInfo,
  repoDir: string,
  sha: string,
  opts: { repository?: string; version?: string } = {},
): Promise<string> {
  const short = sha.slice(0, 7);
  const image = `${opts.repository ?? 'togather-sample'}:${short}`;
  await pipeline(
    [
      ['git', '-C', repoDir, 'archive', '--format=tar', sha],
      [
        info.dockerClient,
        '-H',
        info.runnerDockerHost,
        'build',
        '--quiet',
        '-f',
        'Dockerfile',
        '-t',
        image,
        '--build-arg',
        `GIT_COMMIT=${sha}`,
        '--build-arg',
        `GIT_SHORT_COMMIT=${short}`,
        '--build-arg',
        `VERSION=${opts.version ?? short}`,
        '--build-arg',
        `BUILD_TIMESTAMP=${new Date().toISOString()}`,
        '-',
      ],
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } },
  );

  return image;
}
