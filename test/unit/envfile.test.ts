import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_ENV_FILE_BYTES, parseEnvFile, readEnvFile } from '../../src/config/envfile.js';
import type { ConfigProblem } from '../../src/config/problems.js';

const OK = 'ENVIRONMENT=staging\nDATABASE_URL=postgres://u:p4ssw0rd@db:5432/t\nJWT_SECRET=0123456789abcdef\n';
const parse = (text: string | Uint8Array, opts = {}) => parseEnvFile(text, '.env.staging', opts);
const codes = (ps: ConfigProblem[]) => ps.map((p) => `${p.code}@${p.line ?? '-'}:${p.path}`);

test('syntax: comments, blank lines, export, quotes, escapes and trailing comments', () => {
  const f = parse(
    [
      '# a comment with CHANGE_ME inside is fine',
      '',
      '   # indented comment',
      'export A=plain value  # trailing comment',
      'B="double # not a comment" # but this is',
      "C='single $HOME \\n # literal'",
      'D="tab\\there \\"quoted\\" back\\\\slash \\$x \\q"',
      'E=pa#ss',
      'F=',
      'G = spaced',
      'H=""',
      "I='it''s'", // text after the closing quote: refused below
    ].join('\n'),
    { required: [] },
  );
  assert.deepEqual(f.values, {
    A: 'plain value',
    B: 'double # not a comment',
    C: 'single $HOME \\n # literal',
    D: 'tab\there "quoted" back\\slash $x \\q',
    E: 'pa#ss',
    F: '',
    G: 'spaced',
    H: '',
  });
  assert.deepEqual(codes(f.problems), ['syntax@12:']);
  assert.equal(f.lines.D, 7);
});

test('CRLF line endings and a UTF-8 byte order mark are accepted', () => {
  const f = parse('\uFEFFENVIRONMENT=staging\r\nDATABASE_URL=postgres://u:p@db/t\r\nJWT_SECRET=x1234567\r\n');
  assert.deepEqual(f.problems, []);
  assert.equal(f.values.ENVIRONMENT, 'staging');
  assert.equal(f.values.JWT_SECRET, 'x1234567');
});

test('CHANGE_ME in a value is refused, in a comment it is not (the reference failed every fresh template)', () => {
  const f = parse(
    `# replace CHANGE_ME below\n${OK}SMTP_PASSWORD=CHANGE_ME # CHANGE_ME here too\nRESEND_API_KEY=re_x # not CHANGE_ME\n`,
  );
  assert.deepEqual(codes(f.problems), ['placeholder@5:SMTP_PASSWORD']);
  assert.match(f.problems[0]!.remedy!, /SMTP/);
  const g = parse(`${OK}JWT2="pre-change_me-post"\n`);
  assert.deepEqual(codes(g.problems), ['placeholder@4:JWT2']);
});

test('placeholder remedies say how to generate the secret', () => {
  const f = parse('ENVIRONMENT=staging\nDATABASE_URL=postgres://u:p@db/t\nJWT_SECRET=CHANGE_ME\n');
  assert.equal(f.problems.length, 1);
  assert.match(f.problems[0]!.remedy!, /openssl rand -hex 32/);
});

test('the shipped templates fail only on their CHANGE_ME assignments, never on comments', () => {
  for (const env of ['development', 'staging', 'production']) {
    const text = readFileSync(new URL(`../../config/environments/.env.${env}.example`, import.meta.url), 'utf8');
    const f = parseEnvFile(text, 'x', { environment: env });
    const lines = text.split('\n');
    const expected = lines.flatMap((l, i) => (!l.trim().startsWith('#') && l.includes('CHANGE_ME') ? [i + 1] : []));
    assert.ok(expected.length >= 10, 'templates carry a placeholder per secret');
    assert.deepEqual(
      f.problems.map((p) => p.line),
      expected,
      env,
    );
    assert.ok(f.problems.every((p) => p.code === 'placeholder'));
    for (const key of [
      'DATABASE_URL',
      'JWT_SECRET',
      'ADMIN_PASSWORD',
      'CSRF_KEY',
      'POSTGRES_PASSWORD',
      'RESEND_API_KEY',
      'SMTP_PASSWORD',
      'SENTRY_DSN',
      'OTLP_HEADERS',
      'ALERT_WEBHOOK_AUTH',
      'GRAFANA_PASSWORD',
      'ENVIRONMENT',
      'LOG_LEVEL',
    ]) {
      assert.ok(key in f.values, `${env} template has ${key}`);
    }
    assert.equal(f.values.ENVIRONMENT, env);
  }
});

test('invalid lines, invalid keys and unterminated quotes are located by line, without quoting the line', () => {
  const f = parse(`${OK}just-a-secret-pasted\n1BAD=x\nMY KEY=y\nQ="zzopen\nR='zzopen\n`, { required: [] });
  assert.deepEqual(codes(f.problems), ['syntax@4:', 'syntax@5:', 'syntax@6:', 'syntax@7:', 'syntax@8:']);
  for (const p of f.problems) assert.doesNotMatch(p.message, /just-a-secret|zzopen/);
  assert.match(f.problems[0]!.remedy!, /KEY=VALUE/);
});

test('duplicate keys name the earlier line', () => {
  const f = parse(`${OK}JWT_SECRET=another-one-123\n`);
  assert.deepEqual(codes(f.problems), ['duplicate-key@4:JWT_SECRET']);
  assert.match(f.problems[0]!.message, /line 3/);
});

test('missing required keys and an ENVIRONMENT that differs from the deployed one', () => {
  const f = parse('ENVIRONMENT=production\nJWT_SECRET=0123456789\nOTHER=\n', { environment: 'staging' });
  assert.deepEqual(codes(f.problems), ['required@-:DATABASE_URL', 'environment-mismatch@1:ENVIRONMENT']);
  assert.match(f.problems[1]!.message, /"production".*"staging"/);
  const g = parse('A=1\n', { required: ['A', 'B'] });
  assert.deepEqual(codes(g.problems), ['required@-:B']);
  const h = parse(`${OK.replace('JWT_SECRET=0123456789abcdef', 'JWT_SECRET=')}`);
  assert.deepEqual(codes(h.problems), ['required@-:JWT_SECRET']);
  assert.match(h.problems[0]!.message, /empty/);
});

test('a NUL or a line break smuggled into a value is refused', () => {
  const f = parse(`${OK}A="x\\ny"\nB=a\0b\nC="x\\ry"\n`);
  assert.deepEqual(codes(f.problems), ['bad-character@4:A', 'bad-character@5:B', 'bad-character@6:C']);
});

test('invalid UTF-8 is reported on its line; the rest is still parsed', () => {
  const bytes = Buffer.concat([Buffer.from(`${OK}A=caf`), Buffer.from([0xc3, 0x28]), Buffer.from('\nB=CHANGE_ME\n')]);
  const f = parse(bytes);
  assert.deepEqual(codes(f.problems), ['file@4:', 'placeholder@5:B']);
  assert.match(f.problems[0]!.message, /UTF-8/);
  assert.deepEqual(parse(Buffer.from(OK)).problems, []);
});

test('an oversize file is refused whole', () => {
  const big = `${OK}PAD=${'x'.repeat(MAX_ENV_FILE_BYTES)}\n`;
  const f = parse(big);
  assert.deepEqual(codes(f.problems), ['file@-:']);
  assert.match(f.problems[0]!.message, /256 KiB/);
  assert.deepEqual(f.entries, []);
});

test('from disk: a file other users can read is refused with the exact chmod remedy, and still parsed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'envfile-'));
  const path = join(dir, '.env.staging');
  writeFileSync(path, `${OK}X=CHANGE_ME\n`);
  chmodSync(path, 0o644);
  const f = readEnvFile(path);
  assert.deepEqual(codes(f.problems), ['file-mode@-:', 'placeholder@4:X']);
  assert.equal(f.problems[0]!.remedy, `chmod 600 ${path}`);
  assert.match(f.problems[0]!.message, /644/);

  chmodSync(path, 0o600);
  assert.deepEqual(codes(readEnvFile(path).problems), ['placeholder@4:X']);
  chmodSync(path, 0o640); // group-readable is refused too
  assert.equal(readEnvFile(path, {}, 'shown name').problems[0]!.remedy, "chmod 600 'shown name'");
});

test('from disk: a missing file suggests its template when one sits beside it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'envfile-'));
  const path = join(dir, '.env.production');
  assert.match(readEnvFile(path).problems[0]!.remedy!, /create it \(mode 600\)/);
  writeFileSync(`${path}.example`, 'A=1\n');
  const f = readEnvFile(path);
  assert.deepEqual(codes(f.problems), ['file@-:']);
  assert.match(f.problems[0]!.remedy!, /cp .*\.env\.production\.example .*\.env\.production && chmod 600/);
});

test('from disk: an oversize file is refused without being read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'envfile-'));
  const path = join(dir, 'big.env');
  writeFileSync(path, Buffer.alloc(MAX_ENV_FILE_BYTES + 10, 0x41));
  chmodSync(path, 0o600);
  assert.deepEqual(codes(readEnvFile(path).problems), ['file@-:']);
});
