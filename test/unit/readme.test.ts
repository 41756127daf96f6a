// README tables generated from action.yml (scripts/gen-readme.ts): the logic on temporary
// copies, and the real README.md once it carries the markers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readActionMetadata, renderInputs, run, sectionsPresent, updateReadme } from '../../scripts/gen-readme.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const actionYml = readFileSync(path.join(root, 'action.yml'), 'utf8');

const TEMPLATE = [
  '# togather-deploy',
  '',
  '## Inputs',
  '<!-- action-inputs:start -->',
  'stale text',
  '<!-- action-inputs:end -->',
  '',
  '## Outputs',
  '<!-- action-outputs:start -->',
  '<!-- action-outputs:end -->',
  '',
  'Text after the tables stays.',
  '',
].join('\n');

describe('gen-readme: generation', () => {
  it('lists every input and output of action.yml, in order', () => {
    const meta = readActionMetadata(actionYml);
    const out = updateReadme(TEMPLATE, actionYml);
    let last = -1;
    for (const input of meta.inputs) {
      const at = out.indexOf(`| \`${input.name}\` |`);
      assert.ok(at > last, `input ${input.name} in order`);
      last = at;
    }
    for (const output of meta.outputs) assert.ok(out.includes(`| \`${output.name}\` |`), `output ${output.name}`);
    assert.ok(!out.includes('stale text'));
    assert.ok(out.startsWith('# togather-deploy\n') && out.endsWith('Text after the tables stays.\n'));
  });

  it('shows required, defaults and one-line descriptions', () => {
    const out = updateReadme(TEMPLATE, actionYml);
    assert.match(out, /\| `environment` \| yes \| {2}\| Environment name/);
    assert.match(out, /\| `command` \| no \| `deploy` \|/);
    assert.match(out, /\| `version` \| no \| `""` \|/);
    assert.match(out, /\| `github-token` \| no \| `\$\{\{ github\.token \}\}` \|/);
  });

  it('escapes pipes and folds multi-line descriptions', () => {
    const yml = 'inputs:\n  a:\n    description: >\n      one | two\n      three\n    default: "x|y"\n';
    const table = renderInputs(readActionMetadata(yml));
    assert.match(table, /\| `a` \| no \| `x\\\|y` \| one \\\| two three \|/);
  });

  it('is idempotent and keeps CRLF line endings', () => {
    const once = updateReadme(TEMPLATE, actionYml);
    assert.equal(updateReadme(once, actionYml), once);
    const crlf = updateReadme(TEMPLATE.replace(/\n/g, '\r\n'), actionYml);
    assert.ok(!/[^\r]\n/.test(crlf), 'no bare LF');
  });

  it('refuses a README without markers or with doubled ones', () => {
    assert.throws(() => updateReadme('# no markers\n', actionYml), /missing the markers/);
    assert.throws(() => updateReadme(TEMPLATE + TEMPLATE, actionYml), /twice/);
    assert.deepEqual(sectionsPresent('# none'), []);
    assert.deepEqual(sectionsPresent(TEMPLATE), ['action-inputs', 'action-outputs']);
  });
});

describe('gen-readme: the command on a temporary copy', () => {
  let dir = '';
  let readme = '';
  let action = '';
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gen-readme-'));
    readme = path.join(dir, 'README.md');
    action = path.join(dir, 'action.yml');
    writeFileSync(readme, TEMPLATE);
    writeFileSync(action, actionYml);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--check fails on drift, a write fixes it, --check then passes', () => {
    const args = ['--readme', readme, '--action', action];
    assert.equal(run([...args, '--check']).code, 1);
    assert.equal(readFileSync(readme, 'utf8'), TEMPLATE, '--check writes nothing');
    assert.equal(run(args).code, 0);
    assert.equal(run([...args, '--check']).code, 0);
    writeFileSync(action, actionYml.replace('inputs:\n', 'inputs:\n  new-input:\n    description: "Added later."\n'));
    const drift = run([...args, '--check']);
    assert.equal(drift.code, 1);
    assert.match(drift.message, /out of date/);
  });

  it('exits 2 when the markers are missing', () => {
    writeFileSync(readme, '# nothing to fill\n');
    assert.equal(run(['--readme', readme, '--action', action, '--check']).code, 2);
  });

  it('runs as a script with tsx and sets the exit code', () => {
    writeFileSync(readme, TEMPLATE);
    writeFileSync(action, actionYml);
    const script = path.join(root, 'scripts/gen-readme.ts');
    const check = spawnSync(
      process.execPath,
      ['--import', 'tsx', script, '--check', '--readme', readme, '--action', action],
      { cwd: root, encoding: 'utf8' },
    );
    assert.equal(check.status, 1, check.stderr);
    const write = spawnSync(process.execPath, ['--import', 'tsx', script, '--readme', readme, '--action', action], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(write.status, 0, write.stderr);
    assert.match(readFileSync(readme, 'utf8'), /\| `ssh-known-hosts` \| yes \|/);
  });
});

describe('README.md of this repository', () => {
  const readmePath = path.join(root, 'README.md');
  const text = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
  const present = sectionsPresent(text);
  it(
    'has its tables up to date with action.yml (npx tsx scripts/gen-readme.ts)',
    { skip: present.length === 0 ? 'README.md has no action-inputs/action-outputs markers yet' : false },
    () => {
      assert.deepEqual(present, ['action-inputs', 'action-outputs'], 'both marker pairs');
      const result = run(['--check']);
      assert.equal(result.code, 0, result.message);
    },
  );
});
