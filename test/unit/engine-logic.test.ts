import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HealthSchema } from '../../src/config/schema.js';
import { liveColour, parseStackFacts } from '../../src/engine/stack/colours.js';
import { commitMatches, judgeHealth, parseProbe, parseRawHttp } from '../../src/engine/release/health.js';
import { judgePreflight, parsePreflight, unixSocket, versionAtLeast } from '../../src/engine/release/preflight.js';
import { renderEnvFile } from '../../src/engine/stack/files.js';
import { applyRecord, emptyState, reconcile } from '../../src/engine/stack/state.js';
import { staleReason, type LockInfo } from '../../src/engine/stack/lock.js';
import { parseVerify } from '../../src/engine/release/switch.js';
import type { DeploymentRecord } from '../../src/engine/types.js';
import { REF_RE } from '../../src/engine/release/version.js';
import { DeployError, ExitCode } from '../../src/errors.js';
import { Redactor } from '../../src/log/redact.js';
import { quote, quoteArgv } from '../../src/util/shell.js';

const health = HealthSchema.parse({ required_checks: ['database', 'migrations'] });
const SHA = 'a'.repeat(40);

test('quote: argv becomes one shell word each, whatever it holds', () => {
  assert.equal(quote('plain-word_1.2/x'), 'plain-word_1.2/x');
  assert.equal(quote(''), "''");
  assert.equal(quote("it's"), `'it'\\''s'`);
  assert.equal(quote('$(touch /tmp/x)'), `'$(touch /tmp/x)'`);
  assert.equal(quoteArgv(['echo', 'a b', '`id`', 'x\ny']), `echo 'a b' '\`id\`' 'x\ny'`);
});

test('redactor masks secrets and their derived forms, and unregistered URL passwords', () => {
  const r = new Redactor();
  r.add('postgres://app:s3cr%2Ft@db:5432/togather');
  r.add('tok-ABCDEF-123');
  const text = `url=postgres://app:s3cr%2Ft@db:5432/togather pw=s3cr/t b64=${Buffer.from('tok-ABCDEF-123').toString('base64')} enc=${encodeURIComponent('tok-ABCDEF-123')}`;
  const out = r.redact(text);
  assert.ok(!out.includes('s3cr'), out);
  assert.ok(!out.includes('tok-ABCDEF'), out);
  assert.ok(!out.includes(Buffer.from('tok-ABCDEF-123').toString('base64')), out);
  assert.equal(new Redactor().redact('see mysql://u:hunter22@h/db and Authorization: Bearer abc.def'), 'see mysql://u:***@h/db and Authorization: Bearer ***');
});

test('health verdicts follow the app contract', () => {
  const body = (status: string, checks: Record<string, string>) =>
    JSON.stringify({ status, git_commit: SHA.slice(0, 7), checks: Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, { status: v }])) });
  assert.equal(judgeHealth(200, body('healthy', { database: 'pass', migrations: 'pass' }), health).ok, true);
  assert.equal(judgeHealth(503, body('unhealthy', { database: 'fail', migrations: 'pass' }), health).ok, false);
  assert.equal(judgeHealth(200, body('degraded', { database: 'pass', migrations: 'warn' }), health).ok, false);
  assert.equal(judgeHealth(200, body('degraded', { database: 'pass', migrations: 'warn' }), { ...health, allow_degraded: true }).ok, true);
  const missing = judgeHealth(200, body('healthy', { database: 'pass' }), health);
  assert.equal(missing.ok, false);
  assert.match(missing.reason, /migrations missing/);
  assert.equal(judgeHealth(503, JSON.stringify({ status: 'shutting_down' }), health).ok, false);
  // a 503 names what the app says is failing, so a refused database password reads as such
  const refused = JSON.stringify({ status: 'unhealthy', checks: { database: { status: 'fail', message: 'password authentication failed for user "togather"' }, migrations: { status: 'pass' } } });
  assert.equal(judgeHealth(503, refused, health).reason, 'HTTP 503 status unhealthy: database failing (password authentication failed for user "togather")');
  assert.equal(judgeHealth(0, '', health).status, 'unknown');
  assert.equal(judgeHealth(200, 'not json', { ...health, required_checks: [] }).ok, true);
});

test('a raw HTTP/1.0 answer is split into status and body; anything else is no answer', () => {
  assert.deepEqual(parseRawHttp('HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{"status":"unhealthy"}'), { code: 503, body: '{"status":"unhealthy"}' });
  assert.deepEqual(parseRawHttp('HTTP/1.0 200 OK\r\n'), { code: 200, body: '' });
  assert.equal(parseRawHttp(''), undefined);
  assert.equal(parseRawHttp('nc: can\'t connect'), undefined);
});

test('commit comparison accepts short and full SHAs, ignores version names', () => {
  assert.ok(commitMatches(SHA.slice(0, 7), SHA));
  assert.ok(commitMatches(SHA, SHA));
  assert.ok(!commitMatches('b'.repeat(7), SHA));
  assert.ok(commitMatches('v1.2.3', SHA));
  assert.ok(commitMatches(undefined, SHA));
});

test('probe output: state line, wget headers and body', () => {
  const ok = parseProbe('state=running 0 0\n  HTTP/1.1 200 OK\n  Content-Type: application/json\n{"status":"healthy"}\n\nrc=0\n');
  assert.deepEqual([ok.state, ok.code, ok.body, ok.restarts], ['running', 200, '{"status":"healthy"}', 0]);
  const bad = parseProbe('state=running 0 0\n  HTTP/1.1 503 Service Unavailable\nwget: server returned error: HTTP/1.1 503 Service Unavailable\n\nrc=1\n');
  assert.equal(bad.code, 503);
  const down = parseProbe("state=restarting 1 2\nwget: can't connect to remote host (127.0.0.1): Connection refused\n\nrc=1\n");
  assert.deepEqual([down.state, down.code, down.exitCode, down.restarts], ['restarting', 0, 1, 2]);
  assert.match(down.error ?? '', /Connection refused/);
  assert.equal(parseProbe('state=absent\n\nrc=1\n').state, 'absent');
});

test('verify samples carry upstream and commit', () => {
  const out = `--- 1\n  HTTP/1.1 200 OK\n  X-Togather-Upstream: app-green\n{"git_commit":"${SHA}"}\n\n--- 2\nwget: server returned error: HTTP/1.1 502 Bad Gateway\n\n`;
  const s = parseVerify(out);
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], { upstream: 'app-green', commit: SHA, code: 200 });
  assert.equal(s[1]!.code, 502);
});

test('the live colour is what the gates route, state only breaks ties', () => {
  const facts = parseStackFacts(
    'blue.gate=running togather-test/gate:1\nblue.app=running img:1\nblue.flag=on\ngreen.gate=running g\ngreen.app=exited img:0\ngreen.flag=off\ncaddy=running c\ndb=running p\n',
  );
  assert.equal(facts.blue.image, 'img:1');
  assert.equal(facts.dbImage, 'p');
  assert.equal(parseStackFacts('db=absent\n').dbImage, undefined);
  assert.equal(liveColour(facts, 'green'), 'blue');
  const both = parseStackFacts('blue.app=running a\nblue.flag=on\ngreen.app=running b\ngreen.flag=on\n');
  assert.equal(liveColour(both, 'green'), 'green');
  assert.equal(liveColour(parseStackFacts('blue.app=absent\nblue.flag=on\n')), undefined);
});

test('preflight: the socket the keeper mounts comes from a unix DOCKER_HOST only', () => {
  assert.equal(unixSocket(undefined), '/var/run/docker.sock');
  assert.equal(unixSocket('unix:///run/user/1000/docker.sock'), '/run/user/1000/docker.sock');
  assert.equal(judgePreflight(parsePreflight('docker=27.1.0\ncompose2=2.29.1\ndocker_host=unix:///srv/d.sock\n'), 0).dockerSocket, '/srv/d.sock');
  for (const h of ['tcp://10.0.0.1:2376', 'ssh://me@host', 'unix://relative.sock', 'unix:///a b.sock', 'unix:///x/../etc/shadow', 'unix:///a$(id).sock']) {
    assert.equal(unixSocket(h), undefined, h);
  }
});

test('preflight: versions, compose flavour, disk, all problems at once', () => {
  assert.ok(versionAtLeast('20.10.24+dfsg1', [20, 10]));
  assert.ok(!versionAtLeast('19.03.1', [20, 10]));
  const f = judgePreflight(parsePreflight('docker=20.10.24\ncompose1=1.29.2\nfree_kb=2097152\n'), 1024);
  assert.deepEqual(f.compose, ['docker-compose']);
  assert.deepEqual(judgePreflight(parsePreflight('docker=27.1.0\ncompose2=2.29.1\ncompose1=1.29.2\n'), 0).compose, ['docker', 'compose']);
  try {
    judgePreflight(parsePreflight('docker=\nfree_kb=1024\n'), 1024);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof DeployError);
    assert.equal(e.exitCode, ExitCode.preflight);
    assert.match(e.message, /docker does not answer/);
    assert.match(e.message, /compose/);
    assert.match(e.message, /only 1 MiB free/);
  }
});

test('env file rendering keeps values literal for compose', () => {
  assert.equal(renderEnvFile({ A: 'plain', B: 'has space', C: "it's", D: 'p$w' }), `A=plain\nB="has space"\nC="it's"\nD='p$w'\n`);
  // backslashes: doubled inside double quotes, which compose v1 and v2 both decode
  assert.equal(renderEnvFile({ E: 'a\\b\\\\c"d' }), 'E="a\\\\b\\\\\\\\c\\"d"\n');
  assert.throws(() => renderEnvFile({ T: 'x\\' }), /ends with a backslash/);
  assert.throws(() => renderEnvFile({ C: "it's $x" }), /both ' and \$/);
  assert.throws(() => renderEnvFile({ A: 'x\ny' }), /line break/);
  // compose v1 substitutes ${NAME} even inside single quotes, and collapses \\ there
  assert.throws(() => renderEnvFile({ F: 'x${HOME}' }), /\$\{…\}/);
  assert.throws(() => renderEnvFile({ G: 'a\\\\b$c' }), /double backslash/);
  assert.throws(() => renderEnvFile({ H: 'p$w\\' }), /ends with a backslash/);
  assert.equal(renderEnvFile({ I: '$x:${y:?z}' }), "I='$x:${y:?z}'\n");
});

test('state transitions: active supersedes, failed leaves current alone', () => {
  const rec = (id: string, version: string, status: DeploymentRecord['status']): DeploymentRecord => ({
    id, kind: 'deploy', environment: 'staging', version, image: `i:${version}`, colour: 'blue', deployed_at: '', deployed_by: 't',
    status, health_status: 'healthy', phases: [], flags: {},
  });
  let s = applyRecord(emptyState('staging'), rec('1', 'v1', 'active'), 50);
  s = applyRecord(s, rec('2', 'v2', 'active'), 50);
  assert.equal(s.current?.version, 'v2');
  assert.equal(s.previous?.version, 'v1');
  assert.equal(s.previous?.status, 'superseded');
  s = applyRecord(s, rec('3', 'v3', 'failed'), 50);
  assert.equal(s.current?.version, 'v2');
  assert.deepEqual(s.history.map((h) => `${h.version}:${h.status}`), ['v3:failed', 'v2:active', 'v1:superseded']);
  assert.equal(applyRecord(s, rec('4', 'v4', 'failed'), 2).history.length, 2);
});

test('refs that could be misread by git or a shell are refused', () => {
  for (const ok of ['main', 'v1.2.3', 'release/2026-11', 'abc1234']) assert.ok(REF_RE.test(ok), ok);
  for (const bad of ['-x', 'a..b', 'a b', '$(id)', 'a;b', 'main@{1}', '`id`', 'x\ny', '']) assert.ok(!REF_RE.test(bad), bad);
});

test('state is reconciled from the colour the proxy routes to', () => {
  const rec = { id: '1', kind: 'deploy', environment: 'e', version: 'b'.repeat(40), image: `i:${'b'.repeat(40)}`, colour: 'blue', deployed_at: '', deployed_by: 't', status: 'active', health_status: 'healthy', phases: [], flags: {} } as DeploymentRecord;
  const state = applyRecord(emptyState('e'), rec, 50);
  assert.equal(reconcile(state, { colour: 'blue', image: `i:${'b'.repeat(40)}` }, new Date(), 50).record, undefined);
  const r = reconcile(state, { colour: 'green', image: `i:${SHA}` }, new Date(), 50);
  assert.equal(r.record?.version, SHA);
  assert.equal(r.state.current?.colour, 'green');
  assert.equal(r.state.previous?.version, 'b'.repeat(40));
  assert.equal(reconcile(state, undefined, new Date(), 50).record, undefined);
});

test('a lock is stale when expired, when its local process is gone, or when its heartbeat stopped', () => {
  const info: LockInfo = { lock_id: 'x', environment: 'e', acquired_at: '', acquired_by: 'a', deployment_id: 'd', operation: 'deploy', pid: process.pid, hostname: 'here', expires_at: new Date(Date.now() + 60_000).toISOString() };
  assert.equal(staleReason(info, 5, Date.now(), 'here'), undefined);
  assert.match(staleReason({ ...info, expires_at: new Date(0).toISOString() }, 5, Date.now(), 'here') ?? '', /expired/);
  assert.match(staleReason({ ...info, pid: 2 ** 22 + 7 }, 5, Date.now(), 'here') ?? '', /is gone/);
  assert.equal(staleReason({ ...info, pid: 2 ** 22 + 7 }, 5, Date.now(), 'elsewhere'), undefined);
  assert.match(staleReason(info, 500, Date.now(), 'elsewhere') ?? '', /heartbeat/);
});

test('build argv: classic build without a cache, buildx with a read and a fresh write cache', async () => {
  const { buildCommand } = await import('../../src/engine/release/image.js');
  const plain = buildCommand({ ref: `app:${SHA}`, sha: SHA, dockerfile: 'docker/Dockerfile', buildArgs: { GIT_COMMIT: SHA } });
  assert.deepEqual(plain.slice(0, 2), ['docker', 'build']);
  assert.ok(plain.includes(`GIT_COMMIT=${SHA}`));
  assert.equal(plain.at(-1), '-');
  const cached = buildCommand({ ref: `app:${SHA}`, sha: SHA, dockerfile: 'Dockerfile', buildArgs: {}, cacheDir: '/tmp/c' });
  assert.deepEqual(cached.slice(0, 4), ['docker', 'buildx', 'build', '--load']);
  assert.ok(cached.includes('type=local,src=/tmp/c') && cached.includes('type=local,dest=/tmp/c.new,mode=max'));
});

test('database image: images.postgres as it is, or extended by a Dockerfile and tagged by content', async () => {
  const { ConfigSchema } = await import('../../src/config/schema.js');
  const { dbImage } = await import('../../src/engine/database/db-image.js');
  const ctxWith = (images: Record<string, string>) =>
    ({ cfg: { configDir: '/nonexistent', config: ConfigSchema.parse({ app: { image: 'ghcr.io/x/y' }, images, environments: { p: { host: 'h.example' } } }) } }) as never;
  assert.deepEqual(dbImage(ctxWith({ postgres_dockerfile: 'none' })), { ref: 'postgis/postgis:16-3.4' });
  const builtin = dbImage(ctxWith({}));
  assert.match(builtin.ref, /^togather-postgres:[0-9a-f]{16}$/);
  assert.equal(builtin.build?.base, 'postgis/postgis:16-3.4');
  assert.match(builtin.build!.dockerfile, /pgvector/);
  assert.equal(dbImage(ctxWith({})).ref, builtin.ref, 'the same inputs, the same tag: built once per host');
  assert.notEqual(dbImage(ctxWith({ postgres: 'postgis/postgis:16-3.5' })).ref, builtin.ref, 'a new base, a new tag');
  assert.throws(() => dbImage(ctxWith({ postgres_dockerfile: 'missing/Dockerfile' })), /images\.postgres_dockerfile: cannot read/);
});
