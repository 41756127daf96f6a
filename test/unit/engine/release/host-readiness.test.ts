import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judgeReadiness,
  listeners,
  procAddress,
  publishers,
  SETUP_PROBE,
  setupProbeCmd,
  sudoCmd,
  type ReadinessFacts,
  type ReadinessInput,
} from '../../../../src/engine/release/host-readiness.js';
import { Layout } from '../../../../src/engine/stack/layout.js';

const L = new Layout({ hostPath: 'togather/staging', stack: 'togather-staging' });
const INPUT: ReadinessInput = {
  layout: L,
  minFreeMb: 1024,
  proxy: { http_port: 80, https_port: 443, bind: '0.0.0.0' },
  localNowMs: 1_700_000_000_000,
  user: 'deploy',
};
const facts = (pre: Record<string, string>, probe: Record<string, string>, containers: string[] = []) =>
  ({ pre, probe, containers }) as ReadinessFacts;
const READY_PRE = { docker: '26.1.5', compose2: '2.26.1', free_kb: '99999999', docker_free_kb: '99999999' };
const READY_PROBE = {
  now: '1700000000',
  user: 'deploy',
  group: 'deploy',
  home: '/home/deploy',
  buildx: 'yes',
  log_driver: 'local',
  proc_net: 'yes',
  listen: '',
  stack_dir: 'present',
};
const find = (j: ReturnType<typeof judgeReadiness>, name: string) => j.find((x) => x.check.name === name)!;

test('setup probe: its argv; root commands run with sudo -n, never asking', () => {
  assert.deepEqual(setupProbeCmd(L, false).argv, ['sh', '-c', SETUP_PROBE, 'togather-deploy', 'togather/staging', '0']);
  assert.deepEqual(setupProbeCmd(L, true).argv.at(-1), '1');
  assert.deepEqual(sudoCmd(['usermod', '-aG', 'docker', 'deploy']).argv, [
    'sudo',
    '-n',
    'usermod',
    '-aG',
    'docker',
    'deploy',
  ]);
});

test('/proc/net/tcp addresses: IPv4 little-endian, IPv6 words, v4-mapped, wildcards', () => {
  assert.equal(procAddress('0100007F'), '127.0.0.1');
  assert.equal(procAddress('00000000'), '*');
  assert.equal(procAddress('00000000000000000000000000000000'), '*');
  assert.equal(procAddress('0000000000000000FFFF00000100007F'), '127.0.0.1');
  assert.equal(procAddress('00000000000000000000000001000000'), '0:0:0:0:0:0:0:1');
  assert.deepEqual(listeners(' 00000000:0050 0100007F:1F90  junk 00000000000000000000000000000000:01BB '), [
    { address: '*', port: 80 },
    { address: '127.0.0.1', port: 8080 },
    { address: '*', port: 443 },
  ]);
});

test('docker ps ports: single ports, ranges, IPv6 forms of Docker 20.10 and 26', () => {
  const ps = [
    'a-caddy 0.0.0.0:80->80/tcp, :::80->80/tcp',
    'b 0.0.0.0:8000-8010->8000-8010/tcp',
    'c [::]:443->443/tcp',
    'd 5432/tcp',
    'e ',
  ];
  assert.deepEqual(publishers(ps, 80), ['a-caddy']);
  assert.deepEqual(publishers(ps, 8005), ['b']);
  assert.deepEqual(publishers(ps, 443), ['c']);
  assert.deepEqual(publishers(ps, 5432), []);
});

test('ports: a listener on another specific address does not conflict with a specific bind', () => {
  const f = facts(READY_PRE, { ...READY_PROBE, listen: '0100007F:0050' });
  assert.equal(find(judgeReadiness(f, INPUT), 'port 80 (http)').check.status, 'fail');
  const bound = { ...INPUT, proxy: { ...INPUT.proxy, bind: '10.0.0.5' } };
  assert.equal(find(judgeReadiness(f, bound), 'port 80 (http)').check.status, 'ok');
  const unreadable = facts(READY_PRE, { ...READY_PROBE, proc_net: '' });
  assert.equal(find(judgeReadiness(unreadable, INPUT), 'port 80 (http)').check.status, 'warn');
});

test('a ready host judges ok throughout; root fixes come with their sudo argv only for failures', () => {
  const ok = judgeReadiness(facts(READY_PRE, READY_PROBE), INPUT);
  assert.deepEqual(
    ok.filter((j) => j.check.status !== 'ok').map((j) => j.check.name),
    [],
  );
  assert.ok(ok.every((j) => !j.install));
  const bad = judgeReadiness(facts({ ...READY_PRE, compose2: '' }, { ...READY_PROBE, buildx: 'no' }), INPUT);
  assert.deepEqual(
    find(bad, 'compose').install?.map((c) => c.argv),
    [
      ['sudo', '-n', 'apt-get', 'update'],
      ['sudo', '-n', 'apt-get', 'install', '-y', 'docker-compose-plugin'],
    ],
  );
  assert.equal(find(bad, 'buildx').check.status, 'warn');
  assert.equal(find(bad, 'buildx').install, undefined, 'warnings are never installed');
});

test('docker-compose v1 older than 1.27 fails; a readonly stack directory gets a chown of it alone', () => {
  const j = judgeReadiness(
    facts({ ...READY_PRE, compose2: '', compose1: '1.25.0' }, { ...READY_PROBE, stack_dir: 'readonly' }),
    INPUT,
  );
  assert.match(find(j, 'compose').check.detail, /1\.25\.0 is too old/);
  assert.deepEqual(find(j, 'stack directory').check.fix, ['chown deploy:deploy /home/deploy/togather/staging']);
  const abs = { ...INPUT, layout: new Layout({ hostPath: '/srv/togather/prod', stack: 'togather-prod' }) };
  const absent = judgeReadiness(facts(READY_PRE, { ...READY_PROBE, stack_dir: 'absent' }), abs);
  assert.deepEqual(find(absent, 'stack directory').install?.[0]?.argv, [
    'sudo',
    '-n',
    'install',
    '-d',
    '-m',
    '700',
    '-o',
    'deploy',
    '-g',
    'deploy',
    '/srv/togather/prod',
  ]);
});

test('disk: unknown is a warning, one place below the minimum a failure', () => {
  assert.equal(find(judgeReadiness(facts({ docker: '26.1.5' }, READY_PROBE), INPUT), 'disk').check.status, 'warn');
  const low = judgeReadiness(facts({ ...READY_PRE, free_kb: String(512 * 1024) }, READY_PROBE), INPUT);
  assert.match(find(low, 'disk').check.detail, /512 MiB free on the stack directory/);
  assert.equal(find(low, 'disk').check.status, 'fail');
});

test('sshd: reported only when it could be learnt; password logins on are a warning', () => {
  assert.equal(
    judgeReadiness(facts(READY_PRE, READY_PROBE), INPUT).some((j) => j.check.name === 'sshd'),
    false,
  );
  assert.equal(
    find(judgeReadiness(facts(READY_PRE, { ...READY_PROBE, sshd_password: 'no' }), INPUT), 'sshd').check.status,
    'ok',
  );
  const on = find(judgeReadiness(facts(READY_PRE, { ...READY_PROBE, sshd_password: 'yes' }), INPUT), 'sshd');
  assert.equal(on.check.status, 'warn');
  assert.equal(on.install, undefined);
});

test('log rotation: a daemon.json that is not JSON is a warning', () => {
  const bad = {
    ...READY_PROBE,
    log_driver: 'json-file',
    daemon_json: 'read',
    daemon_json_b64: Buffer.from('{').toString('base64'),
  };
  const j = find(judgeReadiness(facts(READY_PRE, bad), INPUT), 'log rotation');
  assert.equal(j.check.status, 'warn');
  assert.match(j.check.detail, /not valid JSON/);
});
