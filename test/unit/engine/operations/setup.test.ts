/**
 * setup against a scripted host that models what setup looks at: docker (version, socket permission, daemon),
 * compose, buildx, free space, listening sockets and running containers, the clock, daemon.json, the stack
 * directory and sudo. Root fixes run under --install change the model, as they would change the host.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatSetup, setup, type SetupReport } from '../../../../src/engine/operations/setup.js';
import { MKDIRS } from '../../../../src/engine/stack/commands.js';
import type { Command, RunOptions, RunResult } from '../../../../src/host/host.js';
import { fakeEngine, type FakeEngine } from '../../../fakes/host.js';

interface HostModel {
  docker: string;
  dockerErr: '' | 'permission' | 'daemon' | 'missing';
  compose2: string;
  compose1: string;
  buildx: boolean;
  freeKb: number;
  dockerFreeKb: number;
  /** seconds relative to the fake clock */
  skewS: number;
  logDriver: string;
  daemonJson: 'absent' | 'unreadable' | object;
  /** hex "ADDR:PORT" listening sockets */
  listen: string[];
  /** docker ps lines: "name ports" */
  containers: string[];
  dirExists: boolean;
  sudo: boolean;
  user: string;
  dockerGroup: string[];
  sshdPassword: string;
}

const CADDY = 'togather-staging-caddy';
const PUBLISHED = '0.0.0.0:80->80/tcp, [::]:80->80/tcp, 0.0.0.0:443->443/tcp, [::]:443->443/tcp';
const V6_ANY = '00000000000000000000000000000000';

function readyHost(): HostModel {
  return {
    docker: '26.1.5',
    dockerErr: '',
    compose2: '2.26.1',
    compose1: '',
    buildx: true,
    freeKb: 50 * 1024 * 1024,
    dockerFreeKb: 50 * 1024 * 1024,
    skewS: 0,
    logDriver: 'json-file',
    daemonJson: { 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } },
    listen: ['00000000:0016', `${V6_ANY}:0016`, '0100007F:1F90'],
    containers: [],
    dirExists: true,
    sudo: false,
    user: 'deploy',
    dockerGroup: ['deploy'],
    sshdPassword: '',
  };
}

/** the scripted host answering from the model; `argv` keeps every command's argv as sent */
function modelled(m: HostModel, onSudo: (argv: string[]) => Partial<RunResult> | void = () => undefined) {
  const e: FakeEngine = fakeEngine();
  const argv: string[][] = [];
  const run = e.host.run.bind(e.host);
  e.host.run = (c: Command, o?: RunOptions) => {
    argv.push([...c.argv]);
    return run(c, o);
  };
  const up = () => m.dockerErr === '';
  e.host.on(/compose2=/, () => ({
    stdout: [
      `docker=${up() ? m.docker : ''}`,
      m.compose2 && m.dockerErr !== 'missing' ? `compose2=${m.compose2}` : '',
      m.compose1 ? `compose1=${m.compose1}` : '',
      `free_kb=${m.freeKb}`,
      up() ? `docker_free_kb=${m.dockerFreeKb}` : '',
      'docker_host=unix:///var/run/docker.sock',
    ]
      .filter(Boolean)
      .join('\n'),
  }));
  e.host.on(/stack_dir=/, (line) => {
    const withSudo = line.endsWith(' 1');
    const on = up();
    const out = [
      `now=${Math.floor(e.clock.now() / 1000) + m.skewS}`,
      `user=${m.user}`,
      `group=${m.user}`,
      `home=/home/${m.user}`,
    ];
    if (m.dockerErr) out.push(`docker_err=${m.dockerErr}`);
    if (m.dockerErr !== 'missing') out.push(`buildx=${m.buildx ? 'yes' : 'no'}`);
    out.push(`log_driver=${on ? m.logDriver : ''}`);
    if (on) for (const c of m.containers) out.push(`container=${c}`);
    out.push(`docker_group=${m.dockerGroup.join(',')}`);
    if (typeof m.daemonJson === 'object')
      out.push('daemon_json=read', `daemon_json_b64=${Buffer.from(JSON.stringify(m.daemonJson)).toString('base64')}`);
    else out.push(`daemon_json=${m.daemonJson}`);
    out.push('proc_net=yes', `listen= ${m.listen.join(' ')} `);
    out.push(`stack_dir=${m.dirExists ? 'present' : 'absent'}`);
    if (withSudo) {
      out.push(`sudo=${m.sudo ? 'yes' : 'no'}`);
      if (m.sudo) out.push(`sshd_password=${m.sshdPassword}`);
    }
    return { stdout: out.join('\n') + '\n' };
  });
  e.host.on(/mkdir -p -- "\$p"/, () => {
    m.dirExists = true;
    return {};
  });
  e.host.on(/^sudo -n /, (line) => {
    const a = line.split(' ');
    return onSudo(a) ?? {};
  });
  return { ...e, argv };
}

const byName = (r: SetupReport) => Object.fromEntries(r.checks.map((c) => [c.name, c]));
const statuses = (r: SetupReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]));
const sudoArgv = (argv: string[][]) => argv.filter((a) => a[0] === 'sudo');

describe('setup', () => {
  test('a ready host: every check ok, nothing changed, one round trip (two probes side by side)', async () => {
    const h = modelled(readyHost());
    const r = await setup(h.ctx, { install: false });
    assert.equal(r.ready, true);
    assert.equal(r.changed, false);
    assert.deepEqual(statuses(r), {
      docker: 'ok',
      compose: 'ok',
      buildx: 'ok',
      disk: 'ok',
      'port 80 (http)': 'ok',
      'port 443 (https)': 'ok',
      clock: 'ok',
      'log rotation': 'ok',
      'stack directory': 'ok',
    });
    assert.equal(h.host.ran.length, 2);
    assert.deepEqual([r.environment, r.host], ['staging', 'deploy@fake-host:22']);
    assert.match(formatSetup(r), /\nready: staging on deploy@fake-host:22$/);
  });

  test('the stack directory is created (as the deploy creates it), then a second run changes nothing', async () => {
    const m = readyHost();
    m.dirExists = false;
    const h = modelled(m);
    const first = await setup(h.ctx, { install: false });
    assert.deepEqual([first.ready, first.changed], [true, true]);
    assert.equal(byName(first)['stack directory']!.status, 'created');
    assert.match(byName(first)['stack directory']!.detail, /\/home\/deploy\/togather\/staging created \(mode 0700\)/);
    const mkdirs = h.argv.filter((a) => a[2] === MKDIRS);
    assert.deepEqual(mkdirs, [['sh', '-c', MKDIRS, 'togather-deploy', 'togather/staging']]);

    const before = h.argv.length;
    const second = await setup(h.ctx, { install: false });
    assert.deepEqual([second.ready, second.changed], [true, false]);
    assert.equal(byName(second)['stack directory']!.status, 'ok');
    assert.equal(h.argv.length - before, 2, 'only the two probes');
  });

  test('a dry run leaves an absent directory absent', async () => {
    const m = readyHost();
    m.dirExists = false;
    const h = modelled(m);
    h.ctx.dryRun = true;
    const r = await setup(h.ctx, { install: false });
    assert.equal(byName(r)['stack directory']!.status, 'warn');
    assert.equal(r.changed, false);
    assert.equal(m.dirExists, false);
  });

  test('the directory cannot be created: a failure with the root command that creates it', async () => {
    const m = readyHost();
    m.dirExists = false;
    const h = modelled(m);
    h.host.on(/mkdir -p -- "\$p"/, { code: 1, stderr: 'mkdir: Permission denied' });
    const r = await setup(h.ctx, { install: false });
    const d = byName(r)['stack directory']!;
    assert.equal(d.status, 'fail');
    assert.deepEqual(d.fix, ['install -d -m 700 -o deploy -g deploy /home/deploy/togather/staging']);
  });

  test('docker permission denied: not ready, the usermod fix', async () => {
    const m = readyHost();
    m.dockerErr = 'permission';
    m.dockerGroup = [];
    const r = await setup(modelled(m).ctx, { install: false });
    assert.equal(r.ready, false);
    const d = byName(r).docker!;
    assert.equal(d.status, 'fail');
    assert.match(d.detail, /deploy may not use the Docker socket/);
    assert.deepEqual(d.fix, ['usermod -aG docker deploy', '# then log out and in again (a new SSH login)']);
    // who holds the ports cannot be told without docker: not blamed on a foreign process
    const text = formatSetup(r);
    assert.match(text, /✘ docker +deploy may not use the Docker socket\n {6}usermod -aG docker deploy\n/);
    assert.match(text, /\nnot ready: 1 item\(s\) need root — run the commands above as root, or rerun with --install/);
  });

  test('docker not installed: the install script is printed, to be read first, and never run', async () => {
    const m = readyHost();
    m.dockerErr = 'missing';
    m.sudo = true;
    const h = modelled(m);
    const r = await setup(h.ctx, { install: true });
    const d = byName(r).docker!;
    assert.equal(d.status, 'fail');
    assert.ok(d.fix!.some((l) => l.startsWith('curl -fsSL https://get.docker.com')));
    assert.ok(d.fix!.some((l) => /read it before you run it/.test(l)));
    assert.equal(
      h.argv.some((a) => a.join(' ').includes('get-docker')),
      false,
    );
    assert.equal(r.ready, false);
  });

  test('docker older than 20.10 fails; the legacy lane (20.10, compose v1, no buildx, no daemon.json) is ready', async () => {
    const old = readyHost();
    old.docker = '19.03.15';
    assert.equal(byName(await setup(modelled(old).ctx, { install: false })).docker!.status, 'fail');

    const legacy = readyHost();
    Object.assign(legacy, { docker: '20.10.24+dfsg1', compose2: '', compose1: '1.29.2', buildx: false });
    legacy.daemonJson = 'absent';
    const h = modelled(legacy);
    const r = await setup(h.ctx, { install: false });
    assert.equal(r.ready, true);
    assert.equal(byName(r).compose!.status, 'ok');
    assert.equal(byName(r).buildx!.status, 'warn');
    assert.equal(byName(r)['log rotation']!.status, 'warn');
    const again = await setup(h.ctx, { install: false });
    assert.deepEqual([again.ready, again.changed], [true, false]);
  });

  test('no compose at all: fails with the plugin install', async () => {
    const m = readyHost();
    m.compose2 = '';
    const c = byName(await setup(modelled(m).ctx, { install: false })).compose!;
    assert.equal(c.status, 'fail');
    assert.deepEqual(c.fix!.slice(0, 2), ['apt-get update', 'apt-get install -y docker-compose-plugin']);
  });

  test('disk below deployment.min_free_mb fails', async () => {
    const m = readyHost();
    m.dockerFreeKb = 100 * 1024;
    const d = byName(await setup(modelled(m).ctx, { install: false })).disk!;
    assert.equal(d.status, 'fail');
    assert.match(d.detail, /100 MiB free on Docker's data root/);
  });

  test('ports: held by a foreign process fails; by our own Caddy is ok; by another container fails', async () => {
    const foreign = readyHost();
    foreign.listen.push('00000000:0050');
    const f = byName(await setup(modelled(foreign).ctx, { install: false }))['port 80 (http)']!;
    assert.equal(f.status, 'fail');
    assert.match(f.fix![0]!, /^ss -ltnp 'sport = :80'/);

    const ours = readyHost();
    ours.listen.push('00000000:0050', `${V6_ANY}:0050`, '00000000:01BB', `${V6_ANY}:01BB`);
    ours.containers = [`${CADDY} ${PUBLISHED}`, 'togather-staging-db 5432/tcp'];
    const o = await setup(modelled(ours).ctx, { install: false });
    assert.equal(o.ready, true);
    assert.match(byName(o)['port 443 (https)']!.detail, /held by this environment's Caddy/);

    const other = readyHost();
    other.listen.push('00000000:0050', '00000000:01BB');
    other.containers = [`togather-production-caddy ${PUBLISHED}`];
    const x = await setup(modelled(other).ctx, { install: false });
    assert.equal(byName(x)['port 80 (http)']!.status, 'fail');
    assert.match(byName(x)['port 80 (http)']!.detail, /togather-production-caddy/);
  });

  test('clock: 10 s off is ok, 60 s warns, 10 min fails with the NTP fix', async () => {
    const at = async (skewS: number) => {
      const m = readyHost();
      m.skewS = skewS;
      return byName(await setup(modelled(m).ctx, { install: false })).clock!;
    };
    assert.equal((await at(-10)).status, 'ok');
    const warn = await at(60);
    assert.equal(warn.status, 'warn');
    assert.match(warn.detail, /60 s ahead of/);
    const fail = await at(-600);
    assert.equal(fail.status, 'fail');
    assert.match(fail.detail, /600 s behind/);
    assert.deepEqual(fail.fix, ['timedatectl set-ntp true']);
  });

  test("clock: localNow, when given, is this machine's time", async () => {
    const h = modelled(readyHost());
    const r = await setup(h.ctx, { install: false, localNow: h.clock.now() - 120_000 });
    assert.match(byName(r).clock!.detail, /120 s ahead of/);
  });

  test('log rotation: a warning (never a failure) unless max-size or a rotating driver is set', async () => {
    const at = async (change: Partial<HostModel>) => {
      const r = await setup(modelled({ ...readyHost(), ...change }).ctx, { install: false });
      return { r, c: byName(r)['log rotation']! };
    };
    const absent = await at({ daemonJson: 'absent' });
    assert.equal(absent.c.status, 'warn');
    assert.equal(absent.r.ready, true);
    assert.ok(absent.c.fix!.some((l) => l.includes('> /etc/docker/daemon.json')));
    assert.ok(absent.c.fix!.some((l) => /^systemctl restart docker .*every container/.test(l)));
    const other = await at({ daemonJson: { 'data-root': '/srv/docker' } });
    assert.equal(other.c.status, 'warn');
    assert.match(other.c.fix![0]!, /^# merge into the existing \/etc\/docker\/daemon\.json/);
    assert.ok(!other.c.fix!.some((l) => l.includes('> /etc/docker/daemon.json')), 'never overwrites an existing one');
    assert.equal((await at({ daemonJson: 'unreadable' })).c.status, 'warn');
    assert.equal((await at({ logDriver: 'local', daemonJson: 'absent' })).c.status, 'ok');
    assert.equal((await at({ logDriver: 'journald', daemonJson: 'absent' })).c.status, 'ok');
  });

  test('--install without passwordless sudo: the fixes stay printed, one line says why, nothing runs as root', async () => {
    const m = readyHost();
    m.dockerErr = 'permission';
    m.dockerGroup = [];
    const h = modelled(m);
    const r = await setup(h.ctx, { install: true });
    assert.equal(r.ready, false);
    assert.deepEqual(sudoArgv(h.argv), []);
    assert.equal(byName(r).docker!.fix![0], 'usermod -aG docker deploy');
    assert.equal(byName(r).sudo!.status, 'warn');
    assert.match(byName(r).sudo!.detail, /passwordless sudo \(sudo -n\) is not available/);
    assert.deepEqual(
      r.checks.filter((c) => c.status === 'fail').map((c) => c.name),
      ['docker'],
    );
  });

  test('--install with passwordless sudo runs the failing checks’ fixes as argv, re-probes, marks them installed', async () => {
    const m = readyHost();
    Object.assign(m, { sudo: true, dockerErr: 'daemon', compose2: '', sshdPassword: 'yes' });
    m.skewS = 900;
    const h = modelled(m, (a) => {
      const line = a.join(' ');
      if (line === 'sudo -n systemctl enable --now docker') m.dockerErr = '';
      if (line === 'sudo -n apt-get install -y docker-compose-plugin') m.compose2 = '2.29.1';
      if (line === 'sudo -n timedatectl set-ntp true') m.skewS = 0;
    });
    const r = await setup(h.ctx, { install: true });
    assert.deepEqual(sudoArgv(h.argv), [
      ['sudo', '-n', 'systemctl', 'enable', '--now', 'docker'],
      ['sudo', '-n', 'apt-get', 'update'],
      ['sudo', '-n', 'apt-get', 'install', '-y', 'docker-compose-plugin'],
      ['sudo', '-n', 'timedatectl', 'set-ntp', 'true'],
    ]);
    assert.deepEqual([r.ready, r.changed], [true, true]);
    const s = statuses(r);
    assert.deepEqual([s.docker, s.compose, s.clock, s['log rotation']], ['installed', 'installed', 'installed', 'ok']);
    // sshd is learnt through sudo, and only reported: never changed by setup
    assert.equal(s.sshd, 'warn');
    assert.ok(byName(r).sshd!.fix!.some((l) => l.includes('/etc/ssh/sshd_config.d/00-togather.conf')));
    assert.match(formatSetup(r), /\+ docker +installed: docker 26\.1\.5/);
    // the probes ran twice: before and after
    assert.equal(h.host.ran.filter((l) => /stack_dir=/.test(l)).length, 2);
  });

  test('--install: usermod runs as argv; the new group needs a new login, which the report says', async () => {
    const m = readyHost();
    Object.assign(m, { sudo: true, dockerErr: 'permission', dockerGroup: [] });
    const h = modelled(m, (a) => {
      if (a.join(' ') === 'sudo -n usermod -aG docker deploy') m.dockerGroup = ['deploy'];
    });
    const r = await setup(h.ctx, { install: true });
    assert.deepEqual(sudoArgv(h.argv), [['sudo', '-n', 'usermod', '-aG', 'docker', 'deploy']]);
    const d = byName(r).docker!;
    assert.equal(d.status, 'fail');
    assert.match(
      d.detail,
      /deploy is in the docker group, but this login started before it was added: run setup again/,
    );
    // the next run is a new login: the group applies
    m.dockerErr = '';
    const next = await setup(h.ctx, { install: true });
    assert.deepEqual([next.ready, next.changed], [true, false]);
  });

  test('--install: a fix that fails says so and the check stays failed', async () => {
    const m = readyHost();
    Object.assign(m, { sudo: true, compose2: '' });
    const h = modelled(m, (a) =>
      a.includes('install') ? { code: 100, stderr: 'E: Unable to locate package docker-compose-plugin' } : undefined,
    );
    const r = await setup(h.ctx, { install: true });
    const c = byName(r).compose!;
    assert.equal(c.status, 'fail');
    assert.match(
      c.detail,
      /`sudo -n apt-get install -y docker-compose-plugin` failed \(exit 100\): E: Unable to locate package/,
    );
    assert.equal(r.ready, false);
  });

  test('secrets known to the redactor never reach the report', async () => {
    const m = readyHost();
    const h = modelled(m);
    h.ctx.redactor.add('s3cr3t-token-value');
    h.host.on(/stack_dir=/, () => ({
      stdout:
        'now=1700000000\nuser=deploy\ndocker_err=other\ndocker_err_text=bad s3cr3t-token-value\nstack_dir=present\n',
    }));
    h.host.on(/compose2=/, { stdout: 'compose2=2.26.1\n' });
    const r = await setup(h.ctx, { install: false });
    assert.doesNotMatch(JSON.stringify(r), /s3cr3t-token-value/);
    assert.match(byName(r).docker!.detail, /docker does not answer for deploy: bad /);
  });
});

describe('formatSetup', () => {
  test('one line per check, marks, fixes indented under failures and warnings, then the verdict', () => {
    const r: SetupReport = {
      environment: 'staging',
      host: 'deploy@h:22',
      ready: false,
      changed: true,
      checks: [
        {
          name: 'docker',
          status: 'fail',
          detail: 'deploy may not use the Docker socket',
          fix: ['usermod -aG docker deploy'],
        },
        { name: 'compose', status: 'installed', detail: 'docker compose 2.29.1 (v2 plugin)', fix: ['apt-get update'] },
        { name: 'log rotation', status: 'warn', detail: 'unbounded', fix: ['systemctl restart docker'] },
        { name: 'stack directory', status: 'created', detail: '/home/deploy/togather/staging created (mode 0700)' },
        { name: 'disk', status: 'ok', detail: '9 MiB free' },
      ],
    };
    assert.equal(
      formatSetup(r),
      [
        '✘ docker           deploy may not use the Docker socket',
        '      usermod -aG docker deploy',
        '+ compose          installed: docker compose 2.29.1 (v2 plugin)',
        '! log rotation     unbounded',
        '      systemctl restart docker',
        '+ stack directory  /home/deploy/togather/staging created (mode 0700)',
        '✔ disk             9 MiB free',
        'not ready: 1 item(s) need root — run the commands above as root, or rerun with --install (needs passwordless sudo)',
      ].join('\n'),
    );
    const noRoot: SetupReport = { ...r, checks: [{ name: 'port 80 (http)', status: 'fail', detail: 'taken' }] };
    assert.equal(formatSetup(noRoot).split('\n').at(-1), 'not ready: 1 item(s) to fix (see above)');
    assert.equal(
      formatSetup({ ...r, ready: true, checks: [{ name: 'disk', status: 'ok', detail: 'fine' }] }),
      '✔ disk  fine\nready: staging on deploy@h:22',
    );
  });
});
