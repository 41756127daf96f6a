/**
 * docs/configuration.md's key reference is generated from the zod schema (scripts/gen-config-docs.ts):
 * the committed text matches the schema, every key has a description, and --check catches drift.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  END,
  START,
  allKeys,
  renderReference,
  run,
  staleNotes,
  undocumentedKeys,
  updateDoc,
} from '../../scripts/gen-config-docs.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { ROOT } from './docs-markdown.js';

describe('docs/configuration.md: reference generated from the schema', () => {
  test('is up to date (npx tsx scripts/gen-config-docs.ts --check)', () => {
    const r = run(['--check']);
    assert.equal(r.code, 0, r.message);
  });

  test('the script itself exits 0 on --check', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/gen-config-docs.ts'), '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  test("every key has a description (the schema's, or a note in the script) and no note is stale", () => {
    assert.deepEqual(undocumentedKeys(), []);
    assert.deepEqual(staleNotes(), []);
  });

  test('lists every top-level and nested key of the schema', () => {
    const keys = new Set(allKeys());
    for (const top of Object.keys(ConfigSchema.shape))
      assert.ok(
        [...keys].some((k) => k === top || k.startsWith(`${top}.`)),
        top,
      );
    for (const k of [
      'app.image',
      'app.health.start_timeout',
      'deployment.lock.timeout',
      'deployment.watch.duration',
      'proxy.domains',
      'database.migrations.image',
      'database.snapshots.retention_days',
      'environments.<name>.host',
      'environments.<name>.proxy.http_port',
    ]) {
      assert.ok(keys.has(k), k);
    }
    const ref = renderReference();
    assert.match(ref, /\| `app\.image` \| string \| \*\*required\*\* \|/);
    assert.match(ref, /\| `deployment\.drain_timeout` \| duration \| `30s` \|/);
    assert.match(ref, /\| `environments\.<name>\.host` \| string \| \*\*required\*\* \|/);
    assert.doesNotMatch(ref.replace(/`[^`]*`/g, ''), /<[a-z]/i, 'no raw HTML outside code (descriptions say <name>)');
  });
});

describe('gen-config-docs on a temporary copy', () => {
  let dir = '';
  let doc = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gen-config-docs-'));
    doc = join(dir, 'configuration.md');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--check fails on drift and writes nothing; a run fixes it; text around the markers stays', () => {
    const stale = `# Config\n\nbefore\n\n${START}\n| \`app.old_key\` | string | | gone |\n${END}\n\nafter\n`;
    writeFileSync(doc, stale);
    const check = run(['--check', '--doc', doc]);
    assert.equal(check.code, 1);
    assert.match(check.message, /out of date/);
    assert.equal(readFileSync(doc, 'utf8'), stale);
    assert.equal(run(['--doc', doc]).code, 0);
    const fixed = readFileSync(doc, 'utf8');
    assert.ok(fixed.startsWith('# Config\n\nbefore\n\n') && fixed.endsWith(`${END}\n\nafter\n`));
    assert.ok(!fixed.includes('app.old_key'));
    assert.equal(run(['--check', '--doc', doc]).code, 0);
    assert.equal(updateDoc(fixed), fixed, 'idempotent');
  });

  test('missing or doubled markers exit 2', () => {
    writeFileSync(doc, '# no markers\n');
    assert.equal(run(['--check', '--doc', doc]).code, 2);
    writeFileSync(doc, `${START}\n${END}\n${START}\n${END}\n`);
    assert.equal(run(['--check', '--doc', doc]).code, 2);
  });
});
