// Cuts a release on main: node scripts/release.mjs <X.Y.Z|major|minor|patch> [--dry-run] [--skip-tests]
//
// Refuses unless on main with a clean tree, the version greater than package.json's and its tag new. Then runs the
// fast checks (typecheck, lint, unit, dist), moves the Unreleased entries of CHANGELOG.md into the release's
// section, sets the version in package.json and package-lock.json, rebuilds dist/, commits "Release vX.Y.Z" and
// creates the annotated tag vX.Y.Z (its message is the changelog section). It pushes nothing: it prints the push
// command; the release workflow (.github/workflows/release.yml) does the rest. docs/releasing.md.
//
// node scripts/release.mjs notes <X.Y.Z> prints the changelog section of that version (the release workflow
// uses it for the release notes).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  actionStepRefs,
  changelogSection,
  nextVersion,
  pinActionSteps,
  releaseChangelog,
  REUSABLE_WORKFLOWS,
  tagMessage,
} from './release-lib.mjs';

const USAGE = [
  'usage: node scripts/release.mjs <X.Y.Z|major|minor|patch> [--dry-run] [--skip-tests]',
  '       node scripts/release.mjs notes <X.Y.Z>',
  '       node scripts/release.mjs pins <X.Y.Z>   (the reusable workflows run the action at vX.Y.Z)',
].join('\n');
const BRANCH = 'main';
// every path below is relative to the repository's root, wherever the script is started from
process.chdir(fileURLToPath(new URL('..', import.meta.url)));
const CHANGELOG = 'CHANGELOG.md';

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('-')));
const words = args.filter((a) => !a.startsWith('-'));
for (const f of flags)
  if (!['--dry-run', '--skip-tests', '--help', '-h'].includes(f)) fail(`unknown option ${f}\n${USAGE}`, 2);
if (flags.has('--help') || flags.has('-h')) {
  console.log(USAGE);
  process.exit(0);
}

if (words[0] === 'notes') {
  if (words.length !== 2) fail(USAGE, 2);
  try {
    process.stdout.write(changelogSection(readFileSync(CHANGELOG, 'utf8'), words[1]) + '\n');
  } catch (e) {
    fail(e.message);
  }
  process.exit(0);
}
if (words[0] === 'pins') {
  if (words.length !== 2) fail(USAGE, 2);
  const wrong = REUSABLE_WORKFLOWS.flatMap((f) =>
    actionStepRefs(readFileSync(f, 'utf8'))
      .filter((ref) => ref !== `v${words[1]}`)
      .map((ref) => `${f}: togather/togather-deploy@${ref}`),
  );
  if (wrong.length) fail(`action steps not pinned to v${words[1]}:\n${indent(wrong.join('\n'))}`);
  process.exit(0);
}
if (words.length !== 1) fail(USAGE, 2);

const dryRun = flags.has('--dry-run');
const skipTests = flags.has('--skip-tests');
const git = (...a) => execFileSync('git', a, { encoding: 'utf8' }).trim();
const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));
// npm writes both files with two spaces and a final newline
const writeJson = (f, v) => writeFileSync(f, JSON.stringify(v, null, 2) + '\n');
/** git status --porcelain with untracked files, its leading blanks kept (git() would trim the first line's) */
const porcelain = () =>
  execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { encoding: 'utf8' }).replace(/\n+$/, '');

// ---- what would be done, and whether it may be

const pkg = readJson('package.json');
const refusals = [];
const tagExists = (t) => spawnSync('git', ['rev-parse', '--quiet', '--verify', `refs/tags/${t}`]).status === 0;
let version;
try {
  version = nextVersion(pkg.version, words[0], { currentReleased: tagExists(`v${pkg.version}`) });
} catch (e) {
  fail(e.message);
}
const tag = `v${version}`;
const today = new Date().toISOString().slice(0, 10);

const branch = spawnSync('git', ['symbolic-ref', '--quiet', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
if (branch !== BRANCH) refusals.push(`not on ${BRANCH} (on ${branch || 'a detached HEAD'})`);
const dirty = porcelain();
if (dirty) refusals.push(`the working tree is not clean:\n${indent(dirty)}`);
if (tagExists(tag)) refusals.push(`the tag ${tag} exists already`);

let changelog;
let section;
try {
  changelog = releaseChangelog(readFileSync(CHANGELOG, 'utf8'), version, today);
  section = changelogSection(changelog, version);
} catch (e) {
  refusals.push(e.message);
}

const major = `v${version.split('.')[0]}`;
console.log(
  `release ${tag} (package.json: ${pkg.version}), dated ${today}, from ${git('rev-parse', '--short', 'HEAD')}`,
);
const steps = [
  skipTests ? 'skip the checks (--skip-tests)' : 'run the fast checks: node test/run.mjs typecheck lint unit dist',
  `${CHANGELOG}: move the Unreleased entries into "## [${version}] - ${today}"`,
  `package.json, package-lock.json: version ${version}`,
  `the reusable workflows' action steps: togather/togather-deploy@${tag}`,
  'rebuild dist/ (node scripts/bundle.mjs)',
  `commit "Release ${tag}" (${CHANGELOG}, package.json, package-lock.json, the reusable workflows, dist/)`,
  `create the annotated tag ${tag} with the changelog section as its message`,
];
steps.forEach((s, i) => console.log(`  ${i + 1}. ${s}`));
if (section) console.log(`\nthe section of ${version}:\n${indent(section)}`);

if (refusals.length) {
  console.error(`\n${dryRun ? 'a real run would refuse' : 'refused'}:\n${refusals.map((r) => `- ${r}`).join('\n')}`);
  process.exit(1);
}
if (dryRun) {
  console.log('\ndry run: nothing changed');
  printPush();
  process.exit(0);
}

// ---- the release

if (!skipTests) {
  console.log('\n--- fast checks');
  const r = spawnSync(process.execPath, ['test/run.mjs', 'typecheck', 'lint', 'unit', 'dist'], { stdio: 'inherit' });
  if (r.status !== 0) fail('the checks failed; nothing was changed');
  const left = porcelain();
  if (left) fail(`the checks left changes (dist/ not rebuilt and committed?):\n${indent(left)}`);
}

console.log(`\n--- ${CHANGELOG}, package.json, package-lock.json`);
writeFileSync(CHANGELOG, changelog);
pkg.version = version;
writeJson('package.json', pkg);
const lock = readJson('package-lock.json');
lock.version = version;
if (lock.packages?.['']) lock.packages[''].version = version;
writeJson('package-lock.json', lock);

console.log('\n--- the reusable workflows: action steps pinned to this release');
for (const file of REUSABLE_WORKFLOWS) writeFileSync(file, pinActionSteps(readFileSync(file, 'utf8'), tag));

console.log('\n--- dist/');
run(process.execPath, ['scripts/bundle.mjs']);
const changed = porcelain()
  .split('\n')
  .filter(Boolean)
  .map((l) => l.slice(3));
const unexpected = changed.filter(
  (p) => ![CHANGELOG, 'package.json', 'package-lock.json', ...REUSABLE_WORKFLOWS].includes(p),
);
const strays = unexpected.filter((p) => !p.startsWith('dist/'));
if (strays.length)
  fail(`the release changed files it should not have; nothing committed:\n${indent(strays.join('\n'))}`);
if (unexpected.length)
  console.log(`note: the rebuild changed ${unexpected.join(', ')}; the release commit includes it (dist/ was stale)`);

console.log('\n--- commit and tag');
run('git', ['add', '--', CHANGELOG, 'package.json', 'package-lock.json', ...REUSABLE_WORKFLOWS, 'dist']);
run('git', ['commit', '--quiet', '-m', `Release ${tag}`]);
const dir = mkdtempSync(join(tmpdir(), 'tgd-release-'));
try {
  const file = join(dir, 'message');
  writeFileSync(file, tagMessage(version, section));
  // whitespace, not the default strip: strip would drop the section's "### Added" lines as comments
  run('git', ['tag', '--annotate', '--cleanup=whitespace', '--file', file, tag]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(git('log', '--oneline', '-1'));
console.log(`tag ${tag} → ${git('rev-parse', '--short', `${tag}^{commit}`)}`);
printPush();

function printPush() {
  console.log(`
Nothing was pushed. To publish the release:

  git push --atomic origin ${BRANCH} ${tag}

The tag starts .github/workflows/release.yml: it checks that dist/ matches the sources and that ${tag} is
package.json's version, runs the fast checks, creates the GitHub release from the changelog section, moves
${major} to ${tag} (when it is the newest ${major}.x), and publishes to npm if an NPM_TOKEN secret is set.`);
}

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit' });
  if (r.status !== 0) fail(`${cmd} ${argv.join(' ')} failed (exit ${r.status}); the tree may hold the release's edits`);
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function fail(message, code = 1) {
  console.error(`release: ${message}`);
  process.exit(code);
}
