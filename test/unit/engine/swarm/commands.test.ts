/**
 * The Swarm provider's commands as data: each builder's argv pinned, hostile values refused before they reach a
 * command line, the parsers of the scripts' outputs, and the scripts themselves run by a real sh against a fake
 * docker (and a fake wget) on PATH. sh -n and ShellCheck reach these scripts through test/unit/engine/commands.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as sw from '../../../../src/engine/swarm/commands.js';
import { liveColour } from '../../../../src/engine/stack/colours.js';
import { parseSwarmPreflight } from '../../../../src/engine/swarm/preflight.js';
import { DeployError } from '../../../../src/errors.js';

const sh = (text: string, ...args: string[]) => ['sh', '-c', text, 'togather-deploy', ...args];
const SHA = 'ab12'.repeat(10);
const SPEC: sw.ColourServiceSpec = {
  stack: 'togather-staging',
  colour: 'green',
  image: 'togather-app:ab12ab12ab12',
  sha: SHA,
  replicas: 2,
  network: 'togather-staging_togather',
  envFile: '/srv/togather/staging/app.env',
  drainMs: 29_500,
  constraints: ['node.labels.togather.app == true', 'node.role!=manager'],
};

describe('builders', () => {
  test('names of a stack', () => {
    const n = sw.swarmNames('togather-staging');
    assert.equal(n.app('blue'), 'togather-staging_app-blue');
    assert.equal(n.gate('green'), 'togather-staging_gate-green');
    assert.equal(n.overlay, 'togather-staging_togather');
    assert.equal(n.tools, 'togather-staging_tools');
    assert.equal(n.lock, 'togather-staging-deploy-lock');
  });

  test('service create of a colour: every setting on the command line', () => {
    assert.deepEqual(sw.createColourCmd(SPEC).argv, [
      'docker',
      'service',
      'create',
      '--detach',
      '--name',
      'togather-staging_app-green',
      '--label',
      'com.docker.stack.namespace=togather-staging',
      '--label',
      'org.togather.colour=green',
      '--label',
      `org.togather.version=${SHA}`,
      '--container-label',
      'org.togather.role=app',
      '--network',
      'name=togather-staging_togather',
      '--endpoint-mode',
      'dnsrr',
      '--replicas',
      '2',
      '--constraint',
      'node.labels.togather.app == true',
      '--constraint',
      'node.role!=manager',
      '--env-file',
      '/srv/togather/staging/app.env',
      '--env',
      'TOGATHER_SLOT=green',
      '--stop-grace-period',
      '30s',
      '--restart-condition',
      'any',
      '--restart-delay',
      '1s',
      '--update-order',
      'start-first',
      '--no-resolve-image',
      'togather-app:ab12ab12ab12',
    ]);
    const full = sw.createColourCmd({
      ...SPEC,
      constraints: [],
      registryAuth: true,
      health: { intervalMs: 1000, startPeriodMs: 60_000 },
    }).argv;
    assert.deepEqual(full.slice(-7), [
      '--no-resolve-image',
      '--with-registry-auth',
      '--health-interval',
      '1000ms',
      '--health-start-period',
      '60000ms',
      'togather-app:ab12ab12ab12',
    ]);
    assert.ok(!full.includes('--constraint'));
  });

  test('scale, rm, stack deploy, logs, ps, node id', () => {
    assert.deepEqual(sw.scaleCmd('s_app-blue', 0).argv, ['docker', 'service', 'scale', '--detach', 's_app-blue=0']);
    assert.deepEqual(sw.removeServiceCmd('kq1n3v9x0abcdefghijklmnop').argv, [
      'docker',
      'service',
      'rm',
      'kq1n3v9x0abcdefghijklmnop',
    ]);
    assert.deepEqual(sw.stackDeployCmd('/srv/e/stack.yml', 'e').argv, [
      'docker',
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      '/srv/e/stack.yml',
      'e',
    ]);
    assert.ok(sw.stackDeployCmd('/srv/e/stack.yml', 'e', true).argv.includes('--with-registry-auth'));
    assert.deepEqual(sw.serviceLogsCmd('e_app-blue').argv, [
      'docker',
      'service',
      'logs',
      '--tail',
      '30',
      '--timestamps',
      '--no-trunc',
      'e_app-blue',
    ]);
    assert.deepEqual(sw.servicePsCmd('e_app-blue').argv.slice(0, 4), ['docker', 'service', 'ps', '--no-trunc']);
    assert.deepEqual(sw.nodeIdCmd().argv, ['docker', 'info', '--format', '{{.Swarm.NodeID}}']);
  });

  test('scripts get their data as positional parameters', () => {
    assert.deepEqual(sw.swarmTasksCmd('e_app-blue').argv, sh(sw.SWARM_TASKS, 'e_app-blue'));
    assert.deepEqual(sw.scaleDownCmd('e_app-blue', 31_200).argv, sh(sw.SCALE_DOWN, 'e_app-blue', '32'));
    assert.deepEqual(sw.swarmInspectCmd('e', '/srv/e').argv, sh(sw.SWARM_INSPECT, 'e', '/srv/e'));
    // the configured root may be relative to the deploy user's home, as on one host
    assert.deepEqual(sw.swarmInspectCmd('e', 'togather/e').argv, sh(sw.SWARM_INSPECT, 'e', 'togather/e'));
    for (const bad of ['-rf', 'togather/../../etc', 'a\nb', '../x'])
      assert.throws(() => sw.swarmPreflightCmd('e_togather', bad), DeployError, bad);
    assert.deepEqual(sw.swarmPreflightCmd('e_togather', '/srv/e').argv, sh(sw.SWARM_PREFLIGHT, 'e_togather', '/srv/e'));
    const probe = {
      tools: 'e_tools',
      ips: ['10.0.1.5', '10.0.1.6'],
      port: 8080,
      path: '/health',
      timeoutMs: 2000,
      consecutive: 2,
      probes: 10,
      intervalMs: 100,
    };
    assert.deepEqual(
      sw.probeEachCmd(probe).argv,
      sh(sw.PROBE_EACH, 'e_tools', '2', '8080', '/health', '2', '10', '0.100', '10.0.1.5', '10.0.1.6'),
    );
    assert.deepEqual(
      sw.lockCreateCmd('e-deploy-lock', 'busybox:1.36', { 'org.togather.lock.by': 'Jane Doe' }).argv,
      sh(sw.SWARM_LOCK_CREATE, 'e-deploy-lock', 'busybox:1.36', '--label', 'org.togather.lock.by=Jane Doe'),
    );
    assert.deepEqual(sw.lockInspectCmd('e-deploy-lock').argv, sh(sw.SWARM_LOCK_INSPECT, 'e-deploy-lock'));
    assert.deepEqual(
      sw.lockRemoveHeldCmd('e-deploy-lock', '01X').argv,
      sh(sw.SWARM_LOCK_REMOVE_HELD, 'e-deploy-lock', '01X'),
    );
    assert.deepEqual(sw.lockHeartbeatCmd('abcdefghijklmnopqrstuvwxy', 3).argv, [
      'docker',
      'service',
      'update',
      '--detach',
      '--label-add',
      'org.togather.lock.beat=3',
      'abcdefghijklmnopqrstuvwxy',
    ]);
    assert.throws(() => sw.lockHeartbeatCmd('e-deploy-lock', 1), DeployError, 'the heartbeat goes by ID only');
    assert.deepEqual(sw.scaleUpCmd('e_app-blue', 3).argv, sh(sw.SCALE_UP, 'e_app-blue', '3'));
    assert.deepEqual(sw.rootRealpathCmd('togather/e').argv, sh(sw.ROOT_REALPATH, 'togather/e'));
    assert.deepEqual(sw.edgeCaddyReloadCmd('e_caddy').argv, sh(sw.EDGE_CADDY_RELOAD, 'e_caddy'));
    assert.deepEqual(sw.stackReplicasCmd('e').argv, [
      'docker',
      'service',
      'ls',
      '--filter',
      'label=com.docker.stack.namespace=e',
      '--format',
      '{{.Name}} {{.Replicas}}',
    ]);
    // the inner scripts travel inside single quotes
    assert.ok(!sw.PROBE_EACH_INNER.includes("'"));
  });

  test('hostile values never reach a command line', () => {
    const bad: Array<[string, () => unknown]> = [
      ['stack with a space', () => sw.swarmNames('a b')],
      ['stack as an option', () => sw.swarmNames('-rf')],
      ['stack with a newline', () => sw.swarmNames('a\nb')],
      ['image as an option', () => sw.createColourCmd({ ...SPEC, image: '--privileged' })],
      ['image with a space', () => sw.createColourCmd({ ...SPEC, image: 'x:1 --mount=type=bind' })],
      ['constraint with shell', () => sw.createColourCmd({ ...SPEC, constraints: ['node.id==$(reboot)'] })],
      ['constraint with a comma', () => sw.createColourCmd({ ...SPEC, constraints: ['node.id==a,b'] })],
      ['relative env file', () => sw.createColourCmd({ ...SPEC, envFile: 'app.env' })],
      ['env file climbing', () => sw.createColourCmd({ ...SPEC, envFile: '/srv/../etc/shadow' })],
      ['sha not hex', () => sw.createColourCmd({ ...SPEC, sha: 'main; rm -rf /' })],
      ['replicas', () => sw.createColourCmd({ ...SPEC, replicas: 1.5 })],
      ['service as an option', () => sw.scaleCmd('--all', 0)],
      ['rm by a hostile id', () => sw.removeServiceCmd('x y')],
      ['root with a newline', () => sw.swarmInspectCmd('e', '/srv/e\n/etc')],
      ['IP with shell', () => sw.probeEachCmd({ ...PROBE, ips: ['10.0.0.1;id'] })],
      ['path with a space', () => sw.probeEachCmd({ ...PROBE, path: '/health x' })],
      ['label value on two lines', () => sw.checkLabelValue('a\nb')],
      ['label key', () => sw.checkLabelKey('a=b')],
      ['id', () => sw.checkId('ABC DEF')],
    ];
    for (const [what, f] of bad)
      assert.throws(f, (e: unknown) => e instanceof DeployError && e.kind === 'config', what);
    assert.equal(sw.checkLabelValue('Jane Doe <jane@x> & co'), 'Jane Doe <jane@x> & co');
  });
});

const PROBE: sw.ProbeEachSpec = {
  tools: 'e_tools',
  ips: ['10.0.1.5'],
  port: 8080,
  path: '/health',
  timeoutMs: 2000,
  consecutive: 1,
  probes: 1,
  intervalMs: 100,
};

describe('parsers', () => {
  test('SWARM_INSPECT → StackFacts: live colour, warm target, absent services', () => {
    const out = [
      'svc e_caddy 1/1 caddy:2.8',
      'svc e_gate-blue 1/1 caddy:2.8',
      'svc e_gate-green 1/1 caddy:2.8',
      'svc e_tools 1/1 busybox:1.36',
      'svc e_db 1/1 postgis/postgis:16-3.4@sha256:' + 'f'.repeat(64),
      'svc e_app-blue 3/3 app:v2',
      'svc e_app-green 0/0 app:v1',
      `ver e_app-blue ${SHA}`,
      'ver e_app-green ' + 'c'.repeat(40),
      'blue.flag=on',
      'green.flag=off',
    ].join('\n');
    const f = sw.parseSwarmInspect(out, 'e');
    assert.deepEqual(f.blue, { flag: true, gate: 'running', app: 'running', image: 'app:v2' });
    assert.deepEqual(f.green, { flag: false, gate: 'running', app: 'exited', image: 'app:v1' });
    assert.equal(f.dbImage, 'postgis/postgis:16-3.4');
    assert.equal(f.keeper, 'absent');
    assert.equal(f.tools, 'running');
    assert.deepEqual(f.replicas.blue, { running: 3, desired: 3 });
    assert.equal(f.versions.blue, SHA);
    assert.equal(liveColour(f), 'blue');

    const first = sw.parseSwarmInspect('blue.flag=off\ngreen.flag=off\n', 'e');
    assert.equal(first.blue.app, 'absent');
    assert.equal(first.caddy, 'absent');
    assert.equal(liveColour(first), undefined);

    const looping = sw.parseSwarmInspect('svc e_app-green 0/2 (max 1 per node) app:v3\ngreen.flag=on', 'e');
    assert.equal(looping.green.app, 'restarting');
    assert.equal(looping.green.image, 'app:v3');
    assert.equal(liveColour(looping), undefined);
  });

  test('replicas of the stack, and the manager’s clock', () => {
    const r = sw.parseReplicas('e_caddy 1/1\ne_app-blue 0/2 (max 1 per node)\nnoise\n');
    assert.deepEqual(r.get('e_caddy'), { running: 1, desired: 1 });
    assert.deepEqual(r.get('e_app-blue'), { running: 0, desired: 2 });
    assert.equal(r.size, 2);
    assert.equal(sw.parseNow('x\nnow=1765000000\n'), 1765000000);
    assert.equal(sw.parseNow(''), undefined);
  });

  test('PROBE_EACH → one probe result per address', () => {
    const out = [
      '=== 10.0.1.5',
      'passes=2 probes=2',
      '  HTTP/1.1 200 OK',
      '  Content-Type: application/json',
      '{"status":"healthy"}',
      '',
      'rc=0',
      '=== 10.0.1.6',
      'passes=0 probes=10',
      'wget: can not connect to remote host (10.0.1.6): Connection refused',
      '',
      'rc=1',
    ].join('\n');
    const r = sw.parseProbeEach(out);
    assert.deepEqual([...r.keys()], ['10.0.1.5', '10.0.1.6']);
    assert.equal(r.get('10.0.1.5')!.code, 200);
    assert.equal(r.get('10.0.1.5')!.passes, 2);
    assert.equal(r.get('10.0.1.6')!.code, 0);
    assert.match(r.get('10.0.1.6')!.error ?? '', /Connection refused/);
    assert.equal(sw.parseProbeEach('tools=absent\n').size, 0);
  });
});

/** a directory on PATH with fake programs: name → sh script body */
function fakeBin(progs: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-bin-'));
  for (const [name, body] of Object.entries(progs)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

/** sh -c TEXT togather-deploy ARGS… as script() sends it; `zero` replaces togather-deploy as $0 (docker exec … sh -c) */
function runScript(bin: string, text: string, ...args: string[]) {
  return runAs(bin, text, 'togather-deploy', ...args);
}

function runAs(bin: string, text: string, zero: string, ...args: string[]) {
  return spawnSync('sh', ['-c', text, zero, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    timeout: 20_000,
  });
}

describe('the scripts, run by sh against fakes', () => {
  test('PROBE_EACH_INNER probes every address and prints the answers in order', () => {
    // wget answers 200 for .5 and refuses .6; the fake prints what PROBE_LOOP's busybox wget -S would
    const bin = fakeBin({
      wget: `for a; do u=$a; done
case "$u" in *10.0.1.5:8080/health) printf '  HTTP/1.1 200 OK\\n{"status":"healthy"}\\n'; exit 0;;
*) echo "wget: can not connect to remote host: Connection refused" >&2; exit 1;; esac`,
      timeout: 'shift; exec "$@"',
    });
    const { PROBE_LOOP } = sw as unknown as { PROBE_LOOP?: string };
    assert.equal(PROBE_LOOP, undefined); // PROBE_LOOP is release/health.ts's, reused, not copied
    const loop = /sh -c '([^']*)' '([^']*)' "\$@"/.exec(sw.PROBE_EACH);
    assert.ok(loop, 'PROBE_EACH passes both scripts');
    const r = runAs(bin, sw.PROBE_EACH_INNER, loop[2]!, '1', '8080', '/health', '2', '3', '0', '10.0.1.5', '10.0.1.6');
    assert.equal(r.status, 0, r.stderr);
    const res = sw.parseProbeEach(r.stdout);
    assert.deepEqual([...res.keys()], ['10.0.1.5', '10.0.1.6']);
    assert.equal(res.get('10.0.1.5')!.passes, 2);
    assert.equal(res.get('10.0.1.6')!.passes, 0);
    assert.equal(res.get('10.0.1.6')!.probes, 3);
  });

  const TASKS = [
    'task|t1|n1|Running|running||1765000000|e_togather=10.0.1.5/24 ingress=10.0.0.9/24 |""',
    'task|t2|n2|Running|running||1765000000|e_togather=10.0.1.6/24 |""',
  ].join('\n');
  const docker = (tasks: string) => `
case "$1 $2" in
  "service ps") echo t1; echo t2;;
  "service scale") echo "$4" >> "$STATE/scaled";;
  "inspect --type") cat "$STATE/tasks";;
  "node ls") printf 'node|n1|Ready|Active\\nnode|n2|Down|Active\\n';;
esac
${tasks}`;

  test('SWARM_TASKS lists tasks and nodes; an absent service says so', () => {
    const state = mkdtempSync(join(tmpdir(), 'swarm-state-'));
    writeFileSync(join(state, 'tasks'), TASKS + '\n');
    process.env.STATE = state;
    const r = runScript(fakeBin({ docker: docker('') }), sw.SWARM_TASKS, 'e_app-blue');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^service=present$/m);
    assert.match(r.stdout, /^task\|t2\|n2\|/m);
    assert.match(r.stdout, /^node\|n2\|Down\|Active$/m);
    assert.match(r.stdout, /^now=\d+$/m);
    const gone = runScript(fakeBin({ docker: 'exit 1' }), sw.SWARM_TASKS, 'e_app-blue');
    assert.match(gone.stdout, /^service=absent$/m);
  });

  test('SCALE_DOWN scales to 0 and does not wait for a task left on a Down node', () => {
    const state = mkdtempSync(join(tmpdir(), 'swarm-state-'));
    // t1 has stopped on the Ready node; t2 still "runs" on the Down one
    writeFileSync(
      join(state, 'tasks'),
      'task|t1|n1|Shutdown|shutdown|0|1765000000||""\ntask|t2|n2|Shutdown|running||1765000000||""\n',
    );
    process.env.STATE = state;
    const t0 = Date.now();
    const r = runScript(fakeBin({ docker: docker('') }), sw.SCALE_DOWN, 'e_app-blue', '20');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000, 'returned at once');
    assert.match(r.stdout, /^task\|t2\|n2\|Shutdown\|running/m);
    assert.equal(spawnSync('cat', [join(state, 'scaled')], { encoding: 'utf8' }).stdout.trim(), 'e_app-blue=0');

    // a task still running on a Ready node is waited for, until the time is up
    writeFileSync(join(state, 'tasks'), 'task|t1|n1|Shutdown|running||1765000000||""\n');
    const t1 = Date.now();
    const w = runScript(fakeBin({ docker: docker('') }), sw.SCALE_DOWN, 'e_app-blue', '2');
    assert.equal(w.status, 0, w.stderr);
    assert.ok(Date.now() - t1 >= 1000, 'waited'); // until date +%s has passed start + 2
    assert.match(w.stdout, /^task\|t1\|n1\|Shutdown\|running/m);

    const failed = runScript(fakeBin({ docker: 'exit 1' }), sw.SCALE_DOWN, 'e_app-blue', '1');
    assert.equal(failed.status, 2);
  });

  test('SWARM_LOCK_CREATE: ours (id=), held (exit 4 with the holder and the manager’s clock), or a failure (exit 3)', () => {
    const ID = 'abcdefghijklmnopqrstuvwxy';
    // the fake swarm: creating succeeds unless $STATE/held exists; inspect answers only then
    const docker = `case "$1 $2" in
  "service create") [ -f "$STATE/held" ] && { echo "Error response from daemon: rpc error: name conflicts with an existing object" >&2; exit 1; }
    [ -f "$STATE/broken" ] && { echo "Error response from daemon: This node is not a swarm manager." >&2; exit 1; }
    printf '%s\\n' "$@" > "$STATE/argv"; echo ${ID};;
  "service inspect") [ -f "$STATE/held" ] || exit 1; echo "${ID} 1765000000 {\\"org.togather.lock.id\\":\\"01X\\"}";;
esac`;
    const state = mkdtempSync(join(tmpdir(), 'swarm-state-'));
    process.env.STATE = state;
    const bin = fakeBin({ docker });
    const cmd = sw.lockCreateCmd('e-deploy-lock', 'busybox:1.36', { 'org.togather.lock.by': 'Jane Doe' });
    const ok = runScript(bin, cmd.argv[2]!, ...cmd.argv.slice(4));
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `id=${ID}\n`);
    assert.deepEqual(readFileSync(join(state, 'argv'), 'utf8').trim().split('\n'), [
      'service',
      'create',
      '--detach',
      '--quiet',
      '--name',
      'e-deploy-lock',
      '--replicas',
      '0',
      '--no-resolve-image',
      '--label',
      'org.togather.lock.by=Jane Doe',
      'busybox:1.36',
    ]);
    writeFileSync(join(state, 'held'), '');
    const held = runScript(bin, cmd.argv[2]!, ...cmd.argv.slice(4));
    assert.equal(held.status, 4);
    assert.match(held.stdout, new RegExp(`^held=${ID} 1765000000 \\{"org.togather.lock.id":"01X"\\}$`, 'm'));
    assert.match(held.stdout, /^now=\d+$/m);
    rmSync(join(state, 'held'));
    writeFileSync(join(state, 'broken'), '');
    const broken = runScript(bin, cmd.argv[2]!, ...cmd.argv.slice(4));
    assert.equal(broken.status, 3);
    assert.match(broken.stderr, /not a swarm manager/);
  });

  test('SWARM_LOCK_REMOVE_HELD removes by ID only the lock with the given lock id', () => {
    const ID = 'abcdefghijklmnopqrstuvwxy';
    const docker = `case "$1 $2" in
  "service inspect") echo "${ID} 01X";;
  "service rm") echo "$3" > "$STATE/removed";;
esac`;
    const state = mkdtempSync(join(tmpdir(), 'swarm-state-'));
    process.env.STATE = state;
    const bin = fakeBin({ docker });
    assert.equal(runScript(bin, sw.SWARM_LOCK_REMOVE_HELD, 'e-deploy-lock', '01OTHER').status, 5);
    assert.ok(!existsSync(join(state, 'removed')));
    assert.equal(runScript(bin, sw.SWARM_LOCK_REMOVE_HELD, 'e-deploy-lock', '01X').status, 0);
    assert.equal(readFileSync(join(state, 'removed'), 'utf8').trim(), ID);
  });

  test('SWARM_PREFLIGHT: one line per fact, a node per line, df from the nearest existing parent', () => {
    const docker = `case "$1 $2" in
  "version -f") echo "26.1.5 26.1.5";;
  "info -f") echo "active true n1";;
  "node ls") echo n1; echo n2;;
  "node inspect") shift 4; for n; do echo "node=$n|ready|active|10.0.0.1|worker|tgs|{}"; done;;
  "network inspect") exit 1;;
esac`;
    const root = mkdtempSync(join(tmpdir(), 'swarm-root-'));
    const r = runScript(fakeBin({ docker }), sw.SWARM_PREFLIGHT, 'e_togather', `${root}/not/yet`);
    assert.equal(r.status, 0, r.stderr);
    const f = parseSwarmPreflight(r.stdout);
    assert.equal(f.serverVersion, '26.1.5');
    assert.equal(f.nodeId, 'n1');
    assert.deepEqual(
      f.nodes.map((n) => n.id),
      ['n1', 'n2'],
    );
    assert.equal(f.network, undefined);
    assert.ok(f.freeMb !== undefined && f.freeMb > 0);
    assert.equal(f.root, '', 'the root does not exist yet');
  });

  test('SWARM_INSPECT: services, versions and flags, parsed into StackFacts', () => {
    const docker = `case "$1 $2" in
  "service ls") echo "svc e_app-blue 2/2 app:v2"; echo "svc e_caddy 1/1 caddy:2.8";;
  "service inspect") echo "ver e_app-blue ${SHA}"; exit 1;;
esac`;
    const root = mkdtempSync(join(tmpdir(), 'swarm-root-'));
    mkdirSync(join(root, 'gates/blue'), { recursive: true });
    writeFileSync(join(root, 'gates/blue/ready'), '');
    const r = runScript(fakeBin({ docker }), sw.SWARM_INSPECT, 'e', root);
    assert.equal(r.status, 0, r.stderr);
    const f = sw.parseSwarmInspect(r.stdout, 'e');
    assert.deepEqual(f.blue, { flag: true, gate: 'absent', app: 'running', image: 'app:v2' });
    assert.equal(f.green.flag, false);
    assert.equal(f.versions.blue, SHA);
    assert.equal(f.caddy, 'running');
  });
});
