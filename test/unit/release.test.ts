/**
 * Releases: the pure parts (scripts/release-lib.mjs: versions, bumps, the changelog's section move and extraction)
 * and scripts/release.mjs itself, run in a throw-away git repository whose bundle step is a stand-in.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  REPO_URL,
  changelogSection,
  compareVersions,
  nextVersion,
  parseVersion,
  releaseChangelog,
  sections,
  tagMessage,
  pinActionSteps,
  actionStepRefs,
  REUSABLE_WORKFLOWS,
} from '../../scripts/release-lib.mjs';

const ROOT = resolve(import.meta.dirname, '../..');

const LOG = [
  '# Changelog',
  '',
  'Intro.',
  '',
  '## [Unreleased]',
  '',
  '### Added',
  '',
  '- a new thing',
  '',
  '### Fixed',
  '',
  '- an old bug',
  '',
  '## [1.1.0] - 2026-01-02',
  '',
  '### Added',
  '',
  '- the thing before',
  '',
  '## [1.0.0] - 2026-01-01',
  '',
  '- the first',
  '',
  `[Unreleased]: ${REPO_URL}/compare/v1.1.0...HEAD`,
  `[1.1.0]: ${REPO_URL}/compare/v1.0.0...v1.1.0`,
  `[1.0.0]: ${REPO_URL}/releases/tag/v1.0.0`,
  '',
].join('\n');

describe('release-lib: versions', () => {
  test('parseVersion takes X.Y.Z with an optional v, nothing else', () => {
    assert.deepEqual(parseVersion('1.2.3'), [1, 2, 3]);
    assert.deepEqual(parseVersion('v10.0.21'), [10, 0, 21]);
    for (const bad of ['1.2', '1.2.3.4', '01.2.3', '1.2.3-rc.1', 'v', '', 'x1.2.3', '1.2.3 '])
      assert.equal(parseVersion(bad), undefined, bad);
  });

  test('compareVersions orders numerically, not as text', () => {
    assert.ok(compareVersions('1.10.0', '1.9.9') > 0);
    assert.ok(compareVersions('2.0.0', '10.0.0') < 0);
    assert.equal(compareVersions('v1.2.3', '1.2.3'), 0);
  });

  test('nextVersion bumps and accepts a greater explicit version', () => {
    assert.equal(nextVersion('1.4.2', 'patch'), '1.4.3');
    assert.equal(nextVersion('1.4.2', 'minor'), '1.5.0');
    assert.equal(nextVersion('1.4.2', 'major'), '2.0.0');
    assert.equal(nextVersion('1.4.2', '1.10.0'), '1.10.0');
    assert.equal(nextVersion('1.4.2', 'v2.0.0'), '2.0.0');
  });

  test('nextVersion refuses an older or equal version, and words it does not know', () => {
    assert.throws(() => nextVersion('1.4.2', '1.4.1'), /not greater than the current version 1.4.2/);
    assert.throws(() => nextVersion('1.4.2', '1.4.2'), /has its tag v1.4.2 already/);
    assert.throws(() => nextVersion('1.4.2', 'next'), /neither major, minor, patch nor a version/);
    assert.throws(() => nextVersion('1.4', 'patch'), /"1.4" is not a version/);
  });

  test("nextVersion releases package.json's version itself when it was never released (the first release)", () => {
    assert.equal(nextVersion('1.0.0', '1.0.0', { currentReleased: false }), '1.0.0');
    assert.throws(() => nextVersion('1.0.0', '0.9.0', { currentReleased: false }), /not greater/);
  });
});

describe('release-lib: the changelog', () => {
  test('sections finds each heading, its date, and ends the last one at the link references', () => {
    const s = sections(LOG);
    assert.deepEqual(
      s.map((x) => [x.name, x.date]),
      [
        ['Unreleased', undefined],
        ['1.1.0', '2026-01-02'],
        ['1.0.0', '2026-01-01'],
      ],
    );
    assert.equal(s[2]!.body.trim(), '- the first');
  });

  test('releaseChangelog moves the Unreleased entries into the new section, under an empty Unreleased', () => {
    const out = releaseChangelog(LOG, '1.2.0', '2026-03-04');
    const s = sections(out);
    assert.deepEqual(
      s.map((x) => x.name),
      ['Unreleased', '1.2.0', '1.1.0', '1.0.0'],
    );
    assert.equal(s[0]!.body.trim(), '');
    assert.equal(s[1]!.date, '2026-03-04');
    assert.equal(s[1]!.body.trim(), '### Added\n\n- a new thing\n\n### Fixed\n\n- an old bug');
    assert.ok(out.includes('## [Unreleased]\n\n## [1.2.0] - 2026-03-04\n\n### Added\n'), out);
    assert.ok(out.includes('- an old bug\n\n## [1.1.0] - 2026-01-02\n'), out);
    assert.ok(out.startsWith('# Changelog\n\nIntro.\n\n'));
    assert.ok(out.endsWith('/releases/tag/v1.0.0\n'));
  });

  test('releaseChangelog updates the link references: Unreleased from the new tag, the new version from the last', () => {
    const out = releaseChangelog(LOG, '1.2.0', '2026-03-04');
    assert.ok(
      out.includes(`[Unreleased]: ${REPO_URL}/compare/v1.2.0...HEAD\n[1.2.0]: ${REPO_URL}/compare/v1.1.0...v1.2.0\n`),
    );
    assert.ok(out.includes(`[1.1.0]: ${REPO_URL}/compare/v1.0.0...v1.1.0`));
  });

  test('releaseChangelog of a first release links its tag; without link references it adds none', () => {
    const first = `# Changelog\n\n## [Unreleased]\n\n- everything\n\n[Unreleased]: ${REPO_URL}/commits/main\n`;
    const out = releaseChangelog(first, '1.0.0', '2026-12-07');
    assert.equal(
      out,
      `# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-12-07\n\n- everything\n\n` +
        `[Unreleased]: ${REPO_URL}/compare/v1.0.0...HEAD\n[1.0.0]: ${REPO_URL}/releases/tag/v1.0.0\n`,
    );
    const bare = releaseChangelog('## [Unreleased]\n- x\n', '1.0.0', '2026-12-07');
    assert.equal(bare, '## [Unreleased]\n\n## [1.0.0] - 2026-12-07\n\n- x\n');
  });

  test('releaseChangelog refuses an empty Unreleased, a version already there or older, a bad date', () => {
    const empty = LOG.replace(/## \[Unreleased\][\s\S]*?(?=## \[1\.1\.0\])/, '## [Unreleased]\n\n### Added\n\n');
    assert.throws(() => releaseChangelog(empty, '1.2.0', '2026-03-04'), /Unreleased section of CHANGELOG.md is empty/);
    assert.throws(() => releaseChangelog(LOG, '1.1.0', '2026-03-04'), /already has a section for 1.1.0/);
    assert.throws(() => releaseChangelog(LOG, '1.0.5', '2026-03-04'), /already has 1.1.0, which is not older/);
    assert.throws(() => releaseChangelog(LOG, '1.2.0', '4.3.2026'), /not a date/);
    assert.throws(() => releaseChangelog('# Changelog\n', '1.2.0', '2026-03-04'), /no "## \[Unreleased\]"/);
  });

  test('changelogSection extracts one version, without the link references', () => {
    assert.equal(changelogSection(LOG, '1.1.0'), '### Added\n\n- the thing before');
    assert.equal(changelogSection(LOG, 'v1.0.0'), '- the first');
    assert.throws(() => changelogSection(LOG, '0.9.0'), /no section "## \[0.9.0\]"/);
  });

  test('tagMessage: a title, then the section', () => {
    assert.equal(tagMessage('1.2.0', '### Added\n\n- x\n'), 'togather-deploy v1.2.0\n\n### Added\n\n- x\n');
  });

  test("the repository's CHANGELOG.md: its Unreleased entries become the next release's section", () => {
    const text = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
    const unreleased = sections(text).find((s) => s.name === 'Unreleased');
    assert.ok(unreleased, 'CHANGELOG.md has ## [Unreleased]');
    const version = '99.0.0';
    const out = releaseChangelog(text, version, '2030-01-01');
    assert.equal(changelogSection(out, version), unreleased.body.trim());
  });
});

describe('release-lib: the action steps of the reusable workflows', () => {
  test("pinActionSteps pins every action step to the tag, and leaves the callers' examples in comments alone", () => {
    const text = [
      '#       uses: togather/togather-deploy/.github/workflows/deploy.yml@v1',
      'jobs:',
      '  a:',
      '    steps:',
      '      - uses: togather/togather-deploy@v1 # the action',
      '      - name: x',
      '        uses: togather/togather-deploy@v1.0.0',
      '      - uses: togather/togather-deploy-other@v1',
    ].join('\n');
    const pinned = pinActionSteps(text, 'v1.2.3');
    assert.deepEqual(actionStepRefs(pinned), ['v1.2.3', 'v1.2.3']);
    assert.match(pinned, /deploy\.yml@v1$/m);
    assert.match(pinned, /togather-deploy@v1\.2\.3 # the action/);
    assert.match(pinned, /togather-deploy-other@v1$/m);
  });
  test("this repository's reusable workflows: each runs the action, and pinning finds every step", () => {
    for (const f of REUSABLE_WORKFLOWS) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      const refs = actionStepRefs(text);
      assert.ok(refs.length > 0, `${f} runs no action step`);
      assert.equal(actionStepRefs(pinActionSteps(text, 'v9.9.9')).filter((r) => r === 'v9.9.9').length, refs.length);
    }
  });
});

describe('scripts/release.mjs in a throw-away repository', () => {
  let dir: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
  const release = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['scripts/release.mjs', ...args], { cwd: dir, encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tgd-release-'));
    mkdirSync(join(dir, 'scripts'));
    for (const f of ['release.mjs', 'release-lib.mjs']) copyFileSync(join(ROOT, 'scripts', f), join(dir, 'scripts', f));
    // the stand-in bundle writes what the real one would: the same dist/ every time
    writeFileSync(
      join(dir, 'scripts/bundle.mjs'),
      "import { mkdirSync, writeFileSync } from 'node:fs';\nmkdirSync('dist', { recursive: true });\n" +
        "writeFileSync('dist/index.js', 'bundle\\n');\n",
    );
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist/index.js'), 'bundle\n');
    mkdirSync(join(dir, '.github/workflows'), { recursive: true });
    for (const f of REUSABLE_WORKFLOWS) copyFileSync(join(ROOT, f), join(dir, f));
    for (const f of REUSABLE_WORKFLOWS)
      writeFileSync(join(dir, f), pinActionSteps(readFileSync(join(dir, f), 'utf8'), 'v1'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', version: '1.0.0' }, null, 2) + '\n');
    const lock = { name: 'x', version: '1.0.0', lockfileVersion: 3, packages: { '': { name: 'x', version: '1.0.0' } } };
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2) + '\n');
    writeFileSync(
      join(dir, 'CHANGELOG.md'),
      `# Changelog\n\n## [Unreleased]\n\n### Added\n\n- everything\n\n[Unreleased]: ${REPO_URL}/commits/main\n`,
    );
    git('init', '--quiet', '--initial-branch=main');
    git('config', 'user.email', 'release-test@example.invalid');
    git('config', 'user.name', 'release test');
    git('config', 'commit.gpgsign', 'false');
    git('config', 'tag.gpgsign', 'false');
    git('add', '.');
    git('commit', '--quiet', '-m', 'start');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('refuses an unknown option, an older version, a dirty tree and another branch', () => {
    assert.equal(release('1.0.0', '--fast').code, 2);
    assert.match(release('0.9.0', '--dry-run').out, /not greater than the current version 1.0.0/);
    writeFileSync(join(dir, 'stray.txt'), 'x');
    const dirty = release('1.0.0', '--dry-run');
    assert.equal(dirty.code, 1);
    assert.match(dirty.out, /a real run would refuse:\n- the working tree is not clean:\n {4}\?\? stray.txt/);
    assert.match(release('1.0.0', '--skip-tests').out, /refused:/);
    rmSync(join(dir, 'stray.txt'));
    git('switch', '--quiet', '-c', 'topic');
    assert.match(release('1.0.0', '--dry-run').out, /not on main \(on topic\)/);
    git('switch', '--quiet', 'main');
    assert.equal(git('status', '--porcelain'), '');
  });

  test('--dry-run prints the plan and the section and changes nothing', () => {
    const r = release('1.0.0', '--dry-run');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /release v1\.0\.0 \(package\.json: 1\.0\.0\)/);
    assert.match(r.out, /### Added\n {4}\n {4}- everything/);
    assert.match(r.out, /dry run: nothing changed/);
    assert.match(r.out, /git push --atomic origin main v1\.0\.0/);
    assert.equal(git('status', '--porcelain'), '');
    assert.equal(git('tag'), '');
  });

  test('a real run commits the release and tags it with the section; a second run refuses the same version', () => {
    const r = release('1.0.0', '--skip-tests');
    assert.equal(r.code, 0, r.out);
    assert.equal(git('log', '-1', '--format=%s'), 'Release v1.0.0');
    assert.equal(git('status', '--porcelain'), '');
    // package.json already said 1.0.0 and dist/ matched: the changelog changes, and the action steps get the tag
    assert.deepEqual(
      git('show', '--name-only', '--format=', 'HEAD').split('\n').sort(),
      [...REUSABLE_WORKFLOWS, 'CHANGELOG.md'].sort(),
    );
    assert.equal(release('pins', '1.0.0').code, 0);
    assert.equal(git('cat-file', '-t', 'v1.0.0'), 'tag');
    assert.equal(git('rev-parse', 'v1.0.0^{commit}'), git('rev-parse', 'HEAD'));
    assert.equal(
      git('tag', '-l', '--format=%(contents)', 'v1.0.0'),
      'togather-deploy v1.0.0\n\n### Added\n\n- everything',
    );
    const changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
    assert.match(changelog, /## \[Unreleased\]\n\n## \[1\.0\.0\] - \d{4}-\d{2}-\d{2}\n\n### Added\n\n- everything\n/);
    assert.equal(release('notes', '1.0.0').out, '### Added\n\n- everything\n');
    assert.match(release('1.0.0', '--dry-run').out, /has its tag v1.0.0 already/);
    // the next one: package.json and the lock follow
    writeFileSync(join(dir, 'CHANGELOG.md'), changelog.replace('## [Unreleased]\n', '## [Unreleased]\n\n- a fix\n'));
    git('commit', '--quiet', '-am', 'fix');
    const next = release('patch', '--skip-tests');
    assert.equal(next.code, 0, next.out);
    assert.equal(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version, '1.0.1');
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
    assert.deepEqual([lock.version, lock.packages[''].version], ['1.0.1', '1.0.1']);
    assert.equal(release('notes', 'v1.0.1').out, '- a fix\n');
    assert.equal(release('pins', '1.0.1').code, 0);
    assert.match(release('pins', '1.0.0').out, /not pinned to v1\.0\.0/);
  });
});
